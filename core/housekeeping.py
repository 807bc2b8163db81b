"""Expiring unanswered prompts and erasing recipients once they are no longer needed
(GUIDE §6), and deleting raw answers past the retention limit. Runs on the scheduler."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, or_, select, update

from core.context import Icx
from core.domain import PromptStatus
from storage.models import Interaction, Prompt, Response

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HousekeepingReport:
    expired: int
    erased: int
    deleted: int = 0


async def tidy(icx: Icx) -> HousekeepingReport:
    now = icx.clock()
    grace = timedelta(hours=icx.company.policy.erase_recipient_after_hours)
    async with icx.db.transaction() as session:
        expired = await session.exec(
            update(Prompt)
            .where(
                col(Prompt.status).in_([PromptStatus.PENDING, PromptStatus.SENT]),
                col(Prompt.expires_at) <= now,
            )
            .values(status=PromptStatus.EXPIRED, lease_until=None)
        )
        # The DM channel identifies the person as well as the user id does, so it goes too. A
        # later tap still works: it carries its own channel and timestamp, and the recipient
        # hash proves who may change an answer.
        erased = await session.exec(
            update(Prompt)
            .where(
                col(Prompt.recipient_address).is_not(None),
                or_(
                    col(Prompt.status) == PromptStatus.EXPIRED,
                    (col(Prompt.status) == PromptStatus.ANSWERED)
                    & (col(Prompt.answered_at) <= now - grace),
                ),
            )
            .values(recipient_address=None, channel_id=None, message_ts=None, erased_at=now)
        )
    deleted = await _past_retention(icx, now - timedelta(days=icx.company.policy.retention_days))
    return HousekeepingReport(expired.rowcount, erased.rowcount, deleted)  # type: ignore[attr-defined]


async def _past_retention(icx: Icx, cutoff: datetime) -> int:
    """Deletes raw answers older than the retention limit, then the prompts and interactions
    (ticket references) no answer needs any more. The daily sums they were counted in
    (score_day) stay: scores over those days keep their numbers (GUIDE §6)."""
    async with icx.db.transaction() as session:
        deleted = await session.exec(delete(Response).where(col(Response.answered_at) < cutoff))
        answered = select(Response.prompt_id)
        await session.exec(
            delete(Prompt).where(col(Prompt.created_at) < cutoff, col(Prompt.id).not_in(answered))
        )
        prompted = select(Prompt.interaction_id)
        await session.exec(
            delete(Interaction).where(
                col(Interaction.created_at) < cutoff, col(Interaction.id).not_in(prompted)
            )
        )
    return int(deleted.rowcount)  # type: ignore[attr-defined]
