"""Course correction while there is time: a low answer that says why (a comment) or invites a
call (contact consent), and a department whose last seven days fell meaningfully below its own
eight-week baseline."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.departments import Department
from core.stats import Change, Proportion, two_proportion_test, wilson
from storage.models import Response

RECENT = timedelta(days=7)
BASELINE = timedelta(weeks=8)
LOW_SATISFACTION = 2  # at most
LOW_EFFORT = 3  # at most


@dataclass(frozen=True)
class LowAnswer:
    # The prompt's id names the answer for good (a database may reuse a deleted row's id).
    prompt_id: str
    department: Department
    service: str | None
    satisfaction: int
    effort: int | None
    reasons: tuple[str, ...]
    comment: str | None
    contact_address: str | None  # only with the person's consent
    answered_at: datetime


@dataclass(frozen=True)
class DropAlert:
    department: Department
    recent: Proportion  # the last 7 days
    baseline: Proportion  # the 8 weeks before them
    change: Change


def is_low(satisfaction: int, effort: int | None) -> bool:
    return satisfaction <= LOW_SATISFACTION or (effort is not None and effort <= LOW_EFFORT)


async def low_answers_since(
    session: AsyncSession, departments: dict[str, Department], since: datetime
) -> list[LowAnswer]:
    """Low answers changed since `since` that carry a comment or contact consent."""
    rows = await session.exec(
        select(Response).where(
            # answered_at is indexed, and an answer only changes after it was given.
            col(Response.answered_at) >= since,
            col(Response.updated_at) >= since,
            col(Response.department).in_(list(departments)),
            or_(
                col(Response.satisfaction) <= LOW_SATISFACTION,
                col(Response.effort) <= LOW_EFFORT,
            ),
            or_(col(Response.comment).is_not(None), col(Response.contact_consent).is_(True)),
        )
    )
    return [
        LowAnswer(
            prompt_id=r.prompt_id,
            department=departments[r.department],
            service=r.service,
            satisfaction=r.satisfaction,
            effort=r.effort,
            reasons=tuple(r.reasons),
            comment=r.comment,
            contact_address=r.contact_address if r.contact_consent else None,
            answered_at=r.answered_at,
        )
        for r in rows.all()
        if is_low(r.satisfaction, r.effort)
    ]


async def _satisfied(
    session: AsyncSession, department: str, start: datetime, end: datetime
) -> tuple[int, int]:
    rows = (
        await session.exec(
            select(Response.satisfaction).where(
                Response.department == department,
                col(Response.answered_at) >= start,
                col(Response.answered_at) < end,
            )
        )
    ).all()
    return sum(s >= 4 for s in rows), len(rows)


async def drop(
    session: AsyncSession, department: Department, now: datetime, minimum: int
) -> DropAlert | None:
    """A meaningful fall of the last 7 days below the 8 weeks before, with both n-gated."""
    recent_hits, recent_n = await _satisfied(session, department.key, now - RECENT, now)
    base_hits, base_n = await _satisfied(
        session, department.key, now - RECENT - BASELINE, now - RECENT
    )
    if recent_n < minimum or base_n < minimum:
        return None
    change = two_proportion_test(recent_hits, recent_n, base_hits, base_n)
    if change.delta >= 0 or not change.meaningful:
        return None
    return DropAlert(department, wilson(recent_hits, recent_n), wilson(base_hits, base_n), change)
