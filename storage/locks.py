"""Database-wide locks that serialise work across processes sharing one PostgreSQL."""

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


async def lock_for_transaction(session: AsyncSession, dialect: str, key: str) -> None:
    """Held until the transaction ends. SQLite runs one process (documented), where the
    caller's in-process lock is enough."""
    if dialect == "postgresql":
        await session.exec(  # type: ignore[call-overload]
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))").bindparams(key=key)
        )
