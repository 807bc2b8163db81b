"""Everything `icx serve` does on a clock, on one APScheduler: each department's digest at its
cron time, the organisation digest, a pass every minute that posts whatever is due and not yet
posted (catch-up after downtime, retries, claims whose holder died), alert sweeps and
housekeeping. Exactly-once is the dispatch table's job, so every pass may run anywhere, any
number of times."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.context import Icx
from core.departments import Department
from core.digester import Digester, Outcome, isolated
from core.housekeeping import tidy
from core.weeks import IsoWeek

log = logging.getLogger(__name__)

# How far back the last run of a schedule is looked for: a monthly cron still has one.
LOOKBACK = timedelta(days=35)


@dataclass(frozen=True)
class Cadence:
    due_pass: float = 60.0  # seconds between passes that post what is due
    alerts: float = 20.0  # low answers reach the alert channel within a minute
    drops: float = 3600.0
    housekeeping: float = 300.0


class ScheduleClock:
    """When a cron schedule last fired before a moment, in the schedule's time zone."""

    def __init__(self, cron: str, zone: ZoneInfo) -> None:
        self.trigger = CronTrigger.from_crontab(cron, timezone=zone)
        self.zone = zone
        self._last: datetime | None = None
        self._next: datetime | None = None

    def last_fire(self, now: datetime) -> datetime | None:
        if self._next is not None and self._last is not None and self._last <= now < self._next:
            return self._last
        last = None
        moment = self.trigger.get_next_fire_time(None, now - LOOKBACK)
        while moment is not None and moment <= now:
            last = moment
            moment = self.trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        self._last, self._next = last, moment
        return last

    def due_week(self, now: datetime) -> IsoWeek | None:
        """The week the latest run should have reported: the last complete one before it."""
        fired = self.last_fire(now)
        return IsoWeek.before(fired, self.zone) if fired is not None else None


def week_over(week: IsoWeek, departments: Iterable[Department], now: datetime) -> bool:
    return all(week.period(d.zone).end <= now for d in departments)


class Scheduler:
    def __init__(self, icx: Icx, digester: Digester, cadence: Cadence | None = None) -> None:
        self._icx = icx
        self._digester = digester
        self._cadence = cadence or Cadence()
        company = icx.company
        self._clocks = {
            d.key: ScheduleClock(d.digest.schedule, d.zone) for d in company.departments
        }
        leadership = company.leadership
        self._org_clock = ScheduleClock(leadership.schedule, leadership.zone)
        self._aps: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()

    # --- passes (each safe to run at any time, in any process) --------------------------------

    async def due(self) -> list[Outcome]:
        """Posts every department's latest due digest that is not posted yet."""
        now = self._icx.clock()
        outcomes: list[Outcome] = []
        for department in self._icx.company.departments:
            outcomes += await isolated(f"digest {department.key}", self.department(department, now))
        return outcomes + await isolated("organisation digest", self.organisation())

    async def organisation(self) -> list[Outcome]:
        now = self._icx.clock()
        week = self._org_clock.due_week(now)
        # Every department's week must be over in its own zone (Honolulu's ends after Berlin's
        # Monday morning): the minute pass posts it once the last one has ended.
        if week is None or not week_over(week, self._icx.company.departments, now):
            return []
        return await self._digester.organisation(week)

    async def department(self, department: Department, now: datetime) -> list[Outcome]:
        week = self._clocks[department.key].due_week(now)
        return await self._digester.department(department, week) if week else []

    async def alerts(self) -> list[Outcome]:
        return await self._digester.low_answers()

    async def drops(self) -> list[Outcome]:
        return await self._digester.drops()

    async def housekeeping(self) -> None:
        report = await tidy(self._icx)
        if report.expired or report.erased or report.deleted:
            log.info(
                "housekeeping: %d prompts expired, %d recipients erased, %d responses deleted",
                report.expired,
                report.erased,
                report.deleted,
            )

    # --- the clock ----------------------------------------------------------------------------

    def start(self) -> None:
        aps = AsyncIOScheduler(timezone=UTC)
        cadence = self._cadence
        now = datetime.now(UTC)
        for department in self._icx.company.departments:
            aps.add_job(
                self._guarded(f"digest {department.key}", self._department_now(department)),
                self._clocks[department.key].trigger,
                id=f"digest:{department.key}",
                coalesce=True,
            )
        aps.add_job(
            self._guarded("organisation digest", self.organisation),
            self._org_clock.trigger,
            id="org",
            coalesce=True,
        )
        # The due pass also runs at start: a digest missed while no server ran goes out now.
        for name, job, seconds in (
            ("due digests", self.due, cadence.due_pass),
            ("low-answer alerts", self.alerts, cadence.alerts),
            ("drop alerts", self.drops, cadence.drops),
            ("housekeeping", self.housekeeping, cadence.housekeeping),
        ):
            aps.add_job(
                self._guarded(name, job),
                IntervalTrigger(seconds=seconds),
                id=name,
                next_run_time=now,
                coalesce=True,
                max_instances=1,
            )
        aps.start()
        self._aps = aps

    @property
    def running(self) -> bool:
        """For readiness: the clock is started and has not been shut down."""
        return self._aps is not None and self._aps.running

    async def stop(self, within: float = 30.0) -> None:
        # Paused first: no job starts any more, and the ones running go on. (Shutting the
        # scheduler down cancels running jobs at once.)
        if self._aps is not None and self._aps.state == STATE_RUNNING:
            self._aps.pause()
        # A post in flight finishes (and is marked posted) rather than being cut off...
        if self._running:
            await asyncio.wait(set(self._running), timeout=within)
        # ...until the time allowed is up: then it is cut off, so the process can exit. A
        # claim left behind is released by the caller (Dispatches.release) or runs out with
        # its lease.
        late = set(self._running)
        if self._aps is not None:
            if self._aps.running:
                self._aps.shutdown(wait=False)
            self._aps = None
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)

    def _department_now(self, department: Department) -> Callable[[], Awaitable[Any]]:
        async def run() -> list[Outcome]:
            return await self.department(department, self._icx.clock())

        return run

    def _guarded(
        self, name: str, job: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            except Exception:
                log.exception("%s failed; the next pass retries", name)
            finally:
                if task is not None:
                    self._running.discard(task)

        return run
