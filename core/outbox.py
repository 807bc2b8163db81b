"""Delivering prompts: rows are committed first, then a sender claims due rows, delivers them
through the platform's Messenger, and records the outcome. Transient failures (HTTP 5xx, network
errors, 429 with Retry-After) are retried with backoff until the prompt expires, so an outage
delays prompts but loses none; permanent ones are marked failed with the error. A restarted
process resumes whatever is still pending."""

import asyncio
import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import col, func, or_, select, update

from core.context import Icx
from core.domain import PromptStatus
from core.i18n import negotiate
from core.pacing import Pacer, RecipientSpacing
from core.ports import DeliveryError, Messenger, PromptView
from storage import aggregates
from storage.models import Interaction, Prompt
from storage.unavailable import while_unavailable

log = logging.getLogger(__name__)

# Longer than one send can take (the Slack client times out after 30 s): a batch is no larger
# than the sends that run at once, so no claimed row waits in a queue while its lease runs out.
LEASE = timedelta(seconds=120)
MAX_BACKOFF = 600.0
IDLE_POLL = 5.0
# Sends in flight at once, per process.
CONCURRENCY = 16
# A paced send waits this long at most for its slot while holding a place in the pool; a longer
# wait puts the prompt back (without an attempt) so that the place serves another platform.
MAX_PACING_WAIT = 0.5


# A claimed prompt, as leased, and its interaction's provider.
Claimed = tuple[Prompt, str | None]


def backoff(attempts: int) -> float:
    """Exponential with full jitter, so many failures do not retry in lockstep."""
    return random.uniform(0.5, 1.0) * min(MAX_BACKOFF, 2.0**attempts)


class Outbox:
    def __init__(
        self, icx: Icx, messengers: dict[str, Messenger], concurrency: int = CONCURRENCY
    ) -> None:
        self._icx = icx
        self._messengers = messengers
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        # A platform-wide rate limit holds back that platform's sends, not the others'.
        self._paused_until: dict[str, datetime] = {}
        # The background loop spaces each platform's sends at the rate its 429s taught
        # (core.pacing), and each recipient's at the interval its messenger asks for.
        self._pacers = {platform: Pacer() for platform in messengers}
        self._spacing = {
            platform: RecipientSpacing(interval)
            for platform, messenger in messengers.items()
            if (interval := float(getattr(messenger, "recipient_interval", 0.0))) > 0
        }
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="icx-outbox")

    @property
    def running(self) -> bool:
        """For readiness: the delivery loop is started and has not ended."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        """A bounded pool of sends: as soon as places free up, the next due prompts take them,
        so a slow send (or a rate-limited one) holds back only itself, never a batch."""
        sending: set[asyncio.Task[None]] = set()
        # Claimed a few at a time, so that a claim's round trips serve several sends.
        batch = max(1, self._concurrency // 4)
        while not self._stopping:
            # Cleared before the claim, not after: a prompt committed meanwhile sets it again,
            # and the wait below returns at once instead of sleeping past it.
            self._wake.clear()
            free = self._concurrency - len(sending)
            claimed: list[Claimed] = []
            if free >= batch or not sending:
                now = self._icx.clock()
                try:
                    claimed = await self._claim_rows(now, free, self._held(now))
                except Exception:
                    log.exception("outbox claim failed; retrying shortly")
                for prompt, provider in claimed:
                    task = asyncio.create_task(self._deliver_logged(prompt, provider, now + LEASE))
                    sending.add(task)
                    task.add_done_callback(sending.discard)
            if self._stopping:
                break
            if free >= batch and len(claimed) < free:
                # Nothing more is due: sleep until a prompt is committed, a pause ends, a retry
                # comes due, or the poll (another replica's prompts).
                try:
                    idle = await self._idle_wait()
                except Exception:
                    log.exception("outbox could not look for due prompts; retrying shortly")
                    idle = IDLE_POLL
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
                except TimeoutError:
                    pass
            else:
                # (Nearly) every place is taken: wait for one to free up.
                await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
        if sending:
            await asyncio.wait(sending)

    async def _deliver_logged(self, prompt: Prompt, provider: str | None, lease: datetime) -> None:
        try:
            await self._deliver(prompt, provider, lease, paced=True)
        except Exception:
            # The lease runs out and a later claim takes the prompt over.
            log.exception("delivering prompt %s failed; it is retried after its lease", prompt.id)

    def _held(self, now: datetime) -> tuple[str, ...]:
        """Platforms not to claim for now: paused by a 429, or paced beyond a short wait."""
        paused = {p for p in self._paused_until if self._paused(p, now)}
        paced = {p for p, pacer in self._pacers.items() if pacer.delay() > MAX_PACING_WAIT}
        return tuple(sorted(paused | paced))

    async def _idle_wait(self) -> float:
        """Seconds until something may be due: a retry or a put-back prompt (the database
        knows, whichever replica scheduled it), a pause's or the pacer's end, or the poll."""
        now = self._icx.clock()
        async with self._icx.db.session() as session:
            retry = (
                await session.exec(
                    select(func.min(Prompt.next_attempt_at)).where(
                        col(Prompt.status) == PromptStatus.PENDING,
                        col(Prompt.next_attempt_at) > now,
                    )
                )
            ).one()
        moments = [*self._paused_until.values(), *([retry] if retry is not None else [])]
        waits = [(moment - now).total_seconds() for moment in moments]
        waits += [pacer.delay() for pacer in self._pacers.values()]
        return max(0.05, min([IDLE_POLL, *(w for w in waits if w > 0)]))

    async def drain_once(self, limit: int | None = None) -> int:
        """Claims and delivers up to `limit` due prompts (at most the concurrency) at once,
        unpaced; returns how many were claimed."""
        now = self._icx.clock()
        paused = tuple(p for p in self._paused_until if self._paused(p, now))
        size = min(limit or self._concurrency, self._concurrency)
        claimed = await self._claim_rows(now, size, paused)
        lease = now + LEASE
        await asyncio.gather(*(self._deliver(p, provider, lease) for p, provider in claimed))
        return len(claimed)

    def _paused(self, platform: str, now: datetime) -> bool:
        until = self._paused_until.get(platform)
        return until is not None and now < until

    async def _claim(self, now: datetime, limit: int, paused: tuple[str, ...] = ()) -> list[str]:
        return [prompt.id for prompt, _ in await self._claim_rows(now, limit, paused)]

    async def _claim_rows(
        self, now: datetime, limit: int, paused: tuple[str, ...] = ()
    ) -> list[Claimed]:
        """Leases up to `limit` due prompts, oldest first: the rows as leased, each with its
        interaction's provider (what the message names)."""
        due = (
            col(Prompt.status) == PromptStatus.PENDING,
            col(Prompt.platform).not_in(paused),
            or_(col(Prompt.next_attempt_at).is_(None), col(Prompt.next_attempt_at) <= now),
            or_(col(Prompt.lease_until).is_(None), col(Prompt.lease_until) < now),
        )
        oldest = select(Prompt.id).where(*due).order_by(col(Prompt.created_at)).limit(limit)
        # One conditional update is the claim: of several senders sharing one database
        # (replicas), exactly one changes each row (the conditions are checked again on the
        # row it locks), and RETURNING gives this one the rows it got, as they now are.
        async with self._icx.db.transaction() as session:
            prompts = (
                (
                    await session.exec(
                        update(Prompt)
                        .where(col(Prompt.id).in_(oldest.scalar_subquery()), *due)
                        .values(lease_until=now + LEASE)
                        .returning(Prompt)
                    )
                )
                .scalars()
                .all()
            )
            if not prompts:
                return []
            providers = dict(
                (
                    await session.exec(
                        select(Interaction.id, Interaction.provider_ref).where(
                            col(Interaction.id).in_({p.interaction_id for p in prompts})
                        )
                    )
                ).all()
            )
        prompts = sorted(prompts, key=lambda p: p.created_at)
        return [(p, providers.get(p.interaction_id)) for p in prompts]

    async def _deliver(
        self, prompt: Prompt, provider: str | None, lease: datetime, paced: bool = False
    ) -> None:
        """Sends one claimed prompt and records the outcome. `paced` (the background loop):
        first wait for the platform's and the recipient's turn."""
        prompt_id = prompt.id
        finish = _Finisher(self._icx, prompt_id, lease)
        now = self._icx.clock()
        if now >= prompt.expires_at:
            await finish(status=PromptStatus.EXPIRED, erase=True)
            return
        if paced:
            later = await self._take_turn(prompt)
            if later > 0:
                # Not its turn soon: put back without an attempt, for when it will be.
                retry_at = self._icx.clock() + timedelta(seconds=later)
                await finish(status=PromptStatus.PENDING, next_attempt_at=retry_at)
                return
            now = self._icx.clock()
        if self._paused(prompt.platform, now):
            # Another send hit a rate limit meanwhile: wait it out without an attempt.
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
            provider=provider,
            snooze_days=self._icx.company.policy.snooze_days,
        )
        try:
            ref = await messenger.deliver_prompt(view)
        except DeliveryError as error:
            self._delivered_to(prompt)
            await self._failed_attempt(prompt, error, finish)
            return
        except Exception as error:  # a bug or an unexpected transport error: retry, log
            self._delivered_to(prompt)
            log.exception("unexpected error delivering prompt %s", prompt_id)
            await self._failed_attempt(prompt, DeliveryError(type(error).__name__), finish)
            return
        self._delivered_to(prompt)
        if (pacer := self._pacers.get(prompt.platform)) is not None:
            pacer.succeeded()
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

    async def _take_turn(self, prompt: Prompt) -> float:
        """Waits (briefly) for the platform's next send slot and takes the recipient's; returns
        0.0 when it is this send's turn, else the seconds until it could be."""
        pacer = self._pacers.get(prompt.platform)
        if pacer is not None and pacer.delay() > MAX_PACING_WAIT:
            return pacer.delay()
        spacing = self._spacing.get(prompt.platform)
        if spacing is not None and prompt.recipient_address is not None:
            busy = spacing.take(prompt.recipient_address)
            if busy > 0:
                return busy
        wait = pacer.reserve() if pacer is not None else 0.0
        if wait > 0:
            await asyncio.sleep(wait)
        return 0.0

    def _delivered_to(self, prompt: Prompt) -> None:
        """The recipient's next message waits from the moment this one is done (when the
        platform has surely seen it), not from when it started."""
        spacing = self._spacing.get(prompt.platform)
        if spacing is not None and prompt.recipient_address is not None:
            spacing.done(prompt.recipient_address)

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
                if (pacer := self._pacers.get(prompt.platform)) is not None:
                    pacer.limited()
                # The platform itself resumes when Slack said; the jitter spreads the retries.
                until = now + timedelta(seconds=error.retry_after)
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


_PROMPT = Prompt.__table__  # type: ignore[attr-defined]
# Built once (every delivery ends with it); the columns to set come with the parameters.
_FINISH = (
    update(_PROMPT)
    .where(
        _PROMPT.c.id == bindparam("target"),
        _PROMPT.c.lease_until == bindparam("lease", type_=_PROMPT.c.lease_until.type),
    )
    .returning(_PROMPT.c.department)
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

        async def record() -> int:
            async with self._icx.db.connection() as connection:
                updated = (
                    await connection.execute(
                        _FINISH, {**changes, "target": self._prompt_id, "lease": self._lease}
                    )
                ).all()
                sent_at = values.get("sent_at")
                if len(updated) == 1 and isinstance(sent_at, datetime):
                    # Counted as delivered in the same transaction, for the scores' daily sums.
                    await aggregates.prompt_sent(connection, updated[0].department, sent_at)
            return len(updated)

        # A database restart between the send and this write would leave the row leased, and
        # the sender that takes it over after the lease would deliver the prompt a second time:
        # waited out instead. Repeating is harmless, the update is conditional on our lease.
        recorded = await while_unavailable(
            record, within=LEASE.total_seconds() / 2, what=f"recording prompt {self._prompt_id}"
        )
        if recorded != 1:
            log.warning("prompt %s: claim lost before its outcome was recorded", self._prompt_id)
