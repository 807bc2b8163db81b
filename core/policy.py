"""Asking without nagging (GUIDE §5): who may be prompted now, and if not, why not."""

from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.departments import Policy
from core.domain import ASKING_STATUSES, SkipReason
from storage.models import OptOut, Prompt

WEEK = timedelta(days=7)


async def opted_out(session: AsyncSession, respondent_key: str, now: datetime) -> bool:
    found = await session.exec(
        select(OptOut.respondent_key).where(
            OptOut.respondent_key == respondent_key, col(OptOut.until) > now
        )
    )
    return found.first() is not None


async def _asked_since(
    session: AsyncSession, respondent_key: str, since: datetime, department: str | None = None
) -> int:
    query = select(func.count()).where(
        Prompt.recipient_key == respondent_key,
        col(Prompt.created_at) > since,
        col(Prompt.status).in_([s.value for s in ASKING_STATUSES]),
    )
    if department is not None:
        query = query.where(Prompt.department == department)
    return (await session.exec(query)).one()


async def throttle_reason(
    session: AsyncSession, policy: Policy, respondent_key: str, department: str, now: datetime
) -> SkipReason | None:
    """Opt-out, then the per-department cooldown, then the company-wide weekly budget."""
    if await opted_out(session, respondent_key, now):
        return SkipReason.OPTED_OUT
    cooldown = timedelta(days=policy.cooldown_days)
    if policy.cooldown_days and await _asked_since(
        session, respondent_key, now - cooldown, department
    ):
        return SkipReason.COOLDOWN
    if await _asked_since(session, respondent_key, now - WEEK) >= policy.weekly_budget:
        return SkipReason.WEEKLY_BUDGET
    return None
