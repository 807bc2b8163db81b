"""storage.db's write transactions and the tap's statements (storage.tap_rows): SQLite writers of
one process take turns, a transaction opened inside another by the same task does not wait for
itself, and a tap cannot set a column that does not exist."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage import tap_rows
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OptOut

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def test_sqlite_writers_of_one_process_take_turns(tmp_path: Path) -> None:
    # PostgreSQL writers lock rows, not the database: they need no turns.
    db = Database(f"sqlite:///{tmp_path / 'turns.db'}")
    await upgrade(db.engine)
    inside, most = 0, 0

    async def write(index: int) -> None:
        nonlocal inside, most
        async with db.transaction() as session:
            inside += 1
            most = max(most, inside)
            session.add(OptOut(respondent_key=f"k{index}", until=NOW, created_at=NOW))
            await session.flush()
            await asyncio.sleep(0.005)  # others would start their transactions meanwhile
            inside -= 1

    try:
        await asyncio.gather(*(write(index) for index in range(20)))
        assert most == 1
        async with db.engine.connect() as connection:
            written = await connection.execute(OptOut.__table__.select())  # type: ignore[attr-defined]
            assert len(written.all()) == 20
    finally:
        await db.dispose()


async def test_a_transaction_inside_another_of_the_same_task_does_not_wait_for_it(
    db: Database,
) -> None:
    async def nested() -> None:
        async with db.transaction(), db.connection() as connection:
            await connection.execute(OptOut.__table__.select())  # type: ignore[attr-defined]

    await asyncio.wait_for(nested(), timeout=10)


async def test_a_tap_cannot_set_a_column_that_does_not_exist(db: Database) -> None:
    async with db.connection() as connection:
        with pytest.raises(ValueError, match="efort"):
            await tap_rows.update_response(connection, "p" * 32, {"efort": 3})
