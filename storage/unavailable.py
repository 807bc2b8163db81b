"""Telling "the database cannot answer right now" (stopped, restarting, unreachable, out of
connections, locked) from every other failure, and waiting such a moment out for a write that
must not be lost. One place knows the drivers' ways of saying it, so callers do not."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import asyncpg
import sqlalchemy.exc as sa_exc

log = logging.getLogger(__name__)

T = TypeVar("T")

# asyncpg errors meaning "no usable connection now": the server refuses new connections while it
# starts or stops, has none left, or the connection broke mid-statement.
_DRIVER_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # refused, broken, or gone mid-statement
    # Admin or crash shutdown, "the database system is starting up", a statement timeout.
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # e.g. "connection is closed"
)
_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def is_unavailable(error: BaseException) -> bool:
    """True for a failure that says nothing about the request, only that the database cannot
    be reached or used at this moment: worth a 503 and a retry, not a 500."""
    return any(_says_unavailable(link) for link in _causes(error))


def _causes(error: BaseException) -> list[BaseException]:
    """The error and what it wraps: SQLAlchemy's error, the DB-API adapter's, the driver's
    (a generic wrapper may carry a telling cause, e.g. "the database system is starting up")."""
    chain = [error]
    while len(chain) < 5:
        link = chain[-1]
        inner = link.orig if isinstance(link, sa_exc.DBAPIError) else None
        inner = inner if isinstance(inner, BaseException) else link.__cause__
        if inner is None or inner in chain:
            break
        chain.append(inner)
    return chain


def _says_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        # OperationalError: lost connection, server shutting down, SQLite busy ("database is
        # locked" after busy_timeout); InterfaceError: a closed connection was used.
        return error.connection_invalidated or isinstance(
            error, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    if isinstance(error, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # the pool had no connection to give within its timeout
    if isinstance(error, _DRIVER_UNAVAILABLE):
        return True
    # Connecting is not wrapped by SQLAlchemy: a refused or timed-out connect surfaces as the
    # plain OSError / TimeoutError of the socket. Only those raised inside the database stack
    # count, not one from a chat platform's HTTP client.
    if isinstance(error, OSError | TimeoutError):
        return _raised_in_database_stack(error.__traceback__)
    return False


def _raised_in_database_stack(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DATABASE_MODULES):
            return True
        traceback = traceback.tb_next
    return False


async def while_unavailable(
    write: Callable[[], Awaitable[T]], *, within: float, what: str, pause: float = 0.5
) -> T:
    """Runs `write`, retrying it while the database is unavailable, for up to `within`
    seconds. For a write that records something already done outside the database (a message
    sent): giving up would make it be done again. `write` must be safe to repeat (a
    conditional update, an upsert): a commit whose answer was lost may have happened."""
    deadline = time.monotonic() + within
    delay = pause
    while True:
        try:
            return await write()
        except Exception as error:
            left = deadline - time.monotonic()
            if not is_unavailable(error) or left <= 0:
                raise
            log.warning(
                "database unavailable while %s (%s); retrying for up to %.0f s",
                what,
                type(error).__name__,
                left,
            )
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
