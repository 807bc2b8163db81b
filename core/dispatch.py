"""Exactly once across processes: a post is claimed in the database before it is sent and marked
posted after. Whoever inserts the row (or takes over an expired claim with a conditional update)
sends; everyone else leaves it alone. A crash between claim and post delays the post by the
lease but does not lose it; a crash between post and mark can repeat it once (no chat API lets
a send and a database commit happen together). A process that shuts down lets go of the claims
it will not finish, so another one takes them over at once instead of after the lease."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import col, or_, update

from storage.db import Database
from storage.models import Dispatch
from storage.unavailable import while_unavailable
from storage.upsert import insert_for

LEASE = timedelta(minutes=5)
# How long an outcome (posted, failed, retry later) is retried while the database is away: a
# post already sent and not marked would be sent again once the lease ran out.
RECORD_RETRY_SECONDS = 60.0


class DispatchStatus(StrEnum):
    CLAIMED = "claimed"
    POSTED = "posted"
    FAILED = "failed"


@dataclass(frozen=True)
class DispatchKey:
    kind: str
    subject: str
    period: str
    channel: str  # platform:channel id

    def _where(self) -> tuple[object, ...]:
        return (
            col(Dispatch.kind) == self.kind,
            col(Dispatch.subject) == self.subject,
            col(Dispatch.period) == self.period,
            col(Dispatch.channel) == self.channel,
        )


class Dispatches:
    def __init__(self, db: Database, holder: str | None = None) -> None:
        self._db = db
        # Which process holds a claim: marking it posted is only for the holder.
        self.holder = holder or uuid.uuid4().hex
        # Claimed by this process and not finished yet: what a shutdown lets go of.
        self._held: set[DispatchKey] = set()

    async def claim(self, key: DispatchKey, now: datetime, force: bool = False) -> bool:
        """True when this process may send now. `force` takes a posted one again (a re-post
        asked for by hand), but never a live claim of another process."""
        insert = insert_for(self._db.dialect, Dispatch).values(
            kind=key.kind,
            subject=key.subject,
            period=key.period,
            channel=key.channel,
            status=DispatchStatus.CLAIMED,
            claimed_by=self.holder,
            lease_until=now + LEASE,
            attempts=1,
            created_at=now,
        )
        # ON CONFLICT DO NOTHING: a row that exists is the common case, not an error to log.
        async with self._db.transaction() as session:
            created = await session.exec(insert.on_conflict_do_nothing())
        if created.rowcount == 1:  # type: ignore[attr-defined]
            self._held.add(key)
            return True
        takeable = [
            col(Dispatch.status) == DispatchStatus.CLAIMED,
            col(Dispatch.lease_until) < now,
        ]
        condition = (
            or_(col(Dispatch.status) != DispatchStatus.CLAIMED, col(Dispatch.lease_until) < now)
            if force
            else takeable[0] & takeable[1]
        )
        async with self._db.transaction() as session:
            result = await session.exec(
                update(Dispatch)
                .where(*key._where(), condition)
                .values(
                    status=DispatchStatus.CLAIMED,
                    claimed_by=self.holder,
                    lease_until=now + LEASE,
                    attempts=Dispatch.attempts + 1,
                )
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self._held.add(key)
        return True

    async def posted(self, key: DispatchKey, now: datetime, message_ref: str) -> None:
        await self._finish(
            key,
            status=DispatchStatus.POSTED,
            posted_at=now,
            message_ref=message_ref[:200],
            lease_until=None,
            last_error=None,
        )

    async def retry_later(self, key: DispatchKey, error: str, at: datetime) -> None:
        """A transient failure: the claim lapses at `at`, when the next pass takes it again."""
        await self._finish(
            key, status=DispatchStatus.CLAIMED, lease_until=at, last_error=error[:500]
        )

    async def failed(self, key: DispatchKey, error: str) -> None:
        await self._finish(
            key, status=DispatchStatus.FAILED, lease_until=None, last_error=error[:500]
        )

    async def release(self, now: datetime) -> int:
        """Lets go of every claim this process holds and will not finish (it is shutting down
        and its posts in flight were cut off): their lease ends now, so the next pass of any
        other process takes them over. Returns how many were released."""
        held, self._held = self._held, set()
        if not held:
            return 0
        async with self._db.transaction() as session:
            for key in held:
                await session.exec(
                    update(Dispatch)
                    .where(
                        *key._where(),
                        col(Dispatch.claimed_by) == self.holder,
                        col(Dispatch.status) == DispatchStatus.CLAIMED,
                    )
                    .values(lease_until=now)
                )
        return len(held)

    async def _finish(self, key: DispatchKey, **values: object) -> None:
        async def write() -> None:
            async with self._db.transaction() as session:
                await session.exec(
                    update(Dispatch)
                    .where(*key._where(), col(Dispatch.claimed_by) == self.holder)
                    .values(**values)
                )

        # Repeating it is harmless: it sets the same values on the row this process holds.
        await while_unavailable(write, within=RECORD_RETRY_SECONDS, what=f"recording {key.kind}")
        self._held.discard(key)
