"""What a weekly digest says about one department (GUIDE §4), before any wording: headline
numbers against the week before, the trend, touchpoints by pain, reasons, segments with
complementary suppression, line of sight and recent comments. Every group is n-gated."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.departments import Company, Department, Reason, Service
from core.periods import Period, Window
from core.scores import DepartmentScore, Tally, tallies, tallies_for
from core.stats import Mean, Proportion, mean_interval, wilson
from core.weeks import IsoWeek
from storage.models import Response

TREND_WEEKS = 12
TOP_REASONS = 3
COMMENTS = 3
LOW = range(1, 4)  # satisfaction 1–3: the answers whose reasons explain what went wrong
SEGMENTS = ("funder", "influencer", "end-user")


@dataclass(frozen=True)
class Answer:
    """One response, as much as a digest needs of it (no respondent)."""

    service: str | None
    segment: str
    satisfaction: int
    effort: int | None
    reasons: tuple[str, ...]
    external_customer: bool
    comment: str | None
    answered_at: datetime


@dataclass(frozen=True)
class TrendPoint:
    week: IsoWeek
    n: int
    satisfied: Proportion | None  # None below the reporting minimum
    effort: Mean | None


@dataclass(frozen=True)
class Cell:
    """One group of a breakdown: shown only when it and its complements keep people hidden."""

    n: int
    satisfied: Proportion | None

    @property
    def shown(self) -> bool:
        return self.satisfied is not None


@dataclass(frozen=True)
class Touchpoint:
    service: Service | None  # None: interactions recorded without a service
    cell: Cell
    low_reasons: tuple[tuple[Reason, int], ...] = ()


@dataclass(frozen=True)
class ReasonCount:
    reason: Reason
    low: int
    high: int


@dataclass(frozen=True)
class LineOfSight:
    external: int
    share: Proportion | None  # of all responses
    satisfied: Proportion | None  # among those that affected an external customer


@dataclass(frozen=True)
class DepartmentDigest:
    department: Department
    week: IsoWeek
    score: DepartmentScore  # this week against the week before
    comment_minimum: int
    trend: tuple[TrendPoint, ...] = ()
    touchpoints: tuple[Touchpoint, ...] = ()
    reasons: tuple[ReasonCount, ...] = ()
    segments: tuple[tuple[str, Cell], ...] = ()
    line_of_sight: LineOfSight | None = None
    comments: tuple[str, ...] = ()

    @property
    def shown(self) -> bool:
        return self.score.shown


@dataclass(frozen=True)
class OrgDigest:
    week: IsoWeek
    scores: tuple[DepartmentScore, ...] = field(default=())  # alphabetical, never ranked


def suppressed(sizes: dict[str, int], minimum: int) -> set[str]:
    """Groups to hide: those below the minimum, and then the next-smallest until the hidden
    ones cannot be worked out from the total and the rest (GUIDE §4, differencing)."""
    hidden = {key for key, n in sizes.items() if 0 < n < minimum}
    visible = sorted((n, key) for key, n in sizes.items() if n >= minimum)
    while hidden and visible and (len(hidden) == 1 or sum(sizes[k] for k in hidden) < minimum):
        hidden.add(visible.pop(0)[1])
    return hidden


def _cells(groups: dict[str, list[Answer]], minimum: int) -> dict[str, Cell]:
    sizes = {key: len(answers) for key, answers in groups.items()}
    hidden = suppressed(sizes, minimum)
    return {
        key: Cell(
            len(answers),
            None
            if key in hidden
            else wilson(sum(a.satisfaction >= 4 for a in answers), len(answers)),
        )
        for key, answers in groups.items()
        if answers
    }


def _reasons_of(answers: list[Answer], minimum: int) -> Counter[str]:
    """Reasons given in a group of answers, or none when the group is too small: one person's
    reasons would otherwise speak for them."""
    if len(answers) < minimum:
        return Counter()
    return Counter(r for a in answers for r in a.reasons)


def _reason_counts(
    department: Department, answers: list[Answer], minimum: int
) -> tuple[ReasonCount, ...]:
    low = _reasons_of([a for a in answers if a.satisfaction in LOW], minimum)
    high = _reasons_of([a for a in answers if a.satisfaction >= 4], minimum)
    counts = [
        ReasonCount(reason, low[reason.key], high[reason.key])
        for reason in department.effective_reasons
        if low[reason.key] or high[reason.key]
    ]
    return tuple(counts)


def _touchpoints(
    department: Department, answers: list[Answer], minimum: int
) -> tuple[Touchpoint, ...]:
    groups: dict[str, list[Answer]] = {}
    for answer in answers:
        # A service since removed from the configuration counts with the unspecified ones.
        known = answer.service if department.service(answer.service) else None
        groups.setdefault(known or "", []).append(answer)
    cells = _cells(groups, minimum)
    reasons = {r.key: r for r in department.effective_reasons}
    touchpoints = []
    for key, cell in cells.items():
        lows = [a for a in groups[key] if a.satisfaction in LOW]
        low = _reasons_of(lows, minimum) if cell.shown else Counter()
        top = tuple((reasons[r], n) for r, n in low.most_common() if r in reasons)[:TOP_REASONS]
        touchpoints.append(Touchpoint(department.service(key) if key else None, cell, top))
    # Pain first: the lowest share satisfied leads; hidden ones follow, largest first.
    return tuple(
        sorted(
            touchpoints,
            key=lambda t: (
                not t.cell.shown,
                t.cell.satisfied.share if t.cell.satisfied else 0.0,
                -t.cell.n,
            ),
        )
    )


def _line_of_sight(answers: list[Answer], minimum: int) -> LineOfSight:
    external = [a for a in answers if a.external_customer]
    satisfied = sum(a.satisfaction >= 4 for a in external)
    # The others' share would follow from the headline minus this one: they must be hidden
    # as people too (or be nobody).
    sizes = {"external": len(external), "internal": len(answers) - len(external)}
    shown = len(external) >= minimum and "external" not in suppressed(sizes, minimum)
    return LineOfSight(
        external=len(external),
        share=wilson(len(external), len(answers)) if len(answers) >= minimum else None,
        satisfied=wilson(satisfied, len(external)) if shown else None,
    )


def _trend_point(week: IsoWeek, counted: Tally, minimum: int) -> TrendPoint:
    n = counted.responses
    return TrendPoint(
        week,
        n,
        wilson(counted.satisfied, n) if n >= minimum else None,
        mean_interval(counted.effort_n, counted.effort_sum, counted.effort_squares)
        if counted.effort_n >= minimum
        else None,
    )


async def answers_in(session: AsyncSession, department: str, period: Period) -> list[Answer]:
    # Columns, not Response objects: building a model instance per row cost more than the
    # query itself.
    rows = await session.exec(
        select(
            Response.service,
            Response.segment,
            Response.satisfaction,
            Response.effort,
            Response.reasons,
            Response.external_customer,
            Response.comment,
            Response.answered_at,
        )
        .where(
            Response.department == department,
            col(Response.answered_at) >= period.start,
            col(Response.answered_at) < period.end,
        )
        .order_by(col(Response.answered_at))
    )
    return [
        Answer(service, segment, satisfaction, effort, tuple(reasons), external, comment, at)
        for service, segment, satisfaction, effort, reasons, external, comment, at in rows.all()
    ]


async def department_digest(
    session: AsyncSession, company: Company, department: Department, week: IsoWeek
) -> DepartmentDigest:
    zone = ZoneInfo(department.timezone)
    policy = company.policy
    minimum = policy.reporting_min_n
    # The trend's weekly numbers are sums (from the stored daily ones, in one round trip); only
    # the week itself is read answer by answer, for its breakdowns and comments.
    weeks = [week.shifted(i - (TREND_WEEKS - 1)) for i in range(TREND_WEEKS)]
    counted = await tallies_for(session, [(w.period(zone), [department.key]) for w in weeks])
    sums = [c[department.key] for c in counted]
    trend = tuple(_trend_point(w, s, minimum) for w, s in zip(weeks, sums, strict=True))
    current, previous = week.period(zone), week.shifted(-1).period(zone)
    score = DepartmentScore(
        department, Window(week.label, current, previous), sums[-1], sums[-2], minimum
    )
    answers = await answers_in(session, department.key, current) if score.shown else []
    if not score.shown:
        return DepartmentDigest(department, week, score, policy.comment_min_n, trend)
    segments = _cells({s: [a for a in answers if a.segment == s] for s in SEGMENTS}, minimum)
    recent = sorted((a for a in answers if a.comment), key=lambda a: a.answered_at, reverse=True)
    comments = (
        tuple(a.comment for a in recent[:COMMENTS] if a.comment)
        if len(answers) >= policy.comment_min_n
        else ()
    )
    return DepartmentDigest(
        department,
        week,
        score,
        policy.comment_min_n,
        trend,
        _touchpoints(department, answers, minimum),
        _reason_counts(department, answers, minimum),
        tuple((s, segments[s]) for s in SEGMENTS if s in segments),
        _line_of_sight(answers, minimum),
        comments,
    )


async def org_digest(
    session: AsyncSession, company: Company, week: IsoWeek, locale: str = "en"
) -> OrgDigest:
    scores = []
    for department in company.departments:
        zone = ZoneInfo(department.timezone)
        current, previous = week.period(zone), week.shifted(-1).period(zone)
        now = (await tallies(session, current, [department.key]))[department.key]
        then = (await tallies(session, previous, [department.key]))[department.key]
        scores.append(
            DepartmentScore(
                department,
                Window(week.label, current, previous),
                now,
                then,
                company.policy.reporting_min_n,
            )
        )
    # Alphabetical in the reader's language, never ranked.
    ordered = sorted(scores, key=lambda s: s.department.display_name(locale).casefold())
    return OrgDigest(week, tuple(ordered))
