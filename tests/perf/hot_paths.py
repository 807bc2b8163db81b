"""CPU per operation of the core's hot paths, in one process, without HTTP or Slack: where a
request's time goes (the scenarios measure whole requests from outside).

    python -m tests.perf.hot_paths [--database sqlite|postgresql|both] [--count N]

Operations, each `--count` times with 16 at once, on a fresh database: recording an interaction
(core.intake.record_interaction, its directory look-up answered in memory), delivering its
prompt (the outbox's loop: claim, send to an in-memory messenger, outcome, sums), and a
satisfaction then an effort tap (core.answers). The figure is this process's CPU time per
operation (the database's included on SQLite, PostgreSQL's server not), next to wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlmodel import col, func, select

from core.answers import Answers, Tap
from core.context import Icx
from core.intake import InteractionIn, PersonIn, record_interaction
from core.outbox import Outbox
from core.ports import Person
from storage.db import Database
from storage.models import Prompt
from tests.conftest import COMPANY, parse_company
from tests.perf.databases import chosen, fresh_database
from tests.perf.report import Table, emit
from tests.perf.scenario import context
from tests.test_aggregates import BASE, Clock, Messenger, icx_on

AT_ONCE = 16
DELIVERY_LIMIT = 600.0  # seconds: a stuck outbox fails the run instead of hanging it


class Directory:
    """Everyone exists and is reachable: the look-up costs nothing here."""

    platform = "slack"
    knows_everyone = True

    async def by_id(self, user_id: str) -> Person | None:
        return Person("slack", user_id)

    async def by_email(self, email: str) -> Person | None:
        return None


async def timed(count: int, one: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """CPU and wall milliseconds per operation, `AT_ONCE` running at a time."""
    places = asyncio.Semaphore(AT_ONCE)

    async def run(index: int) -> None:
        async with places:
            await one(index)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run(index) for index in range(count)))
    return (time.process_time() - cpu) * 1000 / count, (time.perf_counter() - wall) * 1000 / count


async def deliver_all(icx: Icx, count: int) -> tuple[float, float]:
    outbox = Outbox(icx, {"slack": Messenger()}, concurrency=AT_ONCE)
    cpu, wall = time.process_time(), time.perf_counter()
    outbox.start()
    sent, deadline = 0, time.monotonic() + DELIVERY_LIMIT
    while sent < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the outbox delivered {sent} of {count} in {DELIVERY_LIMIT:g} s")
        await asyncio.sleep(0.02)
        async with icx.db.session() as session:
            query = select(func.count()).where(col(Prompt.status) == "sent")
            sent = (await session.exec(query)).one()
    used = (time.process_time() - cpu) * 1000 / count, (time.perf_counter() - wall) * 1000 / count
    await outbox.stop()
    return used


async def measure(url: str, count: int) -> dict[str, tuple[float, float]]:
    db = Database(url)
    try:
        icx = icx_on(db, parse_company(COMPANY), Clock(BASE))
        icx.directories["slack"] = Directory()
        users = [f"U{index:07d}" for index in range(count)]
        requests = [
            InteractionIn(
                department="finance",
                requester=PersonIn(slack_user_id=user),
                source="hot-paths",
                reference=f"R{index}",
            )
            for index, user in enumerate(users)
        ]
        ids: list[str] = [""] * count

        async def intake(index: int) -> None:
            outcome = await record_interaction(icx, requests[index])
            assert outcome.prompt_id is not None and outcome.status == "scheduled", outcome
            ids[index] = outcome.prompt_id

        found = {"intake": await timed(count, intake)}
        found["delivery"] = await deliver_all(icx, count)
        answers = Answers(icx)
        icx.clock.now = BASE + timedelta(minutes=1)  # type: ignore[attr-defined]

        async def satisfaction(index: int) -> None:
            assert (await answers.satisfaction(Tap("slack", users[index], ids[index]), 4)).recorded

        async def effort(index: int) -> None:
            assert (await answers.effort(Tap("slack", users[index], ids[index]), 6)).recorded

        found["satisfaction tap"] = await timed(count, satisfaction)
        found["effort tap"] = await timed(count, effort)
        return found
    finally:
        await db.dispose()


async def run(kinds: tuple[str, ...], count: int) -> None:
    for kind in kinds:
        async with fresh_database(kind) as fresh:
            found = await measure(fresh.url, count)
        data = f"{count} people, each asked once and answering twice"
        table = Table(
            f"Hot paths in one process: {count} of each, {AT_ONCE} at once",
            context=context(fresh, data),
            baseline_name="",
        )
        for label, (cpu, wall) in found.items():
            table.add(f"{label}: CPU ms per operation", cpu)
            table.add(f"{label}: wall ms per operation", wall)
        emit(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.hot_paths", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--count", type=int, default=2000, help="operations of each kind")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be positive")
    asyncio.run(run(chosen(args.database), args.count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
