"""Department, service and reason names in the departments YAML may carry translations; a
missing one falls back to the default text, never to an empty string."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bots.slack import blocks
from core import prompt_text, score_text
from core.answers import PromptState
from core.config import ConfigError, parse_company
from core.departments import Company
from core.i18n import translator
from core.lookup import find_department
from core.periods import window
from core.scores import DepartmentScore, Tally

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

DATA: dict[str, Any] = {
    "departments": [
        {
            "key": "finance",
            "name": "Finance",
            "services": [
                {"key": "expense-reimbursement", "name": "Expense reimbursement"},
                {"key": "supplier-payment", "name": "Supplier payment"},
            ],
            "reasons": ["Speed", "Clear communication"],
            "translations": {
                "zh_Hans": {
                    "name": "财务部",
                    "services": {"expense-reimbursement": "费用报销"},
                    "reasons": {"speed": "速度快"},
                }
            },
        },
        {"key": "it", "name": "IT", "translations": {"zh_Hans": {"name": "信息技术部"}}},
        {"key": "legal", "name": "Legal"},
    ]
}


@pytest.fixture
def company() -> Company:
    return parse_company(DATA)


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [v for k, v in value.items() if k == "text" and isinstance(v, str)]
        return own + [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


def test_the_prompt_uses_the_translated_names(company: Company) -> None:
    finance = company.departments[0]
    expense, supplier = finance.services
    zh, en = translator("zh_Hans"), translator("en")
    chinese = " ".join(_texts(blocks.satisfaction_blocks("P1", finance, expense, None, 30, zh)))
    assert "财务部" in chinese and "费用报销" in chinese
    assert "Finance" not in chinese and "Expense" not in chinese
    english = " ".join(_texts(blocks.satisfaction_blocks("P1", finance, expense, None, 30, en)))
    assert "Finance" in english and "Expense reimbursement" in english
    # Not translated: the default name, never an empty string.
    assert "Supplier payment" in prompt_text.satisfaction_question(finance, supplier, zh)


def test_reasons_use_configured_translations_then_defaults(company: Company) -> None:
    finance = company.departments[0]
    speed, clear = finance.effective_reasons
    zh = translator("zh_Hans")
    assert prompt_text.reason_name(finance, speed, zh) == "速度快"
    assert prompt_text.reason_name(finance, clear, zh) == "Clear communication"
    state = PromptState(
        "P1", finance, finance.services[0], "zh_Hans", NOW + timedelta(days=7), 30, 4, 6
    )
    options = blocks.thanks_blocks(state, zh)[2]["accessory"]["options"]
    assert [o["text"]["text"] for o in options] == ["速度快", "Clear communication"]


def test_built_in_reasons_come_from_the_catalog(company: Company) -> None:
    legal = company.departments[2]
    names = [
        prompt_text.reason_name(legal, r, translator("zh_Hans")) for r in legal.effective_reasons
    ]
    assert all(name and not name.isascii() for name in names)


def test_scores_show_translated_names_alphabetically_in_the_language(company: Company) -> None:
    zh = translator("zh_Hans")
    scores = [
        DepartmentScore(d, window("30d", NOW, d.zone), Tally(), Tally(), 5)
        for d in company.departments
    ]
    overview = score_text.overview(scores, scores[0].window, zh)
    names = [line.split("：")[0] for line in overview.lines]
    assert names == sorted(["财务部", "信息技术部", "Legal"], key=str.casefold)
    assert score_text.describe(scores[0], zh).title.startswith("财务部")
    assert score_text.describe(scores[0], translator("en")).title.startswith("Finance")


def test_a_translated_name_finds_the_department(company: Company) -> None:
    assert find_department(company, "财务部").department == company.departments[0]
    assert find_department(company, "信息技术部").department == company.departments[1]


@pytest.mark.parametrize(
    ("translations", "expected"),
    [
        ({"fr": {"name": "Finances"}}, "no catalog for fr"),
        (
            {"zh_Hans": {"services": {"payroll": "工资"}}},
            "translations.zh_Hans.services names unknown key(s) payroll",
        ),
        (
            {"zh_Hans": {"reasons": {"luck": "运气"}}},
            "translations.zh_Hans.reasons names unknown key(s) luck",
        ),
        (
            {"zh_Hans": {"services": {"expense-reimbursement": " "}}},
            "empty translation for expense-reimbursement",
        ),
        ({"zh_Hans": {"name": ""}}, "translations.zh_Hans.name"),
    ],
)
def test_invalid_translations_name_the_field(translations: dict[str, Any], expected: str) -> None:
    data = {
        "departments": [
            {
                "key": "finance",
                "name": "Finance",
                "services": [{"key": "expense-reimbursement", "name": "Expense reimbursement"}],
                "translations": translations,
            }
        ]
    }
    with pytest.raises(ConfigError) as error:
        parse_company(data)
    assert expected in str(error.value)


def test_a_translated_name_cannot_point_to_two_departments() -> None:
    data = {
        "departments": [
            {"key": "finance", "name": "Finance", "translations": {"zh_Hans": {"name": "财务"}}},
            {"key": "fin-ops", "name": "Finance Ops", "aliases": ["财务"]},
        ]
    }
    with pytest.raises(ConfigError) as error:
        parse_company(data)
    assert "the name '财务' is used by both finance and fin-ops" in str(error.value)
