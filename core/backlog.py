"""What the database says about work in progress, for /metrics: prompts by status, the outbox's
depth and how long its oldest due prompt has waited, and posts (digests, alerts) by kind and
status. Read at scrape time rather than counted in memory, so every replica reports the same
numbers and a restart loses none; cached for a few seconds, so a burst of scrapes costs one
query, and bounded by a short timeout, so a slow database cannot hang a scrape."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, or_, select

from core.domain import PromptStatus
from storage.db import Database
from storage.models import Dispatch, Prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backlog:
    prompts: dict[str, int]  # status -> count
    due: int  # pending prompts whose next attempt is now or past
    oldest_due_age: float  # seconds since the oldest due prompt was created; 0 when none
    dispatches: dict[tuple[str, str], int]  # (kind, status) -> count

    @property
    def pending(self) -> int:
        return self.prompts.get(PromptStatus.PENDING, 0)


async def read_backlog(db: Database, now: datetime) -> Backlog:
    due = (
        col(Prompt.status) == PromptStatus.PENDING,
        # A prompt scheduled for later (a grace period, a retry's backoff) is not waiting yet.
        or_(col(Prompt.next_attempt_at).is_(None), col(Prompt.next_attempt_at) <= now),
    )
    async with db.session() as session:
        by_status = (
            await session.exec(select(Prompt.status, func.count()).group_by(col(Prompt.status)))
        ).all()
        count, oldest = (
            await session.exec(select(func.count(), func.min(Prompt.created_at)).where(*due))
        ).one()
        posts = (
            await session.exec(
                select(Dispatch.kind, Dispatch.status, func.count()).group_by(
                    col(Dispatch.kind), col(Dispatch.status)
                )
            )
        ).all()
    return Backlog(
        prompts={status: n for status, n in by_status},
        due=count,
        oldest_due_age=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        dispatches={(kind, status): n for kind, status, n in posts},
    )


class BacklogReader:
    """`read_backlog` with a cache and a timeout; None when the database did not answer."""

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        ttl: float = 5.0,
        timeout: float = 2.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._value: Backlog | None = None
        self._read_at: float | None = None

    async def get(self) -> Backlog | None:
        async with self._lock:  # concurrent scrapes wait for one query instead of each running it
            fresh = self._read_at is not None and time.monotonic() - self._read_at < self._ttl
            if not fresh:
                try:
                    self._value = await asyncio.wait_for(
                        read_backlog(self._db, self._clock()), self._timeout
                    )
                except Exception as error:  # shown as icx_backlog_query_ok 0, the scrape works
                    log.warning("backlog query for /metrics failed: %s", type(error).__name__)
                    self._value = None
                # A failure is cached too: a database that is down does not slow every scrape.
                self._read_at = time.monotonic()
            return self._value
