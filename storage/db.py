"""Engine and session creation for SQLite (WAL) and PostgreSQL through one code path."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel.ext.asyncio.session import AsyncSession

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",  # what Heroku-style URLs say
}


# PostgreSQL that does not answer must cost a request seconds, not minutes: Slack gives up on
# an answer after 3 s, so a connect or a free pooled connection is waited for less than that
# (the request then gets a 503 and Slack shows an error, instead of a timeout). Both take
# milliseconds normally. A statement on a server gone silent mid-query (no TCP reset) gives
# its connection back after COMMAND_TIMEOUT, far above the longest statement icx runs.
CONNECT_TIMEOUT = 2.5
POOL_TIMEOUT = 2.5
COMMAND_TIMEOUT = 120.0


async def connection_of(target: AsyncSession | AsyncConnection) -> AsyncConnection:
    """The connection under a session (its pending changes written first, so that statements
    on the connection see them), or the connection itself."""
    if isinstance(target, AsyncConnection):
        return target
    await target.flush()
    return await target.connection()


class UnsupportedDatabase(ValueError):
    pass


def async_url(url: str) -> sa.URL:
    """Accept the URLs people write (sqlite:///x.db, postgresql://…) and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise UnsupportedDatabase(
            f"unsupported database {backend!r}: use sqlite:///path.db or postgresql://user@host/db"
        )
    return parsed.set(drivername=_ASYNC_DRIVERS[backend])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (score queries) run while a tap commits; NORMAL is durable in WAL mode
    # except for the last transactions on power loss, not on process crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, **kwargs)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # A pooled connection is checked before use, so one broken by a database restart or a
    # failover is replaced instead of failing the request that drew it.
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", POOL_TIMEOUT)
    connect_args = {"timeout": CONNECT_TIMEOUT, "command_timeout": COMMAND_TIMEOUT}
    kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    return create_async_engine(target, **kwargs)


class WriteTurns:
    """SQLite has one writer at a time. Writers of one process that find the database locked
    wait in SQLite's busy handler, which sleeps in steps of up to 100 ms and gives up with
    "database is locked" after busy_timeout; taking turns here first, in arrival order, leaves
    the handler to writers in other processes (the CLI, a second server). Re-entered by the
    task that holds it, so a transaction opened inside another one behaves as without it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            yield
            return
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None


class _NoTurns:
    """PostgreSQL writers lock rows, not the database: nothing to take turns for."""

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        yield


class Database:
    """The engine plus a session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._writers = WriteTurns() if self.dialect == "sqlite" else _NoTurns()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        async with self._writers.turn(), self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """Like transaction(), for SQL statements without the ORM: a hot path's few statements
        cost about half as much CPU this way."""
        async with self._writers.turn(), self.engine.begin() as connection:
            yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()
