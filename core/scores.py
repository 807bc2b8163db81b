"""Per-department numbers for a period: counted in SQL, judged by core.stats, gated by the
reporting minimum (GUIDE §4)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlmodel import case, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.departments import Company, Department
from core.periods import Period, Window, window
from core.stats import Change, Mean, Proportion, mean_interval, two_proportion_test, wilson
from storage.aggregates import EASY_FROM, SATISFIED_FROM, Counts
from storage.models import Prompt, Response
from storage.sums import Span, period_sums

# What a score counts is what the stored sums hold, column for column: one type for both.
Tally = Counts


@dataclass(frozen=True)
class DepartmentScore:
    department: Department
    window: Window
    current: Tally
    previous: Tally
    minimum: int

    @property
    def shown(self) -> bool:
        return self.current.responses >= self.minimum

    @property
    def needed(self) -> int:
        return max(0, self.minimum - self.current.responses)

    @property
    def satisfied(self) -> Proportion | None:
        return wilson(self.current.satisfied, self.current.responses) if self.shown else None

    @property
    def effort(self) -> Mean | None:
        c = self.current
        if c.effort_n < self.minimum:
            return None
        return mean_interval(c.effort_n, c.effort_sum, c.effort_squares)

    @property
    def easy(self) -> Proportion | None:
        c = self.current
        return wilson(c.easy, c.effort_n) if c.effort_n >= self.minimum else None

    @property
    def response_rate(self) -> float | None:
        c = self.current
        return c.answered / c.delivered if c.delivered else None

    @property
    def previous_shown(self) -> bool:
        return self.previous.responses >= self.minimum

    @property
    def change(self) -> Change | None:
        if not (self.shown and self.previous_shown):
            return None
        c, p = self.current, self.previous
        return two_proportion_test(c.satisfied, c.responses, p.satisfied, p.responses)


async def tallies(
    session: AsyncSession, period: Period, departments: list[str]
) -> dict[str, Tally]:
    """Sums per department for one period: responses by first answer, prompts by delivery.
    Equal to `raw_tallies` for any period (see `tallies_for`)."""
    (result,) = await tallies_for(session, [(period, departments)])
    return result


async def tallies_for(
    session: AsyncSession,
    requests: Sequence[tuple[Period, Sequence[str]]],
    now: datetime | None = None,
) -> list[dict[str, Tally]]:
    """`tallies` for several periods (each with its departments) in one round trip: whole UTC
    days from the maintained daily sums, the partial days at the edges with the raw rows
    (storage.sums). `now`, when given, lets a period ending now be read more cheaply; the
    numbers are the same either way."""
    spans = [(Span(p.start, p.end, now), keys) for p, keys in requests]
    return await period_sums(session, spans)


async def raw_tallies(
    session: AsyncSession, period: Period, departments: list[str]
) -> dict[str, Tally]:
    """The same sums as `tallies`, counted from the raw rows: a plain SQL aggregate, used for
    the partial edge days, and as the reference that checks and benchmarks compare with."""
    effort = col(Response.effort)
    answers = await session.exec(
        select(
            Response.department,
            func.count(),
            func.sum(case((col(Response.satisfaction) >= SATISFIED_FROM, 1), else_=0)),
            func.count(effort),
            func.coalesce(func.sum(effort), 0),
            func.coalesce(func.sum(effort * effort), 0),
            func.sum(case((effort >= EASY_FROM, 1), else_=0)),
        )
        .where(
            col(Response.department).in_(departments),
            col(Response.answered_at) >= period.start,
            col(Response.answered_at) < period.end,
        )
        .group_by(Response.department)
    )
    delivered = await session.exec(
        select(Prompt.department, func.count(), func.count(col(Prompt.answered_at)))
        .where(
            col(Prompt.department).in_(departments),
            col(Prompt.sent_at) >= period.start,
            col(Prompt.sent_at) < period.end,
        )
        .group_by(Prompt.department)
    )
    rows: dict[str, dict[str, int]] = {d: {} for d in departments}
    for dept, n, sat, e_n, e_sum, e_sq, easy in answers.all():
        rows[dept].update(
            responses=n,
            satisfied=int(sat or 0),
            effort_n=e_n,
            effort_sum=int(e_sum),
            effort_squares=int(e_sq),
            easy=int(easy or 0),
        )
    for dept, sent, answered in delivered.all():
        rows[dept].update(delivered=sent, answered=answered)
    return {d: Tally(**values) for d, values in rows.items()}


@cache
def _zone(name: str) -> ZoneInfo:
    # Held here: ZoneInfo keeps only the last 8 zones it made, and reads a file for the others.
    return ZoneInfo(name)


async def department_scores(
    session: AsyncSession,
    company: Company,
    departments: list[Department],
    spec: str,
    now: datetime,
) -> list[DepartmentScore]:
    """Scores for several departments over one window (each in its own time zone for quarters)."""
    results: list[DepartmentScore] = []
    by_window: dict[Window, list[Department]] = {}
    for department in departments:
        by_window.setdefault(window(spec, now, _zone(department.timezone)), []).append(department)
    # Every window's two periods in one round trip (quarters differ by time zone).
    requests = [
        (period, [d.key for d in members])
        for win, members in by_window.items()
        for period in (win.current, win.previous)
    ]
    counted = iter(await tallies_for(session, requests, now))
    for win, members in by_window.items():
        current, previous = next(counted), next(counted)
        results.extend(
            DepartmentScore(d, win, current[d.key], previous[d.key], company.policy.reporting_min_n)
            for d in members
        )
    return sorted(results, key=lambda s: s.department.name.casefold())
