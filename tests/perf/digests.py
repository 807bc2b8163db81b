"""How long all 50 departments' weekly digests take, numbers and charts, at 1 M responses.

    python -m tests.perf.digests [--database sqlite|postgresql|both] [--responses N]
                                 [--repeat N] [--fresh]
    python -m tests.perf.digests --smoke

icx: `Digester.department()` for each of the 50 departments, one after the other, as the
scheduler and `icx digest --post` run it: claim the dispatch row, the numbers (core.digest),
the trend chart (core.chart, in a worker thread), the wording, and the post, here to an
in-process Publisher that keeps it. The week is each department's last complete one before the
data's end (tests/perf/dataset.py). One department's digest is made first and not counted
(matplotlib's fonts, statement caches), then `--repeat` passes are timed; the table shows the
median pass.

Baseline: the numbers alone, `core.digest.department_digest()` for the same 50 departments and
weeks: the database and arithmetic part of the digest, without chart, wording or posting.

Checks (the exit status is non-zero when one fails, or when the target is missed: all 50 in at
most 5 s at 1 M responses): every department's digest was posted once per pass, with a chart
when it shows numbers; its week's and the week before's numbers, and every trend week's n,
equal a plain SQL aggregate over the raw rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.context import Icx
from core.departments import Company
from core.digest import TREND_WEEKS, DepartmentDigest, department_digest
from core.digester import Digester
from core.dispatch import Dispatches
from core.identity import Keyer
from core.ports import MessageRef
from core.posts import Post
from core.scores import raw_tallies
from core.weeks import IsoWeek
from storage.db import Database
from storage.models import Dispatch
from tests.perf import dataset
from tests.perf.report import Table, emit, machine, percentile, versions

TARGET_SECONDS = {1_000_000: 5.0}
SMOKE_RESPONSES = 3_000


class KeepingPublisher:
    """Stands in for Slack: keeps every post, answers at once."""

    platform = "slack"

    def __init__(self) -> None:
        self.posts: list[tuple[str, Post]] = []

    async def publish(self, channel: str, post: Post) -> MessageRef:
        self.posts.append((channel, post))
        return MessageRef(channel, f"{len(self.posts)}.000100")


@dataclass
class Passes:
    totals: list[float] = field(default_factory=list)  # seconds per pass of all departments
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds per pass
    each_ms: list[float] = field(default_factory=list)  # one department's digest
    problems: list[str] = field(default_factory=list)


async def clear_dispatches(db: Database) -> None:
    """Each pass posts every digest again: the claims of the pass before are forgotten."""
    async with db.transaction() as session:
        await session.exec(sa.delete(Dispatch))  # type: ignore[call-overload]


async def measure_digests(db: Database, company: Company, repeat: int, shown: set[str]) -> Passes:
    """`shown`: the departments whose digests show numbers (and so a chart)."""
    icx = Icx(company, db, Keyer("benchmark-secret-0123456789"), clock=lambda: dataset.NOW)
    passes = Passes()
    departments = company.departments
    warm = Digester(icx, {"slack": KeepingPublisher()}, Dispatches(db))
    await warm.department_post(departments[0], IsoWeek.before(dataset.NOW, departments[0].zone))
    for _ in range(repeat):
        await clear_dispatches(db)
        publisher = KeepingPublisher()
        digester = Digester(icx, {"slack": publisher}, Dispatches(db))
        began, cpu = time.perf_counter(), time.process_time()
        for department in departments:
            week = IsoWeek.before(dataset.NOW, department.zone)
            one = time.perf_counter()
            outcomes = await digester.department(department, week, force=True)
            passes.each_ms.append((time.perf_counter() - one) * 1000)
            if [o.posted for o in outcomes] != [True]:
                passes.problems.append(f"{department.key}: not posted once ({outcomes})")
        passes.totals.append(time.perf_counter() - began)
        passes.cpu.append(time.process_time() - cpu)
        owner = {d.slack.digest_channel: d.key for d in departments}
        posted = [owner.get(channel, channel) for channel, _ in publisher.posts]
        if sorted(posted) != sorted(owner.values()):
            passes.problems.append("the posts did not reach every department's channel once")
        for channel, post in publisher.posts:
            if (post.image is not None) != (owner.get(channel) in shown):
                passes.problems.append(f"{post.title}: a chart only with numbers, and always")
    await clear_dispatches(db)
    return passes


async def measure_numbers(db: Database, company: Company, repeat: int) -> tuple[Passes, set[str]]:
    """The baseline, and the check of every digest's numbers against the raw rows; also
    which departments' digests show numbers."""
    passes = Passes()
    shown: set[str] = set()
    for round_ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        digests = []
        async with db.session() as session:
            for department in company.departments:
                week = IsoWeek.before(dataset.NOW, department.zone)
                one = time.perf_counter()
                digests.append(await department_digest(session, company, department, week))
                passes.each_ms.append((time.perf_counter() - one) * 1000)
        passes.totals.append(time.perf_counter() - began)
        passes.cpu.append(time.process_time() - cpu)
        if round_ == 0:
            passes.problems += await check_numbers(db, digests)
            shown = {d.department.key for d in digests if d.shown}
    return passes, shown


async def check_numbers(db: Database, digests: list[DepartmentDigest]) -> list[str]:
    problems = []
    async with db.session() as session:
        for digest in digests:
            key, zone = digest.department.key, digest.department.zone
            score = digest.score
            current = (await raw_tallies(session, score.window.current, [key]))[key]
            previous = (await raw_tallies(session, score.window.previous, [key]))[key]
            if (score.current, score.previous) != (current, previous):
                problems.append(f"{key}: the week's numbers differ from the raw rows'")
            if len(digest.trend) != TREND_WEEKS:
                problems.append(f"{key}: {len(digest.trend)} trend weeks")
            for point in digest.trend:
                raw = (await raw_tallies(session, point.week.period(zone), [key]))[key]
                if point.n != raw.responses:
                    problems.append(f"{key} {point.week.label}: n {point.n} != {raw.responses}")
    return problems


def table(data: dataset.Dataset, digests: Passes, numbers: Passes, repeat: int) -> Table:
    target = TARGET_SECONDS.get(data.size)
    total = statistics.median(digests.totals)
    result = Table(
        f"Weekly digests of all 50 departments: {data.size:,} responses, {data.kind}",
        context={
            "data": data.describe(),
            "database": data.description,
            "machine": machine(),
            "load avg": f"{os.getloadavg()[0]:.2f} (1 min, after the run)",
            "versions": versions("sqlalchemy", "asyncpg", "aiosqlite", "matplotlib"),
            "passes": f"{repeat} (median shown), after one digest not counted",
        },
        baseline_name="numbers only",
    )
    result.add(
        "all 50 departments (s)",
        total,
        statistics.median(numbers.totals),
        target=f"<= {target:g} s" if target else "",
        met=None if target is None else total <= target,
        digits=2,
    )
    result.add(
        "all 50, CPU of this process (s)",
        statistics.median(digests.cpu),
        statistics.median(numbers.cpu),
        digits=2,
    )
    one, base = sorted(digests.each_ms), sorted(numbers.each_ms)
    for p in (50, 95):
        result.add(f"one department p{p} (ms)", percentile(one, p), percentile(base, p))
    result.add("one department max (ms)", one[-1], base[-1])
    problems = digests.problems + numbers.problems
    result.add(
        "posted, charted and equal to the raw rows",
        "yes" if not problems else f"{len(problems)} problems",
        target="all",
        met=not problems,
    )
    result.notes += problems[:8]
    result.notes.append(
        "icx: Digester.department() (claim, numbers, chart, words, publish); "
        "numbers only: core.digest.department_digest()"
    )
    result.notes.append(
        "CPU: user+system time of this process (the chart thread, and SQLite's work, included; "
        "PostgreSQL's server not): what the digests cost when the machine is not shared"
    )
    return result


async def run(kinds: tuple[str, ...], responses: int, repeat: int, fresh: bool) -> bool:
    company = dataset.company()
    healthy = True
    for kind in kinds:
        data = await dataset.ensure(kind, responses, fresh=fresh)
        db = Database(data.url)
        try:
            numbers, shown = await measure_numbers(db, company, repeat)
            digests = await measure_digests(db, company, repeat, shown)
        finally:
            await db.dispose()
        report = table(data, digests, numbers, repeat)
        emit(report)
        healthy &= not report.failed_targets
    return healthy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.digests",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--responses", type=int, default=1_000_000, help="default 1000000")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--fresh", action="store_true", help="generate the data set again")
    parser.add_argument("--smoke", action="store_true", help="a tiny data set, one pass")
    args = parser.parse_args(argv)
    if args.smoke:
        args.responses, args.repeat = SMOKE_RESPONSES, 1
    if args.responses < 1 or args.repeat < 1:
        parser.error("--responses and --repeat must be positive")
    kinds = tuple(dataset.kinds(args.database))
    return 0 if asyncio.run(run(kinds, args.responses, args.repeat, args.fresh)) else 1


if __name__ == "__main__":
    sys.exit(main())
