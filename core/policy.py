"""Asking without nagging (GUIDE §5): who may be prompted now, and if not, why not."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from core.departments import Policy
from core.domain import ASKING_STATUSES, SkipReason
from storage.db import connection_of
from storage.models import OptOut, Prompt

WEEK = timedelta(days=7)


# Opt-out, asked in this department since the cooldown began, asked anywhere this week: one
# statement built once, since every intake asks it.
_ASKING = [s.value for s in ASKING_STATUSES]
_PROMPT = Prompt.__table__  # type: ignore[attr-defined]
_OPT_OUT = OptOut.__table__  # type: ignore[attr-defined]


def _asked_since(since: str, *, in_department: bool) -> sa.ScalarSelect[int]:
    query = sa.select(sa.func.count()).where(
        _PROMPT.c.recipient_key == sa.bindparam("key"),
        _PROMPT.c.created_at > sa.bindparam(since, type_=_PROMPT.c.created_at.type),
        _PROMPT.c.status.in_(_ASKING),
    )
    if in_department:
        query = query.where(_PROMPT.c.department == sa.bindparam("department"))
    return query.scalar_subquery()


_THROTTLE = sa.select(
    sa.exists().where(
        _OPT_OUT.c.respondent_key == sa.bindparam("key"),
        _OPT_OUT.c.until > sa.bindparam("now", type_=_OPT_OUT.c.until.type),
    ),
    _asked_since("cooldown_began", in_department=True),
    _asked_since("week_began", in_department=False),
)


async def throttle_reason(
    target: AsyncSession | AsyncConnection,
    policy: Policy,
    respondent_key: str,
    department: str,
    now: datetime,
) -> SkipReason | None:
    """Opt-out, then the per-department cooldown, then the company-wide weekly budget."""
    connection = await connection_of(target)
    opted_out, in_cooldown, this_week = (
        await connection.execute(
            _THROTTLE,
            {
                "key": respondent_key,
                "department": department,
                "now": now,
                "cooldown_began": now - timedelta(days=policy.cooldown_days),
                "week_began": now - WEEK,
            },
        )
    ).one()
    if opted_out:
        return SkipReason.OPTED_OUT
    if policy.cooldown_days and in_cooldown:
        return SkipReason.COOLDOWN
    if this_week >= policy.weekly_budget:
        return SkipReason.WEEKLY_BUDGET
    return None
