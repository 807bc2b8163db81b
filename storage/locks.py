"""Database-wide locks that serialise work across processes sharing one PostgreSQL."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import connection_of

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def lock_for_transaction(
    target: AsyncSession | AsyncConnection, dialect: str, key: str
) -> None:
    """Held until the transaction ends. SQLite runs one process (documented), where the
    caller's in-process lock is enough."""
    if dialect == "postgresql":
        connection = await connection_of(target)
        await connection.execute(_ADVISORY_LOCK, {"key": key})
