"""Reading what the answers and prompts of any periods add up to, per department, in one
statement: whole UTC months and days from the stored sums (score_month, score_day), the rest
of a period from the raw rows, through indexes that hold every column those counts need
(ix_response_tally, ix_prompt_tally: index-only scans).

A period rarely starts or ends at UTC midnight. Its partial first day can be counted as the
part inside it, or as the whole day minus the part before it; likewise its last day. The
cheaper side is read from raw rows: the shorter one, and for a period ending now, the day's
rest after now, which holds no rows yet. A score's two periods share a boundary, so the
same part of that day serves both, read once. Everything for one question is one round trip:
on a busy server each statement costs more in waiting for its turn than in reading its rows.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.aggregates import COLUMNS, EASY_FROM, SATISFIED_FROM, Counts
from storage.models import Prompt, Response, ScoreDay, ScoreMonth

DAY = timedelta(days=1)
MAX_BRANCHES = 250


@dataclass(frozen=True)
class Span:
    start: datetime  # inclusive, aware
    end: datetime  # exclusive
    # A cost hint, not a filter: no rows are expected at or after this moment (the clock when
    # the question was asked). The sums are exact whatever it says.
    data_until: datetime | None = None


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def whole_days(span: Span) -> Span | None:
    """The whole UTC days inside a span, from the first midnight at or after its start to the
    last one at or before its end; None when there is none."""
    first = _midnight(span.start)
    if first < span.start:
        first += DAY
    last = _midnight(span.end)
    return Span(first, last) if first < last else None


@dataclass(frozen=True)
class Pieces:
    """A span as whole days from score_day plus and minus ranges counted from raw rows."""

    days: tuple[date, date] | None  # first day, day after the last
    raw: tuple[tuple[int, datetime, datetime], ...]  # (+1 or -1, start, end)


def pieces(span: Span) -> Pieces:
    """The span as stored days and signed raw ranges, each partial day read on its cheaper
    side."""
    start, end = span.start.astimezone(UTC), span.end.astimezone(UTC)
    if start >= end:
        return Pieces(None, ())

    def after(moment: datetime, until: datetime) -> timedelta:
        """How much of [moment, until) can hold rows."""
        if span.data_until is not None:
            until = min(until, max(moment, span.data_until.astimezone(UTC)))
        return until - moment

    first_day, last_day = _midnight(start), _midnight(end)
    raw: list[tuple[int, datetime, datetime]] = []
    if first_day == last_day:  # within one day: the part, or the day without the rest
        rest = (start - first_day) + after(end, first_day + DAY)
        if end - start <= rest:
            return Pieces(None, ((1, start, end),))
        raw += [(-1, first_day, start), (-1, end, first_day + DAY)]
        first, last = first_day, first_day + DAY
    else:
        first, last = first_day, last_day
        if start > first_day:
            # Ties go to the part before the start: the period before, ending here, reads the
            # same part (ties there go to the part inside it), so one reading serves both.
            if first_day + DAY - start < start - first_day:
                raw.append((1, start, first_day + DAY))
                first = first_day + DAY
            else:
                raw.append((-1, first_day, start))
        if end > last_day:
            if end - last_day <= after(end, last_day + DAY):
                raw.append((1, last_day, end))
            else:
                raw.append((-1, end, last_day + DAY))
                last = last_day + DAY
    return Pieces(
        (first.date(), last.date()) if first < last else None,
        tuple(piece for piece in raw if piece[1] < piece[2]),
    )


def calendar(first: date, last: date) -> list[tuple[str, date, date]]:
    """Days [first, last) as whole months from score_month and the days around them."""
    month_in = (
        first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    )
    month_out = last.replace(day=1)
    if month_in >= month_out:
        return [("days", first, last)]
    around = [("days", first, month_in), ("months", month_in, month_out), ("days", month_out, last)]
    return [(source, a, b) for source, a, b in around if a < b]


Request = tuple[Span, Sequence[str]]  # a period, and the departments wanted for it
Shape = tuple[str, ...]  # the source of each branch


Among = Callable[[Any], Any]  # a column -> "its value is one of this branch's departments"


def _among(part: int, dialect: str) -> Among:
    """The departments as one parameter, an array or a JSON list, not one per department: an
    overview would bind hundreds, and binding them cost more than the query."""
    if dialect == "postgresql":
        array = sa.bindparam(f"d{part}", type_=postgresql.ARRAY(sa.String()))
        return lambda column: column == sa.any_(array)
    listed = sa.select(sa.literal_column("value")).select_from(
        sa.func.json_each(sa.bindparam(f"d{part}", type_=sa.String()))
    )
    return lambda column: column.in_(listed.scalar_subquery())


def _stored(model: Any, unit: str) -> Any:
    def branch(part: int, among: Among) -> sa.Select[Any]:
        table = model.__table__.c
        return (
            sa.select(
                sa.literal_column(str(part)),
                table.department,
                *(sa.func.sum(table[name]) for name in COLUMNS),
            )
            .where(
                among(table.department),
                table[unit] >= sa.bindparam(f"s{part}", type_=sa.Date()),
                table[unit] < sa.bindparam(f"e{part}", type_=sa.Date()),
            )
            .group_by(table.department)
        )

    return branch


def _answers(part: int, among: Among) -> sa.Select[Any]:
    table = Response.__table__.c  # type: ignore[attr-defined]
    at = table.answered_at
    effort = table.effort
    zero = sa.literal_column("0")
    return (
        sa.select(
            sa.literal_column(str(part)),
            table.department,
            sa.func.count(),
            sa.func.sum(sa.case((table.satisfaction >= SATISFIED_FROM, 1), else_=0)),
            sa.func.count(effort),
            sa.func.coalesce(sa.func.sum(effort), 0),
            sa.func.coalesce(sa.func.sum(effort * effort), 0),
            sa.func.sum(sa.case((effort >= EASY_FROM, 1), else_=0)),
            zero,
            zero,
        )
        .where(
            among(table.department),
            at >= sa.bindparam(f"s{part}", type_=at.type),
            at < sa.bindparam(f"e{part}", type_=at.type),
        )
        .group_by(table.department)
    )


def _prompts(part: int, among: Among) -> sa.Select[Any]:
    table = Prompt.__table__.c  # type: ignore[attr-defined]
    at = table.sent_at
    zero = sa.literal_column("0")
    return (
        sa.select(
            sa.literal_column(str(part)),
            table.department,
            *([zero] * 6),
            sa.func.count(),
            sa.func.count(table.answered_at),
        )
        .where(
            among(table.department),
            at >= sa.bindparam(f"s{part}", type_=at.type),
            at < sa.bindparam(f"e{part}", type_=at.type),
        )
        .group_by(table.department)
    )


BRANCHES = {
    "days": _stored(ScoreDay, "day"),
    "months": _stored(ScoreMonth, "month"),
    "answers": _answers,
    "prompts": _prompts,
}


@lru_cache(maxsize=256)
def _statement(shape: Shape, dialect: str) -> sa.CompoundSelect[Any]:
    """Built once per shape: afterwards a question costs its parameters, not SQL building."""
    return sa.union_all(
        *(BRANCHES[source](part, _among(part, dialect)) for part, source in enumerate(shape))
    )


@dataclass
class Plan:
    shape: list[str]  # the source of each branch
    params: dict[str, Any]
    targets: list[list[tuple[int, int]]]  # per branch: (request, sign) it counts for


def plan(requests: Sequence[Request]) -> Plan:
    """One branch per distinct source and range, for every department any request wants of
    it: periods that share a partial day share its reading, and an overview's time zones
    (each its own quarter) share their stored days and months."""
    result = Plan([], {}, [])
    branches: dict[tuple[str, object, object], int] = {}

    def branch(source: str, start: object, end: object, departments: Sequence[str]) -> int:
        key = (source, start, end)
        if key not in branches:
            part = branches[key] = len(result.shape)
            result.params.update({f"s{part}": start, f"e{part}": end, f"d{part}": []})
            result.shape.append(source)
            result.targets.append([])
        wanted = result.params[f"d{branches[key]}"]
        wanted += [d for d in departments if d not in wanted]
        return branches[key]

    for index, (span, departments) in enumerate(requests):
        found = pieces(span)
        if found.days is not None:
            for source, first, last in calendar(*found.days):
                result.targets[branch(source, first, last, departments)].append((index, 1))
        for sign, start, end in found.raw:
            for source in ("answers", "prompts"):
                result.targets[branch(source, start, end, departments)].append((index, sign))
    return result


async def period_sums(
    session: AsyncSession, requests: Sequence[Request]
) -> list[dict[str, Counts]]:
    """Per request, the sums of each of its departments (all zero for one without any)."""
    totals: list[dict[str, Counts]] = []
    connection = await session.connection()
    # SQLite takes at most 500 terms in one compound SELECT; a request needs at most 7.
    for first in range(0, len(requests), MAX_BRANCHES // 7):
        batch = requests[first : first + MAX_BRANCHES // 7]
        found = [{d: [0] * len(COLUMNS) for d in departments} for _, departments in batch]
        todo = plan(batch)
        if todo.shape:
            dialect = connection.dialect.name
            if dialect != "postgresql":
                lists = {k: json.dumps(v) for k, v in todo.params.items() if k.startswith("d")}
                todo.params.update(lists)
            rows = await connection.execute(_statement(tuple(todo.shape), dialect), todo.params)
            for part, department, *sums in rows:
                for request, sign in todo.targets[part]:
                    into = found[request].get(department)
                    if into is None:  # a department another request sharing the branch wants
                        continue
                    for column, value in enumerate(sums):
                        into[column] += sign * int(value or 0)
        totals += [{d: Counts(*sums) for d, sums in each.items()} for each in found]
    return totals
