"""Delivering prompts: rows are committed first, then a sender claims due rows, delivers them
through the platform's Messenger, and records the outcome. Transient failures (HTTP 5xx, network
errors, 429 with Retry-After) are retried with backoff until the prompt expires, so an outage
delays prompts but loses none; permanent ones are marked failed with the error. A restarted
process resumes whatever is still pending."""

import asyncio
import logging
import random
from datetime import datetime, timedelta

from sqlmodel import col, or_, select, update

from core.context import Icx
from core.domain import PromptStatus
from core.i18n import negotiate
from core.ports import DeliveryError, Messenger, PromptView
from storage.models import Interaction, Prompt

log = logging.getLogger(__name__)

# Longer than one send can take (the Slack client times out after 30 s): a batch is no larger
# than the sends that run at once, so no claimed row waits in a queue while its lease runs out.
LEASE = timedelta(seconds=120)
MAX_BACKOFF = 600.0
IDLE_POLL = 5.0


def backoff(attempts: int) -> float:
    """Exponential with full jitter, so many failures do not retry in lockstep."""
    return random.uniform(0.5, 1.0) * min(MAX_BACKOFF, 2.0**attempts)


class Outbox:
    def __init__(self, icx: Icx, messengers: dict[str, Messenger], concurrency: int = 8) -> None:
        self._icx = icx
        self._messengers = messengers
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        # A platform-wide rate limit holds back that platform's sends, not the others'.
        self._paused_until: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="icx-outbox")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the pass, not after: a prompt committed during the pass sets it
            # again, and the wait below returns at once instead of sleeping past it.
            self._wake.clear()
            try:
                delivered = await self.drain_once()
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                delivered = 0
            if delivered == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait())
                except TimeoutError:
                    pass

    def _idle_wait(self) -> float:
        now = self._icx.clock()
        pauses = [(until - now).total_seconds() for until in self._paused_until.values()]
        return max(0.05, min([IDLE_POLL, *(p for p in pauses if p > 0)]))

    async def drain_once(self, limit: int | None = None) -> int:
        """Claims and delivers up to `limit` due prompts (at most the concurrency) at once;
        returns how many were claimed."""
        now = self._icx.clock()
        paused = tuple(p for p in self._paused_until if self._paused(p, now))
        size = min(limit or self._concurrency, self._concurrency)
        claimed = await self._claim(now, size, paused)
        lease = now + LEASE
        await asyncio.gather(*(self._deliver(prompt_id, lease) for prompt_id in claimed))
        return len(claimed)

    def _paused(self, platform: str, now: datetime) -> bool:
        until = self._paused_until.get(platform)
        return until is not None and now < until

    async def _claim(self, now: datetime, limit: int, paused: tuple[str, ...] = ()) -> list[str]:
        due = (
            col(Prompt.status) == PromptStatus.PENDING,
            col(Prompt.platform).not_in(paused),
            or_(col(Prompt.next_attempt_at).is_(None), col(Prompt.next_attempt_at) <= now),
            or_(col(Prompt.lease_until).is_(None), col(Prompt.lease_until) < now),
        )
        async with self._icx.db.session() as session:
            candidates = (
                await session.exec(
                    select(Prompt.id).where(*due).order_by(col(Prompt.created_at)).limit(limit)
                )
            ).all()
        claimed = []
        # A conditional update per row is the claim: of several senders sharing one database
        # (replicas), exactly one sees a changed row.
        async with self._icx.db.transaction() as session:
            for prompt_id in candidates:
                result = await session.exec(
                    update(Prompt)
                    .where(col(Prompt.id) == prompt_id, *due)
                    .values(lease_until=now + LEASE)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(prompt_id)
        return claimed

    async def _deliver(self, prompt_id: str, lease: datetime) -> None:
        async with self._icx.db.session() as session:
            row = (
                await session.exec(
                    select(Prompt, Interaction)
                    .join(Interaction, col(Interaction.id) == Prompt.interaction_id)
                    .where(Prompt.id == prompt_id)
                )
            ).first()
        if row is None:
            return
        prompt, interaction = row
        finish = _Finisher(self._icx, prompt_id, lease)
        now = self._icx.clock()
        if now >= prompt.expires_at:
            await finish(status=PromptStatus.EXPIRED, erase=True)
            return
        if self._paused(prompt.platform, now):
            # Another send of this batch hit a rate limit: wait it out without an attempt.
            await finish(
                status=PromptStatus.PENDING, next_attempt_at=self._paused_until[prompt.platform]
            )
            return
        messenger = self._messengers.get(prompt.platform)
        department = self._icx.company.department(prompt.department)
        if messenger is None or department is None or prompt.recipient_address is None:
            why = (
                "no messenger for platform"
                if messenger is None
                else "department or recipient missing"
            )
            await finish(status=PromptStatus.FAILED, error=why, erase=True)
            return
        view = PromptView(
            prompt_id=prompt.id,
            recipient=prompt.recipient_address,
            locale=negotiate(prompt.locale, department.locale),
            department=department,
            service=department.service(prompt.service),
            provider=interaction.provider_ref,
            snooze_days=self._icx.company.policy.snooze_days,
        )
        try:
            ref = await messenger.deliver_prompt(view)
        except DeliveryError as error:
            await self._failed_attempt(prompt, error, finish)
            return
        except Exception as error:  # a bug or an unexpected transport error: retry, log
            log.exception("unexpected error delivering prompt %s", prompt_id)
            await self._failed_attempt(prompt, DeliveryError(type(error).__name__), finish)
            return
        sent_at = self._icx.clock()
        await finish(
            status=PromptStatus.SENT,
            channel_id=ref.channel_id,
            # No id (a platform that returned none) means taps cannot be matched to a copy.
            message_ts=ref.message_ts or None,
            sent_at=sent_at,
            expires_at=sent_at + self._icx.company.policy.expiry,
            attempts=prompt.attempts + 1,
            last_error=None,
        )

    async def _failed_attempt(
        self, prompt: Prompt, error: DeliveryError, finish: "_Finisher"
    ) -> None:
        attempts = prompt.attempts + 1
        message = str(error)[:500]
        if error.permanent:
            log.warning("prompt %s failed: %s", prompt.id, message)
            await finish(status=PromptStatus.FAILED, error=message, attempts=attempts, erase=True)
            return
        now = self._icx.clock()
        if error.retry_after is not None:
            # Jitter, so prompts held back together do not all retry in the same instant.
            delay = error.retry_after + random.uniform(0.0, min(1.0, error.retry_after / 4))
            if error.platform_wide:
                until = now + timedelta(seconds=delay)
                self._paused_until[prompt.platform] = max(
                    self._paused_until.get(prompt.platform, until), until
                )
        else:
            delay = backoff(attempts)
        # Retried until the prompt expires (housekeeping or the next claim marks it expired).
        await finish(
            status=PromptStatus.PENDING,
            error=message,
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
        )


class _Finisher:
    """Records the outcome of one claimed delivery, only while the claim is still ours: if the
    lease ran out and another sender took the row over, its outcome stands."""

    def __init__(self, icx: Icx, prompt_id: str, lease: datetime) -> None:
        self._icx = icx
        self._prompt_id = prompt_id
        self._lease = lease

    async def __call__(
        self,
        *,
        status: PromptStatus,
        error: str | None = None,
        erase: bool = False,
        **values: object,
    ) -> None:
        changes: dict[str, object] = {"status": status, "lease_until": None, **values}
        if error is not None:
            changes["last_error"] = error
        if erase:
            changes.update(
                recipient_address=None,
                channel_id=None,
                message_ts=None,
                erased_at=self._icx.clock(),
            )
        async with self._icx.db.transaction() as session:
            result = await session.exec(
                update(Prompt)
                .where(col(Prompt.id) == self._prompt_id, col(Prompt.lease_until) == self._lease)
                .values(**changes)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("prompt %s: claim lost before its outcome was recorded", self._prompt_id)
