"""How many interactions a second icx's intake API records, next to a server that only parses and
validates them.

    python -m tests.perf --only intake [--database sqlite|postgresql|both] [--smoke]

Each request is a `POST /api/v1/interactions` for a different person (so icx looks each one up
with Slack's users.info on the stand-in, cached per user afterwards) with a fixed provider; icx
checks the policy, records the interaction and schedules a prompt, which its outbox delivers to
the stand-in meanwhile, as in production. The baseline runs icx's own request handling up to the
core (token, body, JSON, the contract: bots.intake_api.parse_intake) and answers 201 without
looking anyone up or recording anything: what remains is the cost of the core and database.

Two loads from the separate load generator: 500 requests a second open loop for 20 s, then
saturation (a closed loop, bounded). Checked afterwards: every request answered 201 is recorded
with its prompt, and the outbox delivered every prompt.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select

from storage.db import Database
from storage.models import Interaction, Prompt
from tests.conftest import API_TOKEN, PROVIDER
from tests.perf import baselines
from tests.perf.load import (
    Plan,
    Summary,
    add_latency_rows,
    load_worker,
    measure_closed,
    measure_open,
)
from tests.perf.report import Table, emit
from tests.perf.scenario import (
    RSS_LIMIT_MIB,
    Health,
    Setup,
    arguments,
    context,
    run_each_database,
    setup,
    wait_until_delivered,
)
from tests.perf.servers import ServerProcess, serve_icx, server_process

P99_LIMIT_MS = 50.0
MIN_THROUGHPUT = 500.0
DEPARTMENTS = (("finance", "expense-reimbursement"), ("it", None), ("legal", None))


@dataclass(frozen=True)
class Sizes:
    warmup: int
    rate: float
    seconds: float
    saturation: int  # requests at most
    in_flight: int
    saturation_seconds: float

    @property
    def open_requests(self) -> int:
        return round(self.rate * self.seconds)


FULL = Sizes(
    warmup=500, rate=500, seconds=20, saturation=10_000, in_flight=32, saturation_seconds=20
)
# Small enough that a slow CI machine does not fall seconds behind.
SMOKE = Sizes(warmup=20, rate=100, seconds=0.5, saturation=60, in_flight=4, saturation_seconds=5)


def user_id(index: int) -> str:
    return f"UINT{index:07d}"


def plan_for(url: str, first: int, count: int, source: str) -> Plan:
    """`count` interactions for people first, first+1, …: each a different person."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    bodies = []
    for index in range(first, first + count):
        department, service = DEPARTMENTS[index % len(DEPARTMENTS)]
        body = {
            "department": department,
            "requester": {"slack_user_id": user_id(index)},
            "provider": {"slack_user_id": PROVIDER},
            "source": source,
            "reference": f"INT-{index:07d}",
            "occurred_at": now,
        }
        if service is not None:
            body["service"] = service
        bodies.append(json.dumps(body).encode())
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_TOKEN}"}
    return Plan(f"{url}/api/v1/interactions", bodies, headers, ok_status=201)


async def recorded(db: Database, source: str) -> tuple[int, int]:
    """Interactions recorded from `source`, and how many of them have a prompt."""
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Interaction.id, Prompt.id)
                .outerjoin(Prompt, col(Prompt.interaction_id) == Interaction.id)
                .where(col(Interaction.source) == source)
            )
        ).all()
    return len(rows), sum(1 for _, prompt_id in rows if prompt_id is not None)


@dataclass
class Phase:
    label: str
    first: int
    count: int
    closed: tuple[int, float] | None = None


async def both(
    pool: object,
    icx: ServerProcess,
    baseline: ServerProcess,
    db: Database,
    phase: Phase,
    rate: float,
    health: Health,
) -> tuple[Summary, Summary]:
    """The same requests (different people for each server's) to the baseline, then to icx."""
    summaries = []
    for server in (baseline, icx):
        plan = plan_for(server.url, phase.first, phase.count, f"perf-{phase.label}")
        if phase.closed is None:
            _, summary = await measure_open(pool, server, plan, rate)  # type: ignore[arg-type]
        else:
            _, summary = await measure_closed(pool, server, plan, *phase.closed)  # type: ignore[arg-type]
        summaries.append(summary)
    base, mine = summaries
    health.check(base.ok == base.n, f"intake {phase.label}: baseline failed {dict(base.errors)}")
    health.check(mine.ok == mine.n, f"intake {phase.label}: icx failed {dict(mine.errors)}")
    interactions, with_prompt = await recorded(db, f"perf-{phase.label}")
    print(f"  {phase.label}: {mine.ok} answered 201; {interactions} recorded, {with_prompt} asked")
    health.check(
        interactions == with_prompt >= mine.ok,
        f"intake {phase.label}: {mine.ok} answered 201 but {interactions} recorded "
        f"({with_prompt} with a prompt)",
    )
    return mine, base


async def run_on(kind: str, sizes: Sizes, health: Health) -> None:
    async with setup(kind) as ready:
        ready.slack.add_user(PROVIDER, "Ana Silva", email="ana@acme.example")
        for index in range(sizes.warmup + sizes.open_requests + sizes.saturation):
            ready.slack.add_user(user_id(index), f"Intake Person {index}")
        await _run(ready, sizes, health)


async def _run(ready: Setup, sizes: Sizes, health: Health) -> None:
    db, log_file = ready.db, ready.log_file
    phases = [
        Phase("warm-up", 0, sizes.warmup),
        Phase("open", sizes.warmup, sizes.open_requests),
        Phase(
            "saturation",
            sizes.warmup + sizes.open_requests,
            sizes.saturation,
            (sizes.in_flight, sizes.saturation_seconds),
        ),
    ]
    results: dict[str, tuple[Summary, Summary]] = {}
    with load_worker() as pool:
        async with AsyncExitStack() as stack:
            icx, baseline = await asyncio.gather(
                stack.enter_async_context(
                    server_process("icx", serve_icx, ready.config, log_file, True)
                ),
                stack.enter_async_context(
                    server_process("intake baseline", baselines.serve_intake, log_file, API_TOKEN)
                ),
            )
            for phase in phases:
                results[phase.label] = await both(
                    pool, icx, baseline, db, phase, sizes.rate, health
                )
            waited = await wait_until_delivered(db, within=120)
            print(f"  the outbox had delivered every prompt {waited:.1f} s after the load")
            peak = icx.peak_rss_mib()
            base_peak = baseline.peak_rss_mib()
    data = f"{sum(p.count for p in phases)} interactions, each for a different person"
    ctx = context(ready.database, data)
    mine, base = results["open"]
    table = Table(
        f"Intake API: POST /api/v1/interactions, {sizes.rate:g}/s open loop for "
        f"{sizes.seconds:g} s",
        context=ctx,
        baseline_name="parse only",
    )
    p99_ms = mine.p99 * 1000
    # Sustained: the offered rate is the target's and every request was answered in step.
    kept_up = sizes.rate >= MIN_THROUGHPUT and mine.throughput >= 0.99 * sizes.rate
    add_latency_rows(
        table,
        mine,
        base,
        p99_target=(f"<= {P99_LIMIT_MS:g} ms", p99_ms <= P99_LIMIT_MS),
        throughput_target=(f">= {MIN_THROUGHPUT:g} sustained", kept_up),
    )
    table.add(
        "server peak RSS MiB",
        peak,
        base_peak,
        target=f"<= {RSS_LIMIT_MIB:.1f} (200 MB)",
        met=peak <= RSS_LIMIT_MIB,
    )
    emit(table)
    mine, base = results["saturation"]
    table = Table(
        f"Intake API at saturation: {sizes.in_flight} in flight, closed loop, at most "
        f"{sizes.saturation} requests or {sizes.saturation_seconds:g} s",
        context=ctx,
        baseline_name="parse only",
    )
    add_latency_rows(table, mine, base)
    emit(table)


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m tests.perf --only intake", __doc__).parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    return run_each_database(args.database, lambda kind, health: run_on(kind, sizes, health))
