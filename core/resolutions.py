"""A request closed by a resolution mark (a reaction in a help channel): the mark asks the
requester after a grace period, taking it back within the grace period withdraws the prompt,
and putting it back asks again. One interaction per marked message, whatever happens."""

import logging
from datetime import datetime

from sqlmodel import col, select, update

from core.asks import Ask, ask
from core.context import Icx
from core.domain import PromptStatus, SkipReason
from core.intake import IntakeOutcome, cancel_unsent, resolve
from core.policy import throttle_reason
from core.ports import Person
from storage.locks import lock_for_transaction
from storage.models import Interaction, Prompt

log = logging.getLogger(__name__)


async def marked(
    icx: Icx, request: Ask, send_after: datetime, *, may_reinstate: bool = True
) -> IntakeOutcome:
    """The first mark records the interaction; a mark after a withdrawal asks again
    (`may_reinstate=False` for a delivery that may repeat one already handled)."""
    outcome = await ask(icx, request, send_after=send_after)
    if outcome.created or outcome.reason is not SkipReason.CANCELLED or not may_reinstate:
        return outcome
    return await reinstate(icx, request, send_after) or outcome


async def unmarked(icx: Icx, source: str, reference: str, by: Person) -> bool:
    """Withdraws the unsent prompt when the member whose mark asked takes it back; another
    member's mark coming and going changes nothing. True when withdrawn."""
    async with icx.db.session() as session:
        provider = (
            await session.exec(
                select(Interaction.provider_ref).where(
                    Interaction.source == source, Interaction.reference == reference
                )
            )
        ).first()
    if provider != by.address:
        return False
    return await cancel_unsent(icx, source, reference)


async def reinstate(icx: Icx, request: Ask, send_after: datetime) -> IntakeOutcome | None:
    """Puts a withdrawn prompt back in the outbox, the provider now being whoever marked it
    again, if the person may still be asked (cooldown and budget are checked anew: a withdrawn
    prompt does not count, so another may have been sent meanwhile). None when nothing was
    withdrawn, or the person can no longer be found."""
    requester = await resolve(icx, request.requester)
    if requester is None or requester.is_bot or not requester.reachable:
        return None
    if requester.address == request.provider.address:
        return None
    key = icx.keyer.key(requester.platform, requester.user_id)
    now = icx.clock()
    withdrawn = (
        col(Prompt.status) == PromptStatus.SKIPPED,
        col(Prompt.skip_reason) == SkipReason.CANCELLED.value,
    )
    async with icx.person_locks.hold(key), icx.db.transaction() as session:
        await lock_for_transaction(session, icx.db.dialect, key)
        row = (
            await session.exec(
                select(Interaction, Prompt)
                .join(Prompt, col(Prompt.interaction_id) == Interaction.id)
                .where(
                    Interaction.source == request.source,
                    Interaction.reference == request.reference,
                    *withdrawn,
                )
            )
        ).first()
        if row is None:
            return None
        interaction, prompt = row
        assert interaction.id is not None
        reason = await throttle_reason(
            session, icx.company.policy, key, request.department.key, now
        )
        if reason is not None:
            return IntakeOutcome(interaction.id, False, prompt.id, "skipped", reason)
        await session.exec(
            update(Prompt)
            .where(col(Prompt.id) == prompt.id, *withdrawn)
            .values(
                status=PromptStatus.PENDING,
                skip_reason=None,
                recipient_address=requester.user_id,
                locale=requester.locale,
                next_attempt_at=max(now, send_after),
                erased_at=None,
                created_at=now,
                expires_at=now + icx.company.policy.expiry,
            )
        )
        await session.exec(
            update(Interaction)
            .where(col(Interaction.id) == interaction.id)
            .values(provider_ref=request.provider.address)
        )
    log.info("prompt %s asked again: the resolution mark was put back", prompt.id)
    icx.on_prompt_scheduled()
    return IntakeOutcome(interaction.id, False, prompt.id, "scheduled", None)
