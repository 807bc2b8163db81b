"""Seeding weeks of Acme's past through the real core: every interaction goes through intake
(prompt policy included), every prompt through the outbox to the Slack stand-in, every answer
through the same Answers calls a tap makes. Only the clock is the demo's.

One thing at a time, in time order: each step may depend on the ones before (a cooldown, an
opt-out), and running them side by side measured no faster (the work is CPU-bound in one
process).
"""

import heapq
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select

from bots.demo.clock import DemoClock
from bots.demo.company import Company, DemoPerson
from bots.demo.plan import PlannedAnswer, PlannedInteraction, Planner
from bots.runtime import Runtime
from core.answers import Answers, Tap
from core.departments import Department
from core.domain import PromptStatus
from core.housekeeping import tidy
from core.intake import record_interaction
from storage.models import Prompt

# Every outbox pass costs a few database round trips, so the history delivers the prompts of a
# few hours at a time; in `icx serve` the outbox sends each one as soon as it is committed.
DELIVERY_BATCH = timedelta(hours=4)
DRAIN_LIMIT = 200
# Answers follow a second or a minute after the tap before them.
EFFORT_AFTER = timedelta(seconds=12)
REASONS_AFTER = timedelta(seconds=25)
COMMENT_AFTER = timedelta(seconds=90)


@dataclass
class SeedReport:
    weeks: int
    interactions: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    answered: int = 0
    efforts: int = 0
    with_reasons: int = 0
    comments: int = 0
    snoozed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Delivered:
    """A delivered prompt, as the Slack client showing it knows it."""

    prompt_id: str
    person: DemoPerson
    department: Department
    channel_id: str | None
    message_ts: str | None


class History:
    def __init__(
        self,
        runtime: Runtime,
        clock: DemoClock,
        company: Company,
        *,
        weeks: int,
        end: datetime,
        seed: int,
    ) -> None:
        self._runtime = runtime
        self._icx = runtime.icx
        self._answers = Answers(runtime.icx)
        self._clock = clock
        self._company = company
        self._end = end
        self._start = end - timedelta(weeks=weeks)
        self._planner = Planner(company, random.Random(seed), self._start, end)
        # Answers waiting to be given, earliest first (the counter breaks ties in plan order).
        self._due: list[tuple[datetime, int, _Delivered, PlannedAnswer]] = []
        self._order = itertools.count()
        self.report = SeedReport(weeks)

    async def seed(
        self, scale: float = 1.0, on_week: Callable[[int], None] = lambda week: None
    ) -> SeedReport:
        """Plays the plan; `on_week` hears of every simulated week completed (for progress)."""
        began = time.perf_counter()
        plan = self._planner.interactions(self._icx.company.departments, scale)
        day = 1
        for _, batch in itertools.groupby(plan, key=self._batch_of):
            items = list(batch)
            while self._start + timedelta(days=day) <= items[0].at:
                await self._end_of_day(day, on_week)
                day += 1
            await self._answer_until(items[0].at)
            await self._intake_and_deliver(items)
        # The last day ends at the end of the history: its answers, its housekeeping.
        while self._start + timedelta(days=day) <= self._end:
            await self._end_of_day(day, on_week)
            day += 1
        self.report.seconds = time.perf_counter() - began
        return self.report

    async def _end_of_day(self, day: int, on_week: Callable[[int], None]) -> None:
        moment = self._start + timedelta(days=day)
        await self._answer_until(moment)
        await self._tidy(moment)
        if day % 7 == 0:
            on_week(day // 7)

    def _batch_of(self, item: PlannedInteraction) -> int:
        return int((item.at - self._start) / DELIVERY_BATCH)

    async def _tidy(self, moment: datetime) -> None:
        """Housekeeping as `icx serve` runs it: expire what was never answered, erase who was
        asked once they have answered."""
        self._clock.set(moment)
        await tidy(self._icx)

    async def _intake_and_deliver(self, items: list[PlannedInteraction]) -> None:
        scheduled: dict[str, PlannedInteraction] = {}
        for item in items:
            self._clock.set(item.at)
            outcome = await record_interaction(self._icx, item.request)
            self.report.interactions += 1
            if outcome.reason is not None:
                self.report.skipped[outcome.reason.value] += 1
            elif outcome.prompt_id is not None:
                scheduled[outcome.prompt_id] = item
        if not scheduled:
            return
        self._clock.set(items[-1].at + timedelta(seconds=20))
        while await self._runtime.outbox.drain_once(limit=DRAIN_LIMIT) == DRAIN_LIMIT:
            pass
        async with self._icx.db.session() as session:
            rows = (
                await session.exec(
                    select(Prompt).where(
                        col(Prompt.id).in_(list(scheduled)), Prompt.status == PromptStatus.SENT
                    )
                )
            ).all()
        # In the order things happened, so the random draws below are the same on every run.
        for prompt in sorted(rows, key=lambda p: scheduled[p.id].at):
            department = self._icx.company.department(prompt.department)
            assert department is not None and prompt.sent_at is not None
            person = scheduled[prompt.id].requester
            sent = _Delivered(prompt.id, person, department, prompt.channel_id, prompt.message_ts)
            self.report.delivered += 1
            answer = self._planner.answer(person, department, prompt.sent_at)
            if answer.satisfaction is not None or answer.snooze:
                entry = (prompt.sent_at + answer.delay, next(self._order), sent, answer)
                heapq.heappush(self._due, entry)

    async def _answer_until(self, moment: datetime) -> None:
        # Answers that would come after the end of the history are simply not given yet.
        moment = min(moment, self._end)
        while self._due and self._due[0][0] <= moment:
            at, _, sent, answer = heapq.heappop(self._due)
            await self._answer(at, sent, answer)

    async def _answer(self, at: datetime, sent: _Delivered, answer: PlannedAnswer) -> None:
        """One person's taps, seconds apart, exactly as the Slack listeners make them."""
        tap = Tap("slack", sent.person.user_id, sent.prompt_id, sent.channel_id, sent.message_ts)
        report = self.report
        self._clock.set(at)
        if answer.satisfaction is None:
            report.snoozed += (await self._answers.snooze(tap)).recorded
            return
        if not (await self._answers.satisfaction(tap, answer.satisfaction)).recorded:
            return
        report.answered += 1
        if answer.effort is not None:
            self._clock.set(at + EFFORT_AFTER)
            report.efforts += (await self._answers.effort(tap, answer.effort)).recorded
        if answer.reasons:
            self._clock.set(at + REASONS_AFTER)
            report.with_reasons += (await self._answers.reasons(tap, list(answer.reasons))).recorded
        if answer.comment is not None:
            self._clock.set(at + COMMENT_AFTER)
            details = await self._answers.details(
                tap, answer.comment, answer.external_customer, answer.contact_consent
            )
            report.comments += details.recorded
