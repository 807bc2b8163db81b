"""Recording what a person answers to a prompt: one tap is complete, everything after it updates
the same response. Every tap is checked (known prompt, its recipient, not expired, current
message) before anything is written."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from core.context import Icx
from core.departments import Department, Service
from core.domain import PromptStatus
from core.i18n import negotiate
from core.metrics import tap_recorded
from storage import aggregates, tap_rows
from storage.tap_rows import PromptRow, TapRows

COMMENT_MAX = 3000
TAPPABLE = (PromptStatus.SENT, PromptStatus.ANSWERED)


class TapResult(StrEnum):
    RECORDED = "recorded"
    EXPIRED = "expired"
    NOT_YOURS = "not_yours"
    UNKNOWN = "unknown"
    SUPERSEDED = "superseded"  # a tap on a copy of the message that is no longer current
    NEEDS_SATISFACTION = "needs_satisfaction"
    INVALID = "invalid"


# Writes a tap's change inside the tap's transaction: the rows as they are now, or a refusal.
Written = TapRows | TapResult
Writer = Callable[[AsyncConnection, TapRows, datetime], Awaitable[Written]]


@dataclass(frozen=True)
class Tap:
    """Who tapped what, as the platform reported it."""

    platform: str
    user_id: str
    prompt_id: str
    channel_id: str | None = None
    message_ts: str | None = None


@dataclass(frozen=True)
class PromptState:
    """Everything a platform needs to redraw the prompt after a tap."""

    prompt_id: str
    department: Department
    service: Service | None
    locale: str
    expires_at: datetime
    snooze_days: int
    satisfaction: int | None = None
    effort: int | None = None
    reasons: tuple[str, ...] = ()
    comment: str | None = None
    external_customer: bool = False
    contact_consent: bool = False
    snoozed_until: datetime | None = None


class Stage(StrEnum):
    SATISFACTION = "csat"
    EFFORT = "ces"
    THANKS = "thanks"


def stage_of(state: PromptState, asked: str | None = None) -> Stage:
    """The stage that follows from what is recorded so far, or the one asked for ("csat",
    "ces") when the person wants to change an earlier answer: the same on every platform."""
    if state.satisfaction is None or asked == Stage.SATISFACTION:
        return Stage.SATISFACTION
    if state.effort is None or asked == Stage.EFFORT:
        return Stage.EFFORT
    return Stage.THANKS


@dataclass(frozen=True)
class TapOutcome:
    result: TapResult
    state: PromptState | None = None

    @property
    def recorded(self) -> bool:
        return self.result is TapResult.RECORDED


class Answers:
    def __init__(self, icx: Icx) -> None:
        self._icx = icx

    async def satisfaction(self, tap: Tap, value: int) -> TapOutcome:
        if not 1 <= value <= 5:
            return TapOutcome(TapResult.INVALID)

        async def write(connection: AsyncConnection, rows: TapRows, now: datetime) -> Written:
            prompt = rows.prompt
            response = await tap_rows.answer(connection, prompt, value, now)
            if prompt.status != PromptStatus.ANSWERED:
                await tap_rows.mark_answered(connection, prompt.id, PromptStatus.ANSWERED, now)
                prompt = replace(prompt, status=PromptStatus.ANSWERED, answered_at=now)
            return replace(rows, prompt=prompt, response=response)

        return await self._tap(tap, write, counted=True)

    async def effort(self, tap: Tap, value: int) -> TapOutcome:
        if not 1 <= value <= 7:
            return TapOutcome(TapResult.INVALID)
        return await self._update_response(tap, counted=True, effort=value)

    def _known_reasons(self, keys: list[str]) -> Callable[[PromptRow], bool]:
        def allowed(prompt: PromptRow) -> bool:
            department = self._icx.company.department(prompt.department)
            known = {r.key for r in department.effective_reasons} if department else set()
            return set(keys) <= known and len(set(keys)) == len(keys)

        return allowed

    async def reasons(self, tap: Tap, keys: list[str]) -> TapOutcome:
        return await self._update_response(tap, valid=self._known_reasons(keys), reasons=list(keys))

    async def details(
        self,
        tap: Tap,
        comment: str | None,
        external_customer: bool,
        contact_consent: bool,
        reasons: list[str] | None = None,
    ) -> TapOutcome:
        """The optional follow-up in one write; `reasons` too when the platform sends them with
        the form (Teams) rather than on their own (Slack)."""
        text = (comment or "").strip() or None
        if text is not None and len(text) > COMMENT_MAX:
            return TapOutcome(TapResult.INVALID)
        with_reasons: dict[str, object] = {} if reasons is None else {"reasons": list(reasons)}
        return await self._update_response(
            tap,
            valid=self._known_reasons(reasons or []),
            **with_reasons,
            comment=text,
            external_customer=external_customer,
            contact_consent=contact_consent,
            # Contact details travel only with consent (GUIDE §6).
            contact_address=f"{tap.platform}:{tap.user_id}" if contact_consent else None,
        )

    async def snooze(self, tap: Tap) -> TapOutcome:
        days = self._icx.company.policy.snooze_days

        async def write(connection: AsyncConnection, rows: TapRows, now: datetime) -> Written:
            assert rows.prompt.recipient_key is not None
            until = now + timedelta(days=days)
            await tap_rows.snooze(connection, rows.prompt.recipient_key, until, now)
            return replace(rows, snoozed_until=until)

        return await self._tap(tap, write)

    async def current(self, tap: Tap) -> TapOutcome:
        """Checks a tap and returns the prompt's state without writing (e.g. to open a form)."""

        async def nothing(connection: AsyncConnection, rows: TapRows, now: datetime) -> Written:
            return rows

        return await self._tap(tap, nothing)

    async def _update_response(
        self,
        tap: Tap,
        valid: Callable[[PromptRow], bool] = lambda _: True,
        counted: bool = False,
        **values: object,
    ) -> TapOutcome:
        async def write(connection: AsyncConnection, rows: TapRows, now: datetime) -> Written:
            if not valid(rows.prompt):
                return TapResult.INVALID
            response = await tap_rows.update_response(
                connection, rows.prompt.id, {"updated_at": now, **values}
            )
            # No response yet: the one-tap satisfaction answer has to come first.
            if response is None:
                return TapResult.NEEDS_SATISFACTION
            return replace(rows, response=response)

        return await self._tap(tap, write, counted)

    async def _tap(self, tap: Tap, write: Writer, counted: bool = False) -> TapOutcome:
        """Checks and writes one tap in one transaction. `counted`: the write may change what
        the scores count (satisfaction, effort), kept as running sums in the same transaction."""
        now = self._icx.clock()
        async with self._icx.db.connection() as connection:
            if counted:
                # Locked first, so the values the sums change from stay true until commit.
                await tap_rows.lock(connection, [tap.prompt_id])
            rows = await tap_rows.read(connection, tap.prompt_id)
            refusal = self._refusal(tap, rows.prompt if rows else None, now)
            if refusal is not None:
                return TapOutcome(refusal)
            assert rows is not None
            written = await write(connection, rows, now)
            if isinstance(written, TapResult):
                return TapOutcome(written)
            if counted:
                before = aggregates.contribution_of(rows.prompt, rows.response)
                after = aggregates.contribution_of(written.prompt, written.response)
                await aggregates.record(connection, before, after)
        tap_recorded(tap.platform)
        return TapOutcome(TapResult.RECORDED, self._state(written))

    def _refusal(self, tap: Tap, prompt: PromptRow | None, now: datetime) -> TapResult | None:
        if prompt is None or prompt.platform != tap.platform:
            return TapResult.UNKNOWN
        # Checked before anything else about the prompt, so a stranger learns nothing of it.
        if prompt.recipient_key != self._icx.keyer.key(tap.platform, tap.user_id):
            return TapResult.NOT_YOURS
        if prompt.status == PromptStatus.EXPIRED or now >= prompt.expires_at:
            return TapResult.EXPIRED
        if prompt.status not in TAPPABLE:
            return TapResult.UNKNOWN
        stale = (
            prompt.message_ts is not None
            and tap.message_ts is not None
            and (prompt.channel_id, prompt.message_ts) != (tap.channel_id, tap.message_ts)
        )
        return TapResult.SUPERSEDED if stale else None

    def _state(self, rows: TapRows) -> PromptState:
        prompt, response, snoozed = rows.prompt, rows.response, rows.snoozed_until
        department = self._icx.company.department(prompt.department)
        assert department is not None, f"department {prompt.department} left the configuration"
        base = PromptState(
            prompt_id=prompt.id,
            department=department,
            service=department.service(prompt.service),
            locale=negotiate(prompt.locale, department.locale),
            expires_at=prompt.expires_at,
            snooze_days=self._icx.company.policy.snooze_days,
            snoozed_until=snoozed if snoozed and snoozed > self._icx.clock() else None,
        )
        if response is None:
            return base
        return replace(
            base,
            satisfaction=response.satisfaction,
            effort=response.effort,
            reasons=tuple(response.reasons),
            comment=response.comment,
            external_customer=response.external_customer,
            contact_consent=response.contact_consent,
        )
