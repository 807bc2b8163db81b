"""Weekly digest numbers from a fixed data set in a real database, every expected value worked
out by hand in the comments: headline and change, response rate, touchpoints by pain,
reasons, segments and line of sight with complementary suppression, comment gating, the
trend across the October DST change and a year boundary; the scheduler's due week with the
clock frozen by time-machine.

Finance is in Europe/Berlin. ISO week 2026-W43 runs from Monday 19 Oct 00:00 CEST
(= Sun 18 Oct 22:00 UTC) to Monday 26 Oct 00:00 CET (= Sun 25 Oct 23:00 UTC): clocks go back
on Sunday 25 Oct at 03:00, so the week is 169 hours long."""

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from core.chart import chart_series, trend_chart
from core.config import parse_company
from core.departments import Company
from core.digest import Cell, DepartmentDigest, department_digest, org_digest, suppressed
from core.i18n import translator
from core.scheduler import ScheduleClock
from core.scores import Tally
from core.stats import mean_interval, wilson
from core.weeks import IsoWeek, WeekError
from storage.aggregates import count_contributions
from storage.db import Database
from storage.models import Interaction, Prompt, Response

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
EXPENSES = "expense-reimbursement"
SUPPLIERS = "supplier-payment"
W41, W42, W43, W44 = (IsoWeek(2026, w) for w in (41, 42, 43, 44))
_references = itertools.count(1)


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    at: datetime  # answered_at (UTC)
    satisfaction: int
    effort: int | None = None
    service: str | None = None
    segment: str = "end-user"
    reasons: tuple[str, ...] = ()
    external: bool = False
    comment: str | None = None
    sent: datetime | None = None  # when the prompt was delivered; 10 minutes before by default


async def insert(
    db: Database, department: str, rows: list[Row], unanswered: tuple[datetime, ...] = ()
) -> None:
    """One interaction and prompt per row (answered) or per unanswered delivery time."""
    async with db.transaction() as session:
        interactions = []
        for row_or_sent in [*rows, *unanswered]:
            at = row_or_sent.at if isinstance(row_or_sent, Row) else row_or_sent
            interaction = Interaction(
                department=department,
                service=row_or_sent.service if isinstance(row_or_sent, Row) else None,
                source="test",
                reference=f"T-{next(_references)}",
                requester_key=uuid.uuid4().hex,
                occurred_at=at - timedelta(hours=1),
                created_at=at - timedelta(hours=1),
            )
            session.add(interaction)
            interactions.append(interaction)
        await session.flush()
        prompts = []
        for interaction, item in zip(interactions, [*rows, *unanswered], strict=True):
            assert interaction.id is not None
            row = item if isinstance(item, Row) else None
            sent = (row.sent or row.at - timedelta(minutes=10)) if row else item
            assert isinstance(sent, datetime)
            prompt = Prompt(
                id=uuid.uuid4().hex,
                interaction_id=interaction.id,
                department=department,
                service=row.service if row else None,
                platform="slack",
                recipient_key=interaction.requester_key,
                segment=row.segment if row else "end-user",
                status="answered" if row else "expired",
                created_at=sent,
                sent_at=sent,
                answered_at=row.at if row else None,
                expires_at=sent + timedelta(days=7),
            )
            session.add(prompt)
            prompts.append((prompt, row))
        await session.flush()
        for prompt, row in prompts:
            if row is None:
                continue
            session.add(
                Response(
                    prompt_id=prompt.id,
                    department=department,
                    service=row.service,
                    segment=row.segment,
                    respondent_key=prompt.recipient_key or "",
                    satisfaction=row.satisfaction,
                    effort=row.effort,
                    reasons=list(row.reasons),
                    comment=row.comment,
                    external_customer=row.external,
                    answered_at=row.at,
                    updated_at=row.at,
                )
            )
        # Written directly: counted into the daily sums as the tap and delivery paths would.
        await count_contributions(session, [prompt.id for prompt, _ in prompts])


# --- the fixed data set -----------------------------------------------------------------------

# 2026-W43, 16 answers. E = expense-reimbursement, S = supplier-payment, N = no service (or a
# service no longer configured, which counts with them). Local times are Berlin.
WEEK_43 = [
    # 1  E  Mon 19 Oct 00:05 CEST = Sun 18 Oct 22:05 UTC: inside (the week starts 22:00 UTC).
    #       Its prompt went out at 23:55 CEST = 21:55 UTC, in W42.
    Row(utc(10, 18, 22, 5), 1, 2, EXPENSES, reasons=("speed", "communication", "outcome"),
        sent=utc(10, 18, 21, 55)),
    # 2  S
    Row(utc(10, 19, 8), 5, 6, SUPPLIERS, "influencer", ("expertise", "speed"), external=True),
    # 3  N
    Row(utc(10, 19, 12), 3, 4, None, reasons=("ease", "speed")),
    # 4  E
    Row(utc(10, 20, 7), 2, 3, EXPENSES, "funder", ("speed", "communication", "outcome"),
        external=True, comment="Reimbursement took three weeks."),
    # 5  E
    Row(utc(10, 20, 9), 5, 7, EXPENSES, reasons=("expertise",)),
    # 6  S
    Row(utc(10, 20, 14), 4, 5, SUPPLIERS, "influencer", ("expertise",)),
    # 7  N
    Row(utc(10, 21, 7, 30), 1, 1, None, "influencer", ("ease", "speed", "outcome"),
        external=True, comment="Nobody answered my emails."),
    # 8  S
    Row(utc(10, 21, 11), 3, None, SUPPLIERS, reasons=("communication",)),
    # 9  E
    Row(utc(10, 22, 8), 3, 4, EXPENSES, reasons=("speed", "communication"), external=True),
    # 10 N  (a service removed from the configuration: counts as no service)
    Row(utc(10, 22, 13), 2, 3, "payroll-legacy", reasons=("ease",),
        comment="Old payroll form still confusing."),
    # 11 S
    Row(utc(10, 23, 7), 5, None, SUPPLIERS, "influencer", ("outcome",), external=True),
    # 12 N
    Row(utc(10, 23, 10), 5, 6, None, reasons=("speed",)),
    # 13 E  ("vibes" is no reason of Finance's: ignored)
    Row(utc(10, 24, 9), 2, 2, EXPENSES, reasons=("speed", "ease", "vibes")),
    # 14 S  Sun 25 Oct 02:30 CET, the repeated hour after the clocks went back = 01:30 UTC.
    Row(utc(10, 25, 1, 30), 4, 6, SUPPLIERS, "funder", comment="Quick and friendly."),
    # 15 E  Sun 25 Oct 12:00 CET
    Row(utc(10, 25, 11), 4, None, EXPENSES, "influencer", comment="Thanks for the quick fix."),
    # 16 N  Sun 25 Oct 23:30 CET = 22:30 UTC: inside only because the week ends at 23:00 UTC.
    Row(utc(10, 25, 22, 30), 4, 5, None, external=True, comment="Supplier paid on time at last."),
]  # fmt: skip

# 2026-W42 (Mon 12 Oct 00:00 CEST = Sun 11 Oct 22:00 UTC to Sun 18 Oct 22:00 UTC): 10 answers.
WEEK_42 = [
    Row(utc(10, 12, 8), 5, 6, EXPENSES, reasons=("speed",), external=True,
        comment="Fast as always."),
    Row(utc(10, 13, 8), 4, 5, EXPENSES, external=True),
    Row(utc(10, 14, 8), 5, 7, EXPENSES, "funder", external=True),
    Row(utc(10, 15, 8), 4, 6, EXPENSES),
    Row(utc(10, 16, 8), 2, 2, EXPENSES, reasons=("speed",), external=True),
    Row(utc(10, 12, 12), 5, 6, SUPPLIERS, external=True),
    Row(utc(10, 14, 12), 4, 5, SUPPLIERS, external=True),
    Row(utc(10, 16, 12), 5, 6, SUPPLIERS),
    Row(utc(10, 17, 12), 4, 5, None, comment="Clear instructions."),
    # Sun 18 Oct 23:59 CEST = 21:59 UTC: the last minute of W42.
    Row(utc(10, 18, 21, 59), 5, None, None, external=True),
]  # fmt: skip

# 2026-W41: 9 answers, enough for numbers, not for comments.
WEEK_41 = [
    Row(utc(10, 7, 8 + i), 4, 5, EXPENSES, comment="Never quoted: n = 9." if i == 0 else None)
    for i in range(9)
]

# 2026-W44: 4 answers, below the minimum of 5.
WEEK_44 = [
    # Mon 26 Oct 00:10 CET = Sun 25 Oct 23:10 UTC: outside W43. Prompt sent Sun 23:50 CET (W43).
    Row(utc(10, 25, 23, 10), 2, 3, EXPENSES, reasons=("speed",), comment="Outside the week.",
        sent=utc(10, 25, 22, 50)),
    # Mon 26 Oct 08:00 CET; prompt sent Sun 25 Oct 20:00 CET (W43).
    Row(utc(10, 26, 7), 5, 6, SUPPLIERS, sent=utc(10, 25, 19)),
    Row(utc(10, 27, 10), 4, 5, None),
    Row(utc(10, 28, 10), 1, 1, EXPENSES, "funder", comment="Too slow."),
]  # fmt: skip

# Prompts delivered and never answered.
UNANSWERED = (
    utc(10, 18, 21, 30),  # Sun 18 Oct 23:30 CEST: W42
    utc(10, 20, 6),  # W43
    utc(10, 22, 6),  # W43
    utc(10, 25, 22, 45),  # Sun 25 Oct 23:45 CET: W43
    utc(10, 25, 23, 5),  # Mon 26 Oct 00:05 CET: W44
)


async def finance_data(db: Database) -> None:
    await insert(db, "finance", WEEK_41 + WEEK_42 + WEEK_43 + WEEK_44, UNANSWERED)


async def digest_for(db: Database, company: Company, week: IsoWeek) -> DepartmentDigest:
    finance = company.department("finance")
    assert finance is not None
    async with db.session() as session:
        return await department_digest(session, company, finance, week)


def _service_keys(digest: DepartmentDigest) -> list[str | None]:
    return [t.service.key if t.service else None for t in digest.touchpoints]


# --- the digest of 2026-W43 -------------------------------------------------------------------


async def test_week_43_by_hand(db: Database, company: Company) -> None:
    await finance_data(db)
    digest = await digest_for(db, company, W43)
    score = digest.score
    assert digest.shown and digest.week == W43 and digest.comment_minimum == 10
    assert score.window.current.start == utc(10, 18, 22)
    assert score.window.current.end == utc(10, 25, 23)

    # Rows 1–16 (row 1 at 22:05 UTC and row 16 at 22:30 UTC are in; W44's 23:10 UTC is out).
    # Satisfied (4–5): rows 2, 5, 6, 11, 12, 14, 15, 16 = 8 of 16.
    # Efforts (13 given): 2,6,4,3,7,5,1,4,3,6,2,6,5 → sum 54, squares 266, easy (5–7): 6.
    assert score.current == Tally(
        responses=16,
        satisfied=8,
        effort_n=13,
        effort_sum=54,
        effort_squares=266,
        easy=6,
        # Delivered in W43: rows 2–16 (15; row 1's prompt went out in W42), W44's first two
        # answers (sent Sunday evening), 3 unanswered = 20; of those answered: 15 + 2 = 17.
        delivered=20,
        answered=17,
    )
    # W42: 10 answers, 9 satisfied (all but the 2). Efforts 6,5,7,6,2,6,5,6,5: sum 48,
    # squares 6²·4 + 5²·3 + 7² + 2² = 144 + 75 + 49 + 4 = 272, easy 8.
    # Delivered: its 10 + row 1 of W43 (answered) + the 23:30 CEST unanswered one = 12, 11.
    assert score.previous == Tally(10, 9, 9, 48, 272, 8, 12, 11)
    assert score.response_rate == pytest.approx(17 / 20)

    # 8/16: p = 0.5, z² = 3.8415, denominator 1.2401, centre exactly 0.5,
    # half = 1.96 · sqrt(0.25/16 + 3.8415/1024) / 1.2401 = 0.2200.
    satisfied = score.satisfied
    assert satisfied is not None and (satisfied.hits, satisfied.n) == (8, 16)
    assert satisfied.low == pytest.approx(0.2800, abs=1e-4)
    assert satisfied.high == pytest.approx(0.7200, abs=1e-4)
    # Mean 54/13 = 4.1538; s² = (266 − 54²/13)/12 = 3.4744; half = t(12) 2.1788 · sqrt(s²/13)
    # = 2.1788 · 0.5170 = 1.1264.
    effort = score.effort
    assert effort is not None and effort.n == 13
    assert effort.mean == pytest.approx(54 / 13)
    assert effort.low == pytest.approx(3.0275, abs=1e-4)
    assert effort.high == pytest.approx(5.2802, abs=1e-4)
    assert score.easy == wilson(6, 13)

    # 8/16 against 9/10: pooled 17/26; SE = sqrt(17/26 · 9/26 · (1/16 + 1/10)) = 0.19178;
    # z = −0.4 / 0.19178 = −2.0857; p = 0.0370 < 0.05: a meaningful drop.
    change = score.change
    assert change is not None
    assert change.delta == pytest.approx(-0.4)
    assert change.p_value == pytest.approx(0.0370, abs=1e-4)
    assert change.meaningful

    # Touchpoints. E: rows 1,4,5,9,13,15 → 6, satisfied 5,15 = 2/6 (0.333).
    # S: rows 2,6,8,11,14 → 5, satisfied 4/5 (0.8). N: rows 3,7,10,12,16 → 5, satisfied
    # 12,16 = 2/5 (0.4). None below 5, none hidden; pain order E, N, S.
    assert _service_keys(digest) == [EXPENSES, None, SUPPLIERS]
    assert [t.cell for t in digest.touchpoints] == [
        Cell(6, wilson(2, 6)),
        Cell(5, wilson(2, 5)),
        Cell(5, wilson(4, 5)),
    ]
    # Low reasons (satisfaction 1–3) per touchpoint come from E's 4 low rows (1,4,9,13), N's 3
    # and S's 1: each fewer than 5 people, whose reasons would speak for them, so none shown.
    low = {
        (t.service.key if t.service else None): [(r.key, n) for r, n in t.low_reasons]
        for t in digest.touchpoints
    }
    assert low == {EXPENSES: [], None: [], SUPPLIERS: []}

    # Reasons in Finance's (default) order; courtesy never given, so left out.
    # Low (rows 1,3,4,7,8,9,10,13): speed 1+1+1+1+1+1 = 6 (rows 1,3,4,7,9,13),
    # communication 1,4,8,9 = 4, outcome 1,4,7 = 3, ease 3,7,10,13 = 4.
    # High (rows 2,5,6,11,12,14,15,16): speed 2,12 = 2, expertise 2,5,6 = 3, outcome 11 = 1.
    assert [(c.reason.key, c.low, c.high) for c in digest.reasons] == [
        ("speed", 6, 2),
        ("communication", 4, 0),
        ("expertise", 0, 3),
        ("outcome", 3, 1),
        ("ease", 4, 0),
    ]

    # Segments: funder rows 4,14 = 2 (hidden: below 5); influencer rows 2,6,7,11,15 = 5,
    # the next smallest, hidden too (else funder = 16 − 5 − 9); end-user the other 9,
    # satisfied rows 5, 12, 16 = 3/9.
    assert digest.segments == (
        ("funder", Cell(2, None)),
        ("influencer", Cell(5, None)),
        ("end-user", Cell(9, wilson(3, 9))),
    )

    # Line of sight: external rows 2,4,7,9,11,16 = 6 of 16; internal 10, both ≥ 5, so the
    # external ones' satisfaction is shown: rows 2, 11, 16 = 3/6.
    sight = digest.line_of_sight
    assert sight is not None
    assert sight.external == 6
    assert sight.share == wilson(6, 16)
    assert sight.satisfied == wilson(3, 6)

    # n = 16 ≥ 10: the three most recent comments (rows 16, 15, 14), newest first; the one
    # at Mon 00:10 CET belongs to W44.
    assert digest.comments == (
        "Supplier paid on time at last.",
        "Thanks for the quick fix.",
        "Quick and friendly.",
    )


async def test_week_42_hides_small_touchpoints_and_the_external_complement(
    db: Database, company: Company
) -> None:
    await finance_data(db)
    digest = await digest_for(db, company, W42)
    assert digest.shown and digest.score.current.responses == 10
    # Against W41 (9/9): pooled 18/19; SE = sqrt(18/19 · 1/19 · (1/10 + 1/9)) = 0.10260;
    # z = −0.1 / 0.10260 = −0.9747; p = 0.3297: within noise.
    change = digest.score.change
    assert change is not None and change.delta == pytest.approx(-0.1)
    assert change.p_value == pytest.approx(0.3297, abs=1e-4) and not change.meaningful

    # E 5 (satisfied 4/5), S 3, N 2. S and N are below 5 and together 5 ≥ 5: hiding both is
    # enough, E stays. Hidden ones follow the shown ones, larger first.
    assert _service_keys(digest) == [EXPENSES, SUPPLIERS, None]
    assert [t.cell for t in digest.touchpoints] == [
        Cell(5, wilson(4, 5)),
        Cell(3, None),
        Cell(2, None),
    ]
    # One low answer in E, one person: its reason is not shown.
    assert [[(r.key, n) for r, n in t.low_reasons] for t in digest.touchpoints] == [[], [], []]
    # Reasons: speed with a 2 (one low answer: hidden) and with a 5 (9 high answers: shown).
    assert [(c.reason.key, c.low, c.high) for c in digest.reasons] == [("speed", 0, 1)]

    # Segments: one funder (hidden) and nine end-users, hidden with it; no influencers, and an
    # empty group is neither shown nor counted as hidden.
    assert digest.segments == (("funder", Cell(1, None)), ("end-user", Cell(9, None)))

    # 7 external, 3 internal: the internal 3 would follow from the headline, so the external
    # group's satisfaction is hidden too; the share 7/10 is a count of a shown week.
    sight = digest.line_of_sight
    assert sight is not None and sight.external == 7
    assert sight.share == wilson(7, 10)
    assert sight.satisfied is None

    # n = 10 reaches the comment minimum: both comments, newest first.
    assert digest.comments == ("Clear instructions.", "Fast as always.")


async def test_shown_week_below_the_comment_minimum_quotes_nobody(
    db: Database, company: Company
) -> None:
    await finance_data(db)
    digest = await digest_for(db, company, W41)
    assert digest.shown and digest.score.current.responses == 9
    assert digest.score.satisfied == wilson(9, 9)
    assert digest.comments == ()
    # Nothing in W40: no change to speak of.
    assert digest.score.change is None and not digest.score.previous_shown


async def test_below_the_minimum_the_digest_shows_no_numbers(
    db: Database, company: Company
) -> None:
    await finance_data(db)
    digest = await digest_for(db, company, W44)
    score = digest.score
    # W44: Mon 26 Oct 00:10 CET, 08:00 CET, Tue, Wed = 4 answers.
    assert score.current.responses == 4 and score.current.satisfied == 2
    assert not digest.shown and score.needed == 1
    assert score.satisfied is None and score.effort is None and score.easy is None
    assert score.change is None
    assert digest.touchpoints == () and digest.reasons == () and digest.segments == ()
    assert digest.line_of_sight is None and digest.comments == ()
    # W44 delivered: Tue, Wed and the unanswered Mon 00:05 CET = 3; answered 2.
    assert (score.current.delivered, score.current.answered) == (3, 2)
    # The trend still runs, with this week's point gated.
    assert [p.week for p in digest.trend[-2:]] == [W43, W44]
    last = digest.trend[-1]
    assert last.n == 4 and last.satisfied is None and last.effort is None
    assert digest.trend[-2].satisfied == wilson(8, 16)


# --- the trend --------------------------------------------------------------------------------

# 2026 has 53 ISO weeks: W53 is Mon 28 Dec 2026 – Sun 3 Jan 2027.
TURN_OF_THE_YEAR = [
    Row(utc(12, 31, 10), 5, 6),
    Row(utc(12, 31, 11), 4, 5),
    Row(utc(1, 1, 10, year=2027), 2, 2),
    Row(utc(1, 1, 11, year=2027), 5),
    # Sun 3 Jan 23:30 CET = 22:30 UTC: still 2026-W53.
    Row(utc(1, 3, 22, 30, year=2027), 3, 4),
    # Mon 4 Jan 00:10 CET = Sun 3 Jan 23:10 UTC: 2027-W01.
    Row(utc(1, 3, 23, 10, year=2027), 4, 5),
    Row(utc(1, 5, 10, year=2027), 5),
]


async def test_trend_across_the_dst_change_and_the_year_boundary(
    db: Database, company: Company
) -> None:
    await finance_data(db)
    await insert(db, "finance", TURN_OF_THE_YEAR)
    week = IsoWeek.parse("2027-W01")
    digest = await digest_for(db, company, week)
    trend = digest.trend
    # Twelve weeks back from 2027-W01 (Mon 4 Jan) is Mon 19 Oct 2026: 2026-W43 … W53, 2027-W01.
    assert [p.week.label for p in trend] == [
        *(f"2026-W{w}" for w in range(43, 54)),
        "2027-W01",
    ]
    # W42's answers (before 18 Oct 22:00 UTC) are outside the trend's span.
    assert [p.n for p in trend] == [16, 4, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2]
    assert trend[0].satisfied == wilson(8, 16)
    assert trend[0].effort == mean_interval(13, 54, 266)
    # W53: satisfied 5, 4, 5 of 5; only 4 efforts, below the minimum.
    assert trend[10].satisfied == wilson(3, 5) and trend[10].effort is None
    assert all(p.satisfied is None and p.effort is None for p in trend[1:10])
    assert trend[11].n == 2 and trend[11].satisfied is None
    assert not digest.shown

    # From W43: W32 … W43, with W41 9, W42 10, W43 16.
    trend = (await digest_for(db, company, W43)).trend
    assert [p.week for p in trend] == [IsoWeek(2026, w) for w in range(32, 44)]
    assert [p.n for p in trend] == [0] * 9 + [9, 10, 16]
    assert [p.satisfied for p in trend[-3:]] == [wilson(9, 9), wilson(9, 10), wilson(8, 16)]


# --- complementary suppression ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "hidden"),
    [
        # Nothing small: nothing hidden.
        ({"a": 5, "b": 9}, set()),
        # One small cell: the next smallest goes with it.
        ({"funder": 2, "influencer": 5, "end-user": 9}, {"funder", "influencer"}),
        # Ties between next-smallest cells are broken by key, so the result is stable.
        ({"a": 4, "c": 7, "b": 7}, {"a", "b"}),
        # Two small cells that together reach the minimum: no more.
        ({"a": 3, "b": 3, "c": 9}, {"a", "b"}),
        # Two small cells that together stay below it: the next smallest too.
        ({"a": 1, "b": 2, "c": 6, "d": 9}, {"a", "b", "c"}),
        # Empty groups are neither hidden nor chosen to hide another.
        ({"a": 0, "b": 6, "c": 9}, set()),
        ({"a": 0, "b": 3, "c": 8, "d": 9}, {"b", "c"}),
        ({"a": 0, "b": 0, "c": 2, "d": 6}, {"c", "d"}),
        # Nothing left to hide with: the small ones stay hidden.
        ({"a": 2, "b": 2}, {"a", "b"}),
        ({"a": 2}, {"a"}),
        ({}, set()),
    ],
)
def test_suppressed(sizes: dict[str, int], hidden: set[str]) -> None:
    assert suppressed(sizes, 5) == hidden


# --- weeks and the schedule clock -------------------------------------------------------------


def _hours(week: IsoWeek, zone: ZoneInfo) -> float:
    period = week.period(zone)
    return (period.end - period.start) / timedelta(hours=1)


def test_week_periods_follow_the_local_clock() -> None:
    assert W43.period(BERLIN).start == utc(10, 18, 22)
    assert W43.period(BERLIN).end == utc(10, 25, 23)
    # Berlin goes back on 25 Oct (W43), New York on 1 Nov (W44); spring forward in Berlin on
    # 29 Mar 2026 (W13) makes a 167-hour week.
    assert _hours(W43, BERLIN) == 169
    assert _hours(W42, BERLIN) == 168 and _hours(W44, BERLIN) == 168
    assert _hours(W43, NEW_YORK) == 168 and _hours(W44, NEW_YORK) == 169
    assert _hours(W43, ZoneInfo("UTC")) == 168
    assert _hours(IsoWeek(2026, 13), BERLIN) == 167
    # The same instant falls in different weeks in different zones.
    late_sunday = utc(10, 25, 23, 10)
    assert IsoWeek.containing(late_sunday, BERLIN) == W44
    assert IsoWeek.containing(late_sunday, ZoneInfo("UTC")) == W43
    assert IsoWeek.containing(utc(10, 25, 22, 30), BERLIN) == W43


def test_iso_week_labels_and_the_year_boundary() -> None:
    assert IsoWeek.parse("2026-W53").shifted(1) == IsoWeek.parse(" 2027-W01 ")
    assert IsoWeek(2027, 1).shifted(-11) == W43
    # 2026 has 53 weeks, so 52 weeks back from 2027-W02 is 2026-W03.
    assert IsoWeek(2027, 2).shifted(-52).label == "2026-W03"
    assert IsoWeek.containing(utc(1, 1, 10, year=2027), BERLIN).label == "2026-W53"
    assert IsoWeek.before(utc(1, 4, 8, year=2027), BERLIN).label == "2026-W53"
    with pytest.raises(WeekError, match="2027 has no week 53"):
        IsoWeek.parse("2027-W53")
    with pytest.raises(WeekError, match="not an ISO week"):
        IsoWeek.parse("2026-43")


def test_monday_digest_in_berlin_reports_the_week_just_ended() -> None:
    clock = ScheduleClock("0 9 * * mon", BERLIN)
    with time_machine.travel(datetime(2026, 10, 26, 8, 59, tzinfo=BERLIN), tick=False) as t:
        # 08:59 CET: this Monday's run has not happened; the last one (19 Oct 09:00 CEST =
        # 07:00 UTC) reported W42.
        assert clock.last_fire(datetime.now(UTC)) == utc(10, 19, 7)
        assert clock.due_week(datetime.now(UTC)) == W42
        t.move_to(datetime(2026, 10, 26, 9, 0, 30, tzinfo=BERLIN))
        # 09:00 CET = 08:00 UTC (no longer 07:00: the clocks went back on Sunday).
        assert datetime.now(UTC) == utc(10, 26, 8, 0) + timedelta(seconds=30)
        assert clock.last_fire(datetime.now(UTC)) == utc(10, 26, 8)
        assert clock.due_week(datetime.now(UTC)) == W43
        # A fresh clock (no cached fire time) agrees.
        assert ScheduleClock("0 9 * * mon", BERLIN).due_week(datetime.now(UTC)) == W43


def test_monday_digest_in_new_york_across_its_dst_end() -> None:
    clock = ScheduleClock("0 9 * * mon", NEW_YORK)
    # Clocks go back on Sun 1 Nov 2026; Mon 2 Nov 09:00 EST = 14:00 UTC (13:00 UTC the week
    # before, in EDT).
    with time_machine.travel(utc(11, 2, 13, 30), tick=False) as t:
        # 08:30 EST: a fixed EDT offset would already have fired at 13:00 UTC.
        assert clock.last_fire(datetime.now(UTC)) == utc(10, 26, 13)
        assert clock.due_week(datetime.now(UTC)) == W43
        t.move_to((utc(11, 2, 14) + timedelta(seconds=30)).astimezone(NEW_YORK))
        assert clock.last_fire(datetime.now(UTC)) == utc(11, 2, 14)
        assert clock.due_week(datetime.now(UTC)) == W44  # the 169-hour New York week
        assert _hours(W44, NEW_YORK) == 169


def test_a_custom_schedule_reports_the_last_complete_week() -> None:
    clock = ScheduleClock("30 17 * * fri", BERLIN)
    with time_machine.travel(datetime(2026, 10, 30, 17, 29, tzinfo=BERLIN), tick=False) as t:
        # Last run Fri 23 Oct 17:30 CEST (W43 still running): it reported W42.
        assert clock.due_week(datetime.now(UTC)) == W42
        t.move_to(datetime(2026, 10, 31, 12, 0, tzinfo=BERLIN))
        # Fri 30 Oct 17:30 CET = 16:30 UTC; W44 is not over, so W43 is the last complete week.
        assert clock.last_fire(datetime.now(UTC)) == utc(10, 30, 16, 30)
        assert clock.due_week(datetime.now(UTC)) == W43


def test_a_monthly_schedule_still_finds_its_last_run() -> None:
    clock = ScheduleClock("0 9 1 * *", BERLIN)
    with time_machine.travel(datetime(2026, 10, 30, 12, tzinfo=BERLIN), tick=False):
        # Thu 1 Oct 09:00 CEST = 07:00 UTC, 29 days back, in W40: it reported W39.
        assert clock.last_fire(datetime.now(UTC)) == utc(10, 1, 7)
        assert clock.due_week(datetime.now(UTC)) == IsoWeek(2026, 39)


# --- the organisation digest ------------------------------------------------------------------

ORG: dict[str, Any] = {
    "departments": [
        {
            "key": "security",
            "name": "Security",
            "timezone": "Asia/Tokyo",
            "translations": {"zh_Hans": {"name": "安全部"}},  # ān
        },
        {
            "key": "legal",
            "name": "Legal",
            "timezone": "UTC",
            "translations": {"zh_Hans": {"name": "法务部"}},  # fǎ
        },
        {
            "key": "assets",
            "name": "Asset management",
            "timezone": "Europe/Berlin",
            "translations": {"zh_Hans": {"name": "资产管理部"}},  # zī
        },
        {"key": "it", "name": "IT", "timezone": "America/New_York"},  # no translation
    ],
}


async def test_org_digest_is_alphabetical_in_the_readers_language(db: Database) -> None:
    company = parse_company(ORG)
    # The same late-Sunday instant, Sun 25 Oct 23:30 UTC, is W43 in UTC and New York
    # (19:30 EDT) but W44 in Berlin (Mon 00:30 CET).
    sunday_late = utc(10, 25, 23, 30)
    # Legal (UTC): W43 6/6 (the last at Sun 23:30 UTC), W42 0/6.
    await insert(db, "legal", [Row(utc(10, 20, 9 + i), 5) for i in range(5)])
    await insert(db, "legal", [Row(sunday_late, 4)])
    await insert(db, "legal", [Row(utc(10, 13, 9 + i), 2) for i in range(6)])
    # IT (New York): W43 5/5, the last at Sun 25 Oct 23:30 EDT = Mon 03:30 UTC; W42 4/5, the
    # first at Sun 18 Oct 23:30 EDT = Mon 19 Oct 03:30 UTC.
    await insert(db, "it", [Row(utc(10, 21, 15 + i), 5) for i in range(4)])
    await insert(db, "it", [Row(utc(10, 26, 3, 30), 4)])
    await insert(db, "it", [Row(utc(10, 19, 3, 30), 1)])
    await insert(db, "it", [Row(utc(10, 14, 15 + i), 4) for i in range(4)])
    # Asset management (Berlin): 4 in W43; the late-Sunday one is W44 there.
    await insert(db, "assets", [Row(utc(10, 21, 9 + i), 5) for i in range(4)])
    await insert(db, "assets", [Row(sunday_late, 5)])
    await insert(db, "assets", [Row(utc(10, 14, 9 + i), 5) for i in range(5)])
    # Security: nothing at all.

    async with db.session() as session:
        english = await org_digest(session, company, W43)
        chinese = await org_digest(session, company, W43, "zh_Hans")

    assert english.week == W43
    assert [s.department.key for s in english.scores] == ["assets", "it", "legal", "security"]
    # 安 (ān) < 法 (fǎ) < 资 (zī); Latin "IT" before them all. (Code points agree here.)
    assert [s.department.display_name("zh_Hans") for s in chinese.scores] == [
        "IT",
        "安全部",
        "法务部",
        "资产管理部",
    ]
    assert [s.department.key for s in chinese.scores] == ["it", "security", "legal", "assets"]

    scores = {s.department.key: s for s in english.scores}
    # Legal: 6/6 against 0/6; pooled 1/2, SE = sqrt(1/4 · 1/3) = 0.2887, z = 3.4641,
    # p = 0.0005: meaningful.
    legal = scores["legal"]
    assert (legal.current.responses, legal.current.satisfied) == (6, 6)
    assert (legal.previous.responses, legal.previous.satisfied) == (6, 0)
    assert legal.change is not None and legal.change.delta == pytest.approx(1.0)
    assert legal.change.p_value == pytest.approx(0.0005, abs=1e-4) and legal.change.meaningful
    # IT: 5/5 against 4/5; pooled 9/10, SE = sqrt(0.09 · 0.4) = 0.1897, z = 1.0541,
    # p = 0.2918: within noise.
    it = scores["it"]
    assert (it.current.responses, it.current.satisfied) == (5, 5)
    assert (it.previous.responses, it.previous.satisfied) == (5, 4)
    assert it.change is not None and it.change.p_value == pytest.approx(0.2918, abs=1e-4)
    assert not it.change.meaningful
    # Asset management: 4 this week (below 5), 5 the week before: no change shown.
    assets = scores["assets"]
    assert (assets.current.responses, assets.previous.responses) == (4, 5)
    assert not assets.shown and assets.needed == 1 and assets.change is None
    security = scores["security"]
    assert security.current == Tally() and security.change is None and security.needed == 5


async def test_the_chart_plots_the_digest_numbers(db: Database, company: Company) -> None:
    await finance_data(db)
    digest = await digest_for(db, company, W43)
    series = chart_series(digest.trend)
    # The chart's last week is the digest's week, with the headline's n and share (8 of 16).
    assert series.labels[-1] == "2026-W43" and series.n[-1] == 16
    satisfied = digest.score.satisfied
    assert satisfied is not None and series.satisfied[-1] == satisfied.share == 0.5
    assert (series.satisfied_low[-1], series.satisfied_high[-1]) == (satisfied.low, satisfied.high)
    effort = digest.score.effort
    assert effort is not None and series.effort[-1] == effort.mean
    # W42 (10 answers) is shown too; W40 had none, so it is a gap, not a zero.
    assert series.n[-2] == 10 and series.satisfied[-2] == 0.9
    assert series.n[-4] == 0 and series.satisfied[-4] is None
    image = trend_chart(digest.trend, translator("en"), "Finance")
    assert image.png.startswith(b"\x89PNG") and "50%" in image.alt
