"""Every row of every table, read the same way on SQLite and PostgreSQL: for tests that must show
that a request changed nothing (or exactly what it should), including tables added later."""

from typing import Any

from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table in SQLModel.metadata)
from storage.db import Database

Rows = dict[str, list[dict[str, Any]]]
# Alembic's own bookkeeping is not icx's data.
IGNORED = {"alembic_version"}


async def all_rows(db: Database) -> Rows:
    """Each table's rows as plain dicts, in primary-key order."""
    found: Rows = {}
    async with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in IGNORED:
                continue
            query = table.select().order_by(*table.primary_key.columns)
            rows = (await connection.execute(query)).mappings().all()
            found[table.name] = [dict(row) for row in rows]
    return found


async def counts(db: Database) -> dict[str, int]:
    return {name: len(rows) for name, rows in (await all_rows(db)).items()}


def sums_tables() -> set[str]:
    """The maintained sums behind the scores (score_day, …): they change with every answer."""
    return {t.name for t in SQLModel.metadata.sorted_tables if t.name.startswith("score_")}
