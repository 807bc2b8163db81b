"""The pieces the fault tests rely on, checked directly: telling a database outage from other
errors, and a stopping process finishing its digest posts or letting go of their claims."""

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from bots.runtime import Runtime, RuntimeOptions
from core.config import Config
from core.departments import Company
from core.digester import Outcome
from core.dispatch import Dispatches, DispatchKey
from storage.db import Database
from storage.unavailable import is_unavailable, while_unavailable
from tests.conftest import settings_for
from tests.faults.servers import free_port
from tests.faults.slack import FaultySlack

KEY = DispatchKey("digest", "finance", "2026-W46", "slack:C0FINANCE1")


async def test_a_refused_database_connection_counts_as_unavailable() -> None:
    db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        with pytest.raises(Exception) as caught:
            async with db.session() as session:
                await session.exec(sa.text("SELECT 1"))  # type: ignore[call-overload]
    finally:
        await db.dispose()
    assert isinstance(caught.value, OSError)  # SQLAlchemy does not wrap a failed connect
    assert is_unavailable(caught.value)


def test_other_failures_are_not_an_outage() -> None:
    assert is_unavailable(OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert not is_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_unavailable(ValueError("a bug"))
    # The same kinds of error from a chat platform's HTTP client are the platform's problem.
    assert not is_unavailable(aiohttp.ClientOSError(104, "reset"))
    assert not is_unavailable(ConnectionRefusedError(111, "refused"))
    assert not is_unavailable(TimeoutError())


async def test_a_write_is_retried_while_the_database_is_away_and_nothing_else() -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("UPDATE", {}, Exception("the database system is starting up"))
        return "recorded"

    assert await while_unavailable(flaky, within=5, what="a test", pause=0.01) == "recorded"
    assert len(attempts) == 3

    async def broken() -> None:
        raise ValueError("a bug is not retried")

    with pytest.raises(ValueError):
        await asyncio.wait_for(while_unavailable(broken, within=5, what="a test"), 1)


async def test_a_released_claim_is_taken_over_at_once(db: Database) -> None:
    now = datetime.now(UTC)
    stopping, other = Dispatches(db, "stopping"), Dispatches(db, "other")
    assert await stopping.claim(KEY, now)
    assert not await other.claim(KEY, now + timedelta(seconds=1))  # a live claim is respected
    assert await stopping.release(now + timedelta(seconds=2)) == 1
    assert await other.claim(KEY, now + timedelta(seconds=3))
    # Only claims still held are released: a posted one is not taken again.
    await other.posted(KEY, now + timedelta(seconds=4), "C0FINANCE1/1.0")
    assert await other.release(now + timedelta(seconds=5)) == 0
    assert not await stopping.claim(KEY, now + timedelta(seconds=6))


async def test_stopping_the_scheduler_lets_a_post_in_flight_finish(
    db: Database, slack: FaultySlack, company: Company
) -> None:
    runtime = Runtime(Config(settings_for(db.url, slack), company), RuntimeOptions())
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_due() -> list[Outcome]:
        started.set()
        await asyncio.sleep(0.5)  # a digest being posted
        finished.set()
        return []

    runtime.scheduler.due = slow_due  # type: ignore[method-assign]
    await runtime.start()  # the due pass runs at once
    try:
        await asyncio.wait_for(started.wait(), 10)
        await runtime.scheduler.stop(within=5)
        assert finished.is_set(), "the post in flight was cut off"
    finally:
        await runtime.stop()
