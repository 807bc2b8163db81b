"""How fast `/icx-score` answers from the daily sums, next to the plain SQL aggregate over the
raw rows, at growing data sizes.

    python -m tests.perf.scores [--database sqlite|postgresql|both] [--sizes 10000,1000000,...]
                                [--repeat N] [--fresh]
    python -m tests.perf.scores --smoke

Each data set is two years of 50 departments (tests/perf/dataset.py, cached between runs). icx:
the whole `score_command.answer()` a chat command runs (lookup, both periods' sums, wording),
for one department (by name) and for the all-departments overview. Every repetition asks
something else: another department, another period (30d, 90d, quarter, 731d) and another
moment (the clock steps back 37 minutes each time, so the partial edge days differ).
Baseline: the plain SQL aggregate over the raw rows for the same question (both periods),
i.e. what the scores were counted from before the daily sums. All icx answers are timed
first, then all baselines. Every answer must equal, word for word, the answer made from the
baseline's numbers, and its numbers must equal the baseline's; the exit status is non-zero
when one does not, or when a target is missed (p95 ≤ 20 ms at 1 M responses, ≤ 50 ms at 10 M).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from core import score_command, score_text
from core.context import Icx
from core.departments import Company, Department
from core.i18n import translator
from core.identity import Keyer
from core.periods import Window, window
from core.score_text import ScoreText
from core.scores import DepartmentScore, department_scores, raw_tallies
from storage.db import Database
from tests.perf import dataset
from tests.perf.report import Table, emit, machine, percentile, versions

SPECS = ("30d", "90d", "quarter", "731d")
TARGETS_MS = {1_000_000: 20.0, 10_000_000: 50.0}  # p95, by data size (responses)
DEFAULT_SIZES = (10_000, 1_000_000, 10_000_000)
SMOKE_SIZES = (3_000,)
STEP = timedelta(minutes=37)
WARM_UP = 8


@dataclass(frozen=True)
class Question:
    text: str  # as typed after /icx-score
    departments: tuple[Department, ...]  # one, or all for the overview
    spec: str
    now: datetime


def questions(company: Company, count: int, overview: bool) -> list[Question]:
    departments = company.departments
    asked = []
    for index in range(count):
        spec = SPECS[index % len(SPECS)]
        now = dataset.NOW - index * STEP
        if overview:
            asked.append(Question(spec, departments, spec, now))
        else:
            department = departments[(index * 7) % len(departments)]
            asked.append(Question(f"{department.name} {spec}", (department,), spec, now))
    return asked


async def raw_scores(
    session: AsyncSession, company: Company, question: Question
) -> list[DepartmentScore]:
    """department_scores' numbers counted the plain way: the baseline."""
    by_window: dict[Window, list[Department]] = {}
    for department in question.departments:
        win = window(question.spec, question.now, department.zone)
        by_window.setdefault(win, []).append(department)
    scores = []
    for win, members in by_window.items():
        keys = [d.key for d in members]
        current = await raw_tallies(session, win.current, keys)
        previous = await raw_tallies(session, win.previous, keys)
        minimum = company.policy.reporting_min_n
        scores += [
            DepartmentScore(d, win, current[d.key], previous[d.key], minimum) for d in members
        ]
    return sorted(scores, key=lambda s: s.department.name.casefold())


def worded(scores: list[DepartmentScore], overview: bool) -> ScoreText:
    t = translator("en")
    if overview:
        return score_text.overview(scores, scores[0].window, t, score_text.SLASH_COMMAND)
    return score_text.describe(scores[0], t)


@dataclass
class Run:
    icx_ms: list[float] = field(default_factory=list)
    icx_cpu_ms: list[float] = field(default_factory=list)  # this process's CPU time
    baseline_ms: list[float] = field(default_factory=list)
    equal: int = 0
    mismatches: list[str] = field(default_factory=list)


async def timed(call: Callable[[], Awaitable[object]]) -> tuple[float, object]:
    began = time.perf_counter()
    result = await call()
    return (time.perf_counter() - began) * 1000, result


async def measure(db: Database, company: Company, asked: list[Question], overview: bool) -> Run:
    clock = [dataset.NOW]
    icx = Icx(company, db, Keyer("benchmark-secret-0123456789"), clock=lambda: clock[0])
    t = translator("en")
    run = Run()
    for question in asked[:WARM_UP]:  # statement caches, connection pool, imports
        clock[0] = question.now
        await score_command.answer(icx, question.text, t)
    answers = []
    for question in asked:
        clock[0] = question.now
        cpu = time.process_time()
        ms, answer = await timed(lambda q=question: score_command.answer(icx, q.text, t))
        run.icx_cpu_ms.append((time.process_time() - cpu) * 1000)
        run.icx_ms.append(ms)
        answers.append(answer)
    for question, answer in zip(asked, answers, strict=True):
        async with db.session() as session:
            ms, result = await timed(lambda s=session, q=question: raw_scores(s, company, q))
            assert isinstance(result, list)
            baseline: list[DepartmentScore] = result
            ours = await department_scores(
                session, company, list(question.departments), question.spec, question.now
            )
        run.baseline_ms.append(ms)
        same_numbers = [(s.current, s.previous) for s in ours] == [
            (s.current, s.previous) for s in baseline
        ]
        if same_numbers and answer == worded(baseline, overview):
            run.equal += 1
        else:
            run.mismatches.append(f"{question.text!r} at {question.now:%Y-%m-%d %H:%M}")
    return run


def target_for(responses: int) -> float | None:
    return TARGETS_MS.get(responses)


def table(data: dataset.Dataset, single: Run, overview: Run) -> Table:
    target = target_for(data.size)
    result = Table(
        f"/icx-score from the daily sums: {data.size:,} responses, {data.kind}",
        context={
            "data": data.describe(),
            "database": data.description,
            "machine": machine(),
            "load avg": f"{os.getloadavg()[0]:.2f} (1 min, after the run)",
            "versions": versions(),
            "questions": (
                f"{len(single.icx_ms)} for one department, {len(overview.icx_ms)} for all 50; "
                f"periods {', '.join(SPECS)}; clock stepping back {STEP.seconds // 60} min each"
            ),
        },
        baseline_name="raw SQL",
    )
    for label, run in (("one department", single), ("all departments", overview)):
        icx, base = sorted(run.icx_ms), sorted(run.baseline_ms)
        for p in (50, 95, 99):
            goal = target if p == 95 else None
            result.add(
                f"{label} p{p} (ms)",
                percentile(icx, p),
                percentile(base, p),
                target=f"<= {goal:g} ms" if goal else "",
                met=None if goal is None else percentile(icx, p) <= goal,
            )
        result.add(f"{label}: CPU p50 (ms, this process)", percentile(sorted(run.icx_cpu_ms), 50))
        total = len(run.icx_ms)
        result.add(
            f"{label}: answers equal to the baseline's",
            f"{run.equal}/{total}",
            target="all",
            met=run.equal == total,
        )
        result.notes += [f"{label} differs: {m}" for m in run.mismatches[:5]]
    result.notes.append(
        "icx: the whole score_command.answer(); raw SQL: only the two periods' aggregates over "
        "the raw rows (the same question)"
    )
    result.notes.append(
        "CPU: user+system time of this process per answer (SQLite's work included, PostgreSQL's "
        "server not): the cost apart from waiting for a shared machine's cores"
    )
    return result


async def run(kinds: tuple[str, ...], sizes: tuple[int, ...], repeat: int, fresh: bool) -> bool:
    company = dataset.company()
    healthy = True
    for responses in sizes:
        for kind in kinds:
            data = await dataset.ensure(kind, responses, fresh=fresh)
            db = Database(data.url)
            try:
                single = await measure(db, company, questions(company, repeat, False), False)
                overview_count = max(WARM_UP, repeat // 5)
                overview = await measure(
                    db, company, questions(company, overview_count, True), True
                )
            finally:
                await db.dispose()
            report = table(data, single, overview)
            emit(report)
            healthy &= not report.failed_targets
    return healthy


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.scores",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="responses per data set, comma-separated (default 10000,1000000,10000000)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=200,
        help="one-department questions per data set (default 200); the overview gets a fifth",
    )
    parser.add_argument("--fresh", action="store_true", help="generate the data sets again")
    parser.add_argument("--smoke", action="store_true", help="a tiny data set, a few questions")
    args = parser.parse_args(argv)
    try:
        args.sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas")
    if args.smoke:
        args.sizes, args.repeat = SMOKE_SIZES, 24
    if args.repeat < 1 or any(s < 1 for s in args.sizes):
        parser.error("--repeat and --sizes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    kinds = dataset.kinds(args.database)
    return 0 if asyncio.run(run(tuple(kinds), args.sizes, args.repeat, args.fresh)) else 1


if __name__ == "__main__":
    sys.exit(main())
