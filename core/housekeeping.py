"""Expiring unanswered prompts and erasing recipients once they are no longer needed
(GUIDE §6). Runs periodically inside `icx serve`."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, or_, update

from core.context import Icx
from core.domain import PromptStatus
from storage.models import Prompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HousekeepingReport:
    expired: int
    erased: int


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
    return HousekeepingReport(expired.rowcount, erased.rowcount)  # type: ignore[attr-defined]


class Housekeeper:
    def __init__(self, icx: Icx, every: float = 300.0) -> None:
        self._icx = icx
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="icx-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                report = await tidy(self._icx)
                if report.expired or report.erased:
                    log.info("housekeeping: %d expired, %d erased", report.expired, report.erased)
            except Exception:
                log.exception("housekeeping pass failed")
            await asyncio.sleep(self._every)
