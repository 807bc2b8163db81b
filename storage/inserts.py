"""Inserting one model instance on a plain connection, with a statement built once per table:
for hot paths, where the ORM's unit of work would cost more than the insert itself."""

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel


@cache
def _inserting(table: sa.Table, returning: str | None) -> Any:
    insert = table.insert()
    return insert.returning(table.c[returning]) if returning else insert


async def insert_row(
    connection: AsyncConnection, row: SQLModel, returning: str | None = None
) -> Any:
    """Inserts every column of `row` (a generated key left out while it is None); returns the
    `returning` column's value as written, e.g. that key."""
    table: sa.Table = type(row).__table__  # type: ignore[attr-defined]
    values = {
        column.name: getattr(row, column.name)
        for column in table.columns
        if not (column.primary_key and getattr(row, column.name) is None)
    }
    result = await connection.execute(_inserting(table, returning), values)
    return result.scalar_one() if returning else None
