"""The comments of one department in one period, for its leaders: the newest first, without
names, and only once the period has as many responses as the comment minimum (GUIDE §4)."""

from dataclasses import dataclass

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.periods import Period
from storage.models import Response

SHOWN = 10  # at most, newest first
CHARACTERS = 6000  # at most, in all: an answer must fit one chat message (a comment ≤ 3000)


@dataclass(frozen=True)
class Comments:
    responses: int  # in the period
    minimum: int
    texts: tuple[str, ...] = ()  # the newest, within SHOWN and CHARACTERS
    total: int = 0  # comments in the period

    @property
    def shown(self) -> bool:
        return self.responses >= self.minimum

    @property
    def needed(self) -> int:
        return max(0, self.minimum - self.responses)


async def comments_in(
    session: AsyncSession, department: str, period: Period, minimum: int
) -> Comments:
    in_period = (
        col(Response.department) == department,
        col(Response.answered_at) >= period.start,
        col(Response.answered_at) < period.end,
    )
    # Counted from the answers themselves: only they still hold comments (retention deletes
    # raw answers and keeps the daily sums).
    responses = (
        await session.exec(select(func.count()).select_from(Response).where(*in_period))
    ).one()
    if responses < minimum:
        return Comments(responses, minimum)
    written = (*in_period, col(Response.comment).is_not(None))
    total = (await session.exec(select(func.count()).select_from(Response).where(*written))).one()
    newest = await session.exec(
        select(Response.comment)
        .where(*written)
        .order_by(col(Response.answered_at).desc(), col(Response.id).desc())
        .limit(SHOWN)
    )
    texts: list[str] = []
    room = CHARACTERS
    for comment in newest.all():
        text = (comment or "").strip()
        if not text:
            continue
        if texts and len(text) > room:
            break
        texts.append(text)
        room -= len(text)
    return Comments(responses, minimum, tuple(texts), total)
