"""Keeping the daily and monthly sums behind the scores (score_day, score_month) equal to the raw
rows they count, so a score over months reads a few hundred sums instead of millions of rows
(read by storage.sums).

Every change to a counted value updates both tables in the same transaction, as a delta:
increments (`ON CONFLICT DO UPDATE SET n = score_day.n + excluded.n`) never overwrite what a
concurrent transaction added. The delta needs the old values, read under a lock on the prompt
row that every such change takes first: `SELECT … FOR UPDATE` on PostgreSQL; on SQLite a write
to the row, which takes the database's one write lock before anything is read (a plain read
there runs outside the transaction). So two taps on one prompt take turns, and each sees what
the other wrote.

What is counted (the rows of one prompt, see `Contribution`): a response on the UTC day of its
first answer; a prompt as delivered on the UTC day it was sent, and as answered on that same
day once answered. Retention deletes raw rows and keeps the sums; erasing a person subtracts
theirs first (`forget_contributions`).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import tap_rows
from storage.db import connection_of
from storage.models import Prompt, Response, ScoreDay, ScoreMonth
from storage.upsert import insert_for

SATISFIED_FROM = 4  # CSAT 4–5 of 5 is satisfied (top-2-box, GUIDE §4)
EASY_FROM = 5  # CES 5–7 of 7 is easy
# Bound parameters per statement stay far below both databases' limits.
CHUNK = 500


@dataclass(frozen=True)
class Counts:
    """One score_day or score_month row's sums, or a change to them."""

    responses: int = 0
    satisfied: int = 0
    effort_n: int = 0
    effort_sum: int = 0
    effort_squares: int = 0
    easy: int = 0
    delivered: int = 0
    answered: int = 0

    def values(self) -> tuple[int, ...]:
        # Not dataclasses.astuple: that deep-copies, and sums are added up by the thousand.
        return (
            self.responses,
            self.satisfied,
            self.effort_n,
            self.effort_sum,
            self.effort_squares,
            self.easy,
            self.delivered,
            self.answered,
        )

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def __neg__(self) -> "Counts":
        return Counts(*(-a for a in self.values()))

    def __bool__(self) -> bool:
        return any(self.values())


COLUMNS = tuple(f.name for f in fields(Counts))
assert Counts(*range(len(COLUMNS))).values() == tuple(range(len(COLUMNS)))
Key = tuple[str, date]  # department, UTC day


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def response_counts(satisfaction: int, effort: int | None) -> Counts:
    if effort is None:
        return Counts(responses=1, satisfied=int(satisfaction >= SATISFIED_FROM))
    return Counts(
        responses=1,
        satisfied=int(satisfaction >= SATISFIED_FROM),
        effort_n=1,
        effort_sum=effort,
        effort_squares=effort * effort,
        easy=int(effort >= EASY_FROM),
    )


@dataclass(frozen=True)
class Contribution:
    """What one prompt and its response (if any) add to the sums."""

    department: str
    sent_at: datetime | None
    answered: bool  # the prompt's answered_at is set
    response_department: str | None = None
    response_at: datetime | None = None  # the response's answered_at: its first answer
    satisfaction: int | None = None
    effort: int | None = None

    def counts(self) -> dict[Key, Counts]:
        result: dict[Key, Counts] = {}
        if self.sent_at is not None:
            key = (self.department, utc_day(self.sent_at))
            result[key] = Counts(delivered=1, answered=int(self.answered))
        if self.response_at is not None and self.satisfaction is not None:
            assert self.response_department is not None
            key = (self.response_department, utc_day(self.response_at))
            result[key] = result.get(key, Counts()) + response_counts(
                self.satisfaction, self.effort
            )
        return result


def change(before: Iterable[Contribution], after: Iterable[Contribution]) -> dict[Key, Counts]:
    """after − before, per department and day, without the days that do not change."""
    delta: dict[Key, Counts] = {}
    for contribution, sign in [(c, -1) for c in before] + [(c, 1) for c in after]:
        for key, counts in contribution.counts().items():
            delta[key] = delta.get(key, Counts()) + (counts if sign > 0 else -counts)
    return {key: counts for key, counts in delta.items() if counts}


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


Target = AsyncSession | AsyncConnection


async def _read(
    connection: AsyncConnection, prompt_ids: Sequence[str], *, lock: bool
) -> dict[str, Contribution]:
    found: dict[str, Contribution] = {}
    for chunk in _chunks(sorted(set(prompt_ids))):
        if lock:
            await tap_rows.lock(connection, chunk)
        query = (
            select(
                Prompt.id,
                Prompt.department,
                Prompt.sent_at,
                Prompt.answered_at,
                Response.department,
                Response.answered_at,
                Response.satisfaction,
                Response.effort,
            )
            .outerjoin(Response, col(Response.prompt_id) == Prompt.id)
            .where(col(Prompt.id).in_(chunk))
        )
        for row in (await connection.execute(query)).all():
            prompt_id, department, sent_at, answered_at, r_department, r_at, sat, effort = row
            found[prompt_id] = Contribution(
                department, sent_at, answered_at is not None, r_department, r_at, sat, effort
            )
    return found


class CountedPrompt(Protocol):
    """What of a prompt is counted: a Prompt, or a row of at least these columns."""

    department: str
    sent_at: datetime | None
    answered_at: datetime | None


class CountedResponse(Protocol):
    """What of a response is counted: a Response, or a row of at least these columns."""

    department: str
    answered_at: datetime
    satisfaction: int
    effort: int | None


def contribution_of(prompt: CountedPrompt, response: CountedResponse | None) -> Contribution:
    if response is None:
        return Contribution(prompt.department, prompt.sent_at, prompt.answered_at is not None)
    return Contribution(
        prompt.department,
        prompt.sent_at,
        prompt.answered_at is not None,
        response.department,
        response.answered_at,
        response.satisfaction,
        response.effort,
    )


async def add(target: Target, delta: Mapping[Key, Counts]) -> None:
    """Adds a change to score_day and score_month, creating the days and months it reaches.
    Rows are locked in one order everywhere (days, then months, each sorted): two transactions
    adding to the same rows wait for each other instead of deadlocking."""
    connection = await connection_of(target)
    await _upsert(connection, ScoreDay, "day", delta)
    await _upsert(connection, ScoreMonth, "month", by_month(delta))


@cache
def _adding(dialect: str, model: Any, unit: str) -> Any:
    """One statement per table, compiled once: the rows come as parameters."""
    insert = insert_for(dialect, model)
    table = model.__table__.c
    return insert.on_conflict_do_update(
        index_elements=["department", unit],
        set_={name: table[name] + insert.excluded[name] for name in COLUMNS},
    )


async def _upsert(
    connection: AsyncConnection, model: Any, unit: str, delta: Mapping[Key, Counts]
) -> None:
    rows = [
        {"department": department, unit: when, **dict(zip(COLUMNS, counts.values(), strict=True))}
        for (department, when), counts in sorted(delta.items())
        if counts
    ]
    if rows:
        statement = _adding(connection.dialect.name, model, unit)
        await connection.execute(statement, rows[0] if len(rows) == 1 else rows)


async def record(target: Target, before: Contribution | None, after: Contribution | None) -> None:
    """Counts the change from `before` (read under the prompt's lock, in this transaction) to
    `after`."""
    await add(target, change([before] if before else [], [after] if after else []))


async def prompt_sent(target: Target, department: str, sent_at: datetime) -> None:
    """Counts a delivery, in the transaction that set the prompt's sent_at. Only a pending
    prompt is delivered, once (its claim's conditional update is what holds the row now), and a
    pending prompt has never been sent and has no answer: before it, it counted for nothing."""
    await add(target, {(department, utc_day(sent_at)): Counts(delivered=1)})


async def forget_contributions(target: Target, prompt_ids: list[str]) -> None:
    """Subtracts exactly what these prompts and their responses count for, in the transaction
    that then deletes them: the prompts stay locked until it commits."""
    connection = await connection_of(target)
    found = await _read(connection, prompt_ids, lock=True)
    await add(connection, change(found.values(), []))


async def count_contributions(target: Target, prompt_ids: list[str]) -> None:
    """Adds what these prompts and their responses count for: for rows written without going
    through the tap and delivery paths (imports, test fixtures), which must not be counted yet."""
    connection = await connection_of(target)
    found = await _read(connection, prompt_ids, lock=True)
    await add(connection, change([], found.values()))


async def stored(session: AsyncSession) -> dict[Key, Counts]:
    """score_day as it is, without days whose sums all came back to zero."""
    rows = (await session.exec(select(ScoreDay))).all()
    found = {
        (row.department, row.day): Counts(*(getattr(row, name) for name in COLUMNS)) for row in rows
    }
    return {key: counts for key, counts in found.items() if counts}


async def stored_months(session: AsyncSession) -> dict[Key, Counts]:
    """score_month as it is, without months whose sums all came back to zero."""
    rows = (await session.exec(select(ScoreMonth))).all()
    found = {
        (row.department, row.month): Counts(*(getattr(row, name) for name in COLUMNS))
        for row in rows
    }
    return {key: counts for key, counts in found.items() if counts}


def by_month(days: Mapping[Key, Counts]) -> dict[Key, Counts]:
    months: dict[Key, Counts] = {}
    for (department, day), counts in days.items():
        key = (department, day.replace(day=1))
        months[key] = months.get(key, Counts()) + counts
    return {key: counts for key, counts in months.items() if counts}


async def recount(session: AsyncSession) -> dict[Key, Counts]:
    """What score_day should hold, counted again from every raw row (for checks: reads all)."""
    prompts = await session.exec(
        select(Prompt.department, Prompt.sent_at, Prompt.answered_at).where(
            col(Prompt.sent_at).is_not(None)
        )
    )
    responses = await session.exec(
        select(Response.department, Response.answered_at, Response.satisfaction, Response.effort)
    )
    contributions = [Contribution(d, sent, answered is not None) for d, sent, answered in prompts]
    contributions += [Contribution(d, None, False, d, at, s, e) for d, at, s, e in responses]
    return change([], contributions)
