"""The message catalogs stay honest: every message the code uses is translated in every shipped
language, placeholders survive translation, platform locales map to the right catalog, plurals
work, and what a person actually sees in Slack is entirely in their language."""

import html
import re
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bots.slack import blocks
from core import catalogs, prompt_text, score_text
from core.answers import PromptState, TapResult
from core.config import parse_company
from core.departments import Company, Department
from core.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, Translator, negotiate, translator
from core.periods import window
from core.scores import DepartmentScore, Tally

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
PROVIDER = "slack:U0PROV0001"

# Finance uses the built-in reasons (translated through the catalogs); IT brings its own
# reasons, which are names from the configuration and stay as they are written.
COMPANY: dict[str, Any] = {
    "departments": [
        {
            "key": "finance",
            "name": "Finance",
            "timezone": "Europe/Berlin",
            "services": [
                {"key": "expense-reimbursement", "name": "Expense reimbursement"},
                {"key": "supplier-payment", "name": "Supplier payment"},
            ],
        },
        {
            "key": "it",
            "name": "IT Helpdesk",
            "timezone": "America/New_York",
            "services": [{"key": "laptop", "name": "Laptop setup"}],
            "reasons": ["Response time", "Friendly staff"],
        },
        {"key": "legal", "name": "Legal"},
    ],
}

# What a person typed, echoed back in an answer: theirs, not ours to translate.
TYPED_DEPARTMENT = "Marketingg"
TYPED_PERIOD = "fortnight"

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
MENTION = re.compile(r"<@[A-Z0-9]+>")


# --- catalogs against the code ---------------------------------------------------------------


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_matches_the_code(locale: str) -> None:
    report = catalogs.check(locale)
    assert report.missing == [], (
        f"{locale}: used in code but not in the catalog (run `icx catalogs update`)"
    )
    assert report.stale == [], (
        f"{locale}: in the catalog but no longer used (run `icx catalogs update`)"
    )
    assert report.untranslated == [], f"{locale}: messages without a translation"
    assert report.ok


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_translations_keep_every_placeholder(locale: str) -> None:
    wrong: list[str] = []
    for message in catalogs.load(locale):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        strings = (message.string,) if isinstance(message.string, str) else tuple(message.string)
        expected = set().union(*(_fields(i) for i in ids))
        for translated in strings:
            try:
                found = _fields(translated)
            except ValueError as error:
                wrong.append(f"{ids[0]!r}: {translated!r} is not a valid format string ({error})")
                continue
            if found != expected:
                wrong.append(
                    f"{ids[0]!r}: {translated!r} has {sorted(found)}, not {sorted(expected)}"
                )
    assert wrong == [], "\n".join(wrong)


def test_chinese_catalog_has_one_plural_form() -> None:
    catalog = catalogs.load("zh_Hans")
    assert catalog.num_plurals == 1
    for message in catalog:
        if message.id and not isinstance(message.id, str):
            assert len(message.string) == 1, message.id


# --- choosing a language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("zh-CN", "zh_Hans"),
        ("zh_CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh_Hans", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("en", "en"),
        ("fr-FR", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_negotiate_maps_platform_locales(reported: str | None, expected: str) -> None:
    assert negotiate(reported) == expected


def test_negotiate_takes_the_first_supported_candidate() -> None:
    assert negotiate("fr-FR", "zh-CN", "en-US") == "zh_Hans"
    assert negotiate(None, "", "de-DE", "en-GB", "zh-CN") == "en"
    assert negotiate("zh-Hans", "en-US") == "zh_Hans"
    assert negotiate() == DEFAULT_LOCALE
    assert negotiate("fr-FR", "de-DE") == DEFAULT_LOCALE


def test_translator_falls_back_to_english_for_unshipped_locales() -> None:
    assert translator("fr-FR").locale == "en"
    assert translator("zh-CN").locale == "zh_Hans"


# --- plurals ---------------------------------------------------------------------------------


def test_english_plurals() -> None:
    t = translator("en")
    assert score_text.period_name(window("1d", NOW, ZONE), t) == "the last 1 day"
    assert score_text.period_name(window("30d", NOW, ZONE), t) == "the last 30 days"
    assert score_text.previous_name(window("1d", NOW, ZONE), t) == "the 1 day before"
    assert score_text.previous_name(window("7d", NOW, ZONE), t) == "the 7 days before"
    one = t.ngettext(
        "{n} response, {more} more needed", "{n} responses, {more} more needed", 1, more="4"
    )
    many = t.ngettext(
        "{n} response, {more} more needed", "{n} responses, {more} more needed", 3, more="2"
    )
    assert (one, many) == ("1 response, 4 more needed", "3 responses, 2 more needed")


@pytest.mark.parametrize("days", [1, 2, 30, 365])
def test_chinese_plurals(days: int) -> None:
    t = translator("zh_Hans")
    win = window(f"{days}d", NOW, ZONE)
    for text in (score_text.period_name(win, t), score_text.previous_name(win, t)):
        assert str(days) in text
        assert CJK.search(text), text
        assert not LATIN_WORD.search(text), text


def test_plural_counts_are_formatted_for_the_locale() -> None:
    singular, plural = "{n} response, {more} more needed", "{n} responses, {more} more needed"
    assert translator("en").ngettext(singular, plural, 1234, more="5") == (
        "1,234 responses, 5 more needed"
    )
    chinese = translator("zh_Hans").ngettext(singular, plural, 1, more="4")
    assert "1" in chinese and "4" in chinese and CJK.search(chinese), chinese


# --- what people see -------------------------------------------------------------------------


def _company() -> Company:
    return parse_company(COMPANY)


def _department(company: Company, key: str) -> Department:
    return next(d for d in company.departments if d.key == key)


def proper_names(company: Company) -> list[str]:
    """Names that legitimately stay as written in any language."""
    names = ["/icx-score", "icx", TYPED_DEPARTMENT, TYPED_PERIOD]
    for department in company.departments:
        names += [department.name, *department.aliases]
        names += [s.name for s in department.services]
        names += [r.name for r in department.reasons if not r.builtin]
    return names


def block_texts(value: object) -> Iterator[str]:
    """Every human-readable string in Block Kit: the `text` of text objects, wherever they sit
    (sections, context, buttons, options, placeholders, modal title/submit/close/label/hint)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from block_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from block_texts(item)


def _state(department: Department, locale: str, **fields: Any) -> PromptState:
    service = department.services[0] if department.services else None
    return PromptState(
        prompt_id="01PROMPT",
        department=department,
        service=service,
        locale=locale,
        expires_at=NOW + timedelta(days=7),
        snooze_days=30,
        **fields,
    )


def prompt_screens(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """Every prompt stage through the real Slack renderer, as (where, text)."""
    locale = t.locale
    for department in company.departments:
        service = department.services[0] if department.services else None
        for provider in (PROVIDER, None):
            for svc in (service, None):
                rendered = blocks.satisfaction_blocks("01PROMPT", department, svc, provider, 30, t)
                for text in block_texts(rendered):
                    yield f"satisfaction_blocks({department.key})", text
        for satisfaction in range(1, 6):
            state = _state(department, locale, satisfaction=satisfaction)
            for text in block_texts(blocks.effort_blocks(state, t)):
                yield f"effort_blocks({department.key}, {satisfaction})", text
        for effort in range(1, 8):
            state = _state(
                department,
                locale,
                satisfaction=effort % 5 + 1,
                effort=effort,
                reasons=(department.effective_reasons[0].key,),
                comment="Quick and friendly." if effort % 2 else None,
            )
            for text in block_texts(blocks.thanks_blocks(state, t)):
                yield f"thanks_blocks({department.key}, {effort})", text
            # The fallback text of a redrawn message.
            yield "thank_you", prompt_text.thank_you(state, t)
        answered = _state(
            department,
            locale,
            satisfaction=2,
            effort=3,
            comment="The form was confusing.",
            external_customer=True,
            contact_consent=True,
        )
        for state in (answered, _state(department, locale, satisfaction=5, effort=7)):
            modal = blocks.comment_modal(state, "D0CHANNEL1", "1763630000.000100", t)
            for text in block_texts(modal):
                yield f"comment_modal({department.key})", text
        snoozed = NOW + timedelta(days=30)
        for fields in ({}, {"satisfaction": 4}, {"satisfaction": 4, "effort": 6}):
            state = _state(department, locale, snoozed_until=snoozed, **fields)
            for text in block_texts(blocks.blocks_for(state, t)):
                yield f"blocks_for(snoozed, {sorted(fields)})", text
            yield f"blocks_for(snoozed, {sorted(fields)}) text", blocks.fallback_text(state, t)
        for stage in ("csat", "ces"):
            state = _state(department, locale, satisfaction=3, effort=5)
            for text in block_texts(blocks.blocks_for(state, t, stage)):
                yield f"blocks_for(changing {stage})", text
        # The fallback text of a delivered prompt.
        yield "satisfaction_question", prompt_text.satisfaction_question(department, service, t)
    for result in TapResult:
        if result is not TapResult.RECORDED:
            yield f"refusal({result.value})", prompt_text.refusal(result, t)


def _scores(company: Company, spec: str) -> list[DepartmentScore]:
    win = window(spec, NOW, ZONE)
    finance = _department(company, "finance")
    it = _department(company, "it")
    legal = _department(company, "legal")
    risen = Tally(
        responses=40,
        satisfied=36,
        effort_n=30,
        effort_sum=180,
        effort_squares=1130,
        easy=26,
        delivered=50,
        answered=40,
    )
    fallen = Tally(
        responses=40,
        satisfied=10,
        effort_n=8,
        effort_sum=24,
        effort_squares=90,
        easy=2,
        delivered=45,
        answered=40,
    )
    return [
        DepartmentScore(finance, win, risen, Tally(responses=40, satisfied=20), minimum=5),
        DepartmentScore(it, win, fallen, Tally(responses=40, satisfied=30), minimum=5),
        # Within noise, and too few effort answers to show.
        DepartmentScore(
            legal,
            win,
            Tally(responses=20, satisfied=15, effort_n=3, delivered=30, answered=20),
            Tally(responses=20, satisfied=14),
            minimum=5,
        ),
        # Shown now, but too few responses in the previous period to compare.
        DepartmentScore(
            finance, win, Tally(responses=8, satisfied=6, delivered=9, answered=8), Tally(), 5
        ),
        # Gated: not enough responses, and nobody asked.
        DepartmentScore(it, win, Tally(responses=1), Tally(responses=12, satisfied=9), 5),
        DepartmentScore(legal, win, Tally(responses=3, delivered=4, answered=3), Tally(), 5),
    ]


def score_screens(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """Every score answer, through the real Slack renderer, as (where, text)."""
    answers: list[tuple[str, score_text.ScoreText]] = []
    for spec in ("30d", "1d", "quarter"):
        scores = _scores(company, spec)
        for index, score in enumerate(scores):
            answers.append((f"describe({spec}, {index})", score_text.describe(score, t)))
        answers.append((f"overview({spec})", score_text.overview(scores, scores[0].window, t)))
    departments = list(company.departments)
    answers.append(("help_text", score_text.help_text(departments, t)))
    suggestions = [_department(company, "finance"), _department(company, "legal")]
    for found in (suggestions, []):
        line = score_text.unknown_department(TYPED_DEPARTMENT, found, t)
        answers.append(("unknown_department", score_text.ScoreText(TYPED_DEPARTMENT, [line])))
    line = score_text.unknown_period(TYPED_PERIOD, t)
    answers.append(("unknown_period", score_text.ScoreText(TYPED_PERIOD, [line])))
    for where, answer in answers:
        yield f"{where} title", answer.title  # the fallback text of the Slack answer
        for text in block_texts(blocks.score_blocks(answer)):
            yield where, text


def screens(locale: str) -> list[tuple[str, str]]:
    company = _company()
    t = translator(locale)
    assert t.locale == locale
    return [*prompt_screens(company, t), *score_screens(company, t)]


def english_words(text: str, names: list[str]) -> list[str]:
    """Latin words of two or more letters left once proper names and mentions are removed."""
    text = MENTION.sub(" ", html.unescape(text))  # Slack mrkdwn escapes &, < and >
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", " ", text)
    return LATIN_WORD.findall(text)


def leaks() -> list[str]:
    names = proper_names(_company())
    found = []
    for where, text in screens("zh_Hans"):
        words = english_words(text, names)
        if words:
            found.append(f"{where}: {words} in {text!r}")
    return found


def test_every_screen_is_rendered() -> None:
    for locale in SUPPORTED_LOCALES:
        rendered = screens(locale)
        kinds = {where.split("(")[0].split(" ")[0] for where, _ in rendered}
        assert {
            "satisfaction_blocks",
            "effort_blocks",
            "thanks_blocks",
            "comment_modal",
            "blocks_for",
            "refusal",
            "describe",
            "overview",
            "help_text",
            "unknown_department",
            "unknown_period",
        } <= kinds
        empty = [where for where, text in rendered if not text.strip()]
        assert empty == [], f"{locale}: empty texts in {empty}"


def test_chinese_screens_have_no_english() -> None:
    found = leaks()
    assert found == [], (
        "English in zh_Hans output: translate it in the catalog (or, if the code hard-codes it, "
        "route it through a catalog):\n" + "\n".join(found)
    )


def test_english_screens_have_no_chinese() -> None:
    found = [f"{where}: {text!r}" for where, text in screens("en") if CJK.search(text)]
    assert found == [], "CJK characters in en output:\n" + "\n".join(found)


def test_scales_read_naturally_in_chinese() -> None:
    t = translator("zh_Hans")
    csat = [option.label for option in prompt_text.satisfaction_options(t)]
    ces = [option.label for option in prompt_text.effort_options(t)]
    assert csat[0].endswith("非常不满意") and csat[-1].endswith("非常满意"), csat
    assert ces[0].endswith("非常不同意") and ces[-1].endswith("非常同意"), ces
    assert len(set(csat)) == 5 and len(set(ces)) == 7
    department = _department(_company(), "finance")
    service = department.services[0]
    question = prompt_text.satisfaction_question(department, service, t)
    assert "Finance" in question and "Expense reimbursement" in question and "满意" in question
    assert question.endswith("？")
    statement = prompt_text.effort_statement(department, t)
    assert "Finance" in statement and statement.endswith("。")
