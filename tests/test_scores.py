"""Department scores from a fixed data set in a real database, checked against hand-computed
values: top-2-box, Wilson interval, mean effort and % easy, response rate, n-gating and the
period-over-period test."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core import score_command, score_text
from core.context import Icx
from core.departments import Company
from core.i18n import translator
from core.identity import Keyer
from core.scores import department_scores
from storage.aggregates import count_contributions
from storage.db import Database
from storage.models import Interaction, Prompt, Response

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_references = itertools.count(1)


async def add_answers(
    db: Database,
    department: str,
    answers: list[tuple[int, int | None]],
    *,
    days_ago: float,
    unanswered: int = 0,
) -> None:
    """Prompts sent `days_ago`; one response per (satisfaction, effort), plus unanswered ones,
    written directly and then counted into the daily sums as the tap path would have."""
    at = NOW - timedelta(days=days_ago)
    prompt_ids: list[str] = []
    async with db.transaction() as session:
        for index in range(len(answers) + unanswered):
            interaction = Interaction(
                department=department,
                source="test",
                reference=str(next(_references)),
                requester_key=uuid.uuid4().hex,
                occurred_at=at,
                created_at=at,
            )
            session.add(interaction)
            await session.flush()
            assert interaction.id is not None
            answered = index < len(answers)
            prompt = Prompt(
                id=uuid.uuid4().hex,
                interaction_id=interaction.id,
                department=department,
                platform="slack",
                recipient_key=interaction.requester_key,
                status="answered" if answered else "sent",
                created_at=at,
                sent_at=at,
                answered_at=at if answered else None,
                expires_at=at + timedelta(days=7),
            )
            session.add(prompt)
            prompt_ids.append(prompt.id)
            if answered:
                satisfaction, effort = answers[index]
                session.add(
                    Response(
                        prompt_id=prompt.id,
                        department=department,
                        respondent_key=prompt.recipient_key or "",
                        satisfaction=satisfaction,
                        effort=effort,
                        answered_at=at,
                        updated_at=at,
                    )
                )
        await count_contributions(session, prompt_ids)


CURRENT = [(5, 7), (5, 6), (4, 6), (4, 5), (4, 5), (3, 4), (2, 3), (5, None), (4, None), (1, 2)]
PREVIOUS = [(5, 6), (4, 5), (4, 5), (3, 4), (3, 4), (2, 3), (2, 2), (1, 1), (2, 3), (3, 4)]


def _icx(db: Database, company: Company) -> Icx:
    return Icx(company, db, Keyer("scores-need-no-real-secret"), clock=lambda: NOW)


async def test_finance_numbers_by_hand(db: Database, company: Company) -> None:
    await add_answers(db, "finance", CURRENT, days_ago=3, unanswered=6)
    await add_answers(db, "finance", PREVIOUS, days_ago=40, unanswered=2)
    await add_answers(db, "finance", [(5, 7)] * 4, days_ago=75)  # outside both windows
    finance = company.department("finance")
    assert finance is not None
    async with db.session() as session:
        (score,) = await department_scores(session, company, [finance], "30d", NOW)

    # 7 of 10 answered 4 or 5. Wilson: centre 0.6445, half 0.2477.
    satisfied = score.satisfied
    assert satisfied is not None and (satisfied.hits, satisfied.n) == (7, 10)
    assert satisfied.low == pytest.approx(0.3968, abs=1e-4)
    assert satisfied.high == pytest.approx(0.8922, abs=1e-4)
    # Efforts 7,6,6,5,5,4,3,2: mean 4.75, s² = 19.5 / 7, half = 2.3646 · sqrt(19.5/56) = 1.3954.
    effort = score.effort
    assert effort is not None and effort.n == 8
    assert effort.mean == pytest.approx(4.75)
    assert effort.low == pytest.approx(3.3546, abs=1e-4)
    assert effort.high == pytest.approx(6.1454, abs=1e-4)
    easy = score.easy
    assert easy is not None and (easy.hits, easy.n) == (5, 8)
    # 16 delivered in the window, 10 answered.
    assert score.response_rate == pytest.approx(10 / 16)
    # 7/10 against 3/10: p = 0.0736, within noise.
    change = score.change
    assert change is not None
    assert change.delta == pytest.approx(0.4)
    assert change.p_value == pytest.approx(0.0736, abs=1e-4)
    assert not change.meaningful

    text = score_text.describe(score, translator("en"))
    assert text.title == "Finance — the last 30 days"
    assert text.lines == [
        "Satisfied: 70% (95% interval 40%–89%), n = 10.",
        "Effort: 4.8 of 7 (95% interval 3.4–6.1); 62% found it easy, n = 8.",
        "Response rate: 62% (10 of 16 asked).",
        "Change against the 30 days before: +40 points, within noise (p = 0.07).",
    ]


async def test_a_meaningful_change_is_called_one(db: Database, company: Company) -> None:
    await add_answers(db, "it", [(5, 6)] * 30 + [(2, 3)] * 10, days_ago=2)
    await add_answers(db, "it", [(5, 6)] * 20 + [(2, 3)] * 20, days_ago=10)
    async with db.session() as session:
        (score,) = await department_scores(session, company, [company.departments[1]], "7d", NOW)
    change = score.change
    assert change is not None and change.meaningful
    assert change.p_value == pytest.approx(0.0209, abs=1e-4)
    assert (
        "a meaningful change (p = 0.021)" in score_text.describe(score, translator("en")).lines[-1]
    )


async def test_below_the_minimum_no_number_is_shown(db: Database, company: Company) -> None:
    await add_answers(db, "legal", [(1, 1), (5, 7), (4, 6)], days_ago=1, unanswered=1)
    legal = company.department("legal")
    assert legal is not None
    async with db.session() as session:
        (score,) = await department_scores(session, company, [legal], "30d", NOW)
    assert not score.shown and score.needed == 2
    assert score.satisfied is None and score.effort is None and score.easy is None
    assert score.change is None
    text = score_text.describe(score, translator("en"))
    joined = " ".join(text.lines)
    assert text.lines == ["Not enough responses to show numbers yet: 3 so far, 2 more needed."]
    assert "Satisfied" not in joined and "Response rate" not in joined


async def test_effort_is_gated_on_its_own_n(db: Database, company: Company) -> None:
    await add_answers(db, "legal", [(5, 7), (5, None), (4, None), (4, None), (5, 6)], days_ago=1)
    async with db.session() as session:
        (score,) = await department_scores(session, company, [company.departments[2]], "30d", NOW)
    assert score.shown and score.effort is None
    assert (
        "Effort: not enough answers to show yet (2 so far)."
        in score_text.describe(score, translator("en")).lines
    )


async def test_score_command_matches_names_and_lists_all_alphabetically(
    db: Database, company: Company
) -> None:
    await add_answers(db, "finance", CURRENT, days_ago=3)
    await add_answers(db, "it", [(4, 5)] * 6, days_ago=3)
    icx = _icx(db, company)
    t = translator("en")
    by_alias = await score_command.answer(icx, "ACCOUNTING", t)
    by_name = await score_command.answer(icx, "finance 30d", t)
    assert by_alias == by_name and by_alias.title == "Finance — the last 30 days"
    assert (await score_command.answer(icx, "helpdesk 7d", t)).title == "IT — the last 7 days"

    overview = await score_command.answer(icx, "", t)
    assert [line.split(":")[0] for line in overview.lines] == ["Finance", "IT", "Legal"]
    assert overview.lines[2] == "Legal: 0 responses, 5 more needed"
    assert "not ranked" in overview.footnote

    unknown = await score_command.answer(icx, "fnance", t)
    assert unknown.lines == ["There is no department called “fnance”. Did you mean: Finance?"]
    bad_period = await score_command.answer(icx, "finance 12x", t)
    assert "“12x” is not a period I know" in bad_period.lines[0]
    help_text = await score_command.answer(icx, "help", t)
    assert "Departments: Finance, IT, and Legal." in help_text.lines


async def test_quarter_compares_with_the_previous_calendar_quarter(
    db: Database, company: Company
) -> None:
    # NOW is 20 Nov: this quarter began 1 Oct (Europe/Berlin), the previous one 1 Jul.
    await add_answers(db, "finance", [(5, 6)] * 5, days_ago=30)  # 21 Oct: this quarter
    await add_answers(db, "finance", [(2, 3)] * 5, days_ago=60)  # 21 Sep: previous quarter
    await add_answers(db, "finance", [(2, 3)] * 5, days_ago=150)  # June: neither
    async with db.session() as session:
        (score,) = await department_scores(
            session, company, [company.departments[0]], "quarter", NOW
        )
    assert score.current.responses == 5 and score.previous.responses == 5
    assert score.window.current.start == datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
