"""How fast icx acknowledges Slack satisfaction taps, next to a bare slack-bolt AsyncApp.

    python -m tests.perf --only slack_taps [--database sqlite|postgresql|both] [--smoke]

A tap is a correctly signed `block_actions` request (a satisfaction button, `icx_csat_N`) POSTed
to /slack/events. icx commits the tap inside the listener and then acknowledges (Bolt's
process_before_response, GUIDE §7), so an HTTP 200 means the answer is saved; the message is
redrawn after the answer. Every tap is on a different live prompt of a different person: the
prompts are asked through the intake API and delivered by the outbox to the Slack stand-in.

Three server processes take the same taps from the same load generator (its own process):
icx, and two baselines that only acknowledge, on the same stack (aiohttp, icx's Slack adapter):
a bare AsyncApp with Bolt's default runner (the issue's baseline: the targets compare with it)
and one with process_before_response=True (the floor GUIDE §7 measures: no 10 ms ack polling).

Two loads: 200 taps/s open loop for 30 s, then saturation (a closed loop with a fixed number of
taps in flight, bounded in taps and seconds). Afterwards every acknowledged tap is looked up in
the database: one acknowledged but not committed fails the run.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp

from bots.slack.signature import signed_headers
from bots.standin.slack_web_api import SlackStandIn
from storage.db import Database
from tests import slack_requests
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
    Delivered,
    Expected,
    Health,
    Poster,
    Setup,
    arguments,
    check_commits,
    context,
    delivered_prompts,
    report_check,
    run_each_database,
    setup,
    wait_until_delivered,
)
from tests.perf.servers import ServerProcess, serve_icx, server_process

# The targets.
P99_LIMIT_MS = 25.0
VS_DEFAULT = 1.5  # icx's p99 over the bare default AsyncApp's
# GUIDE §7's aim: within 2.5x of the inline floor.
VS_INLINE = 2.5


@dataclass(frozen=True)
class Sizes:
    warmup: int  # taps per server before anything is measured
    rate: float
    seconds: float  # of the open-loop load
    saturation_taps: int
    in_flight: int  # the closed loop's concurrency
    saturation_seconds: float

    @property
    def open_taps(self) -> int:
        return round(self.rate * self.seconds)

    @property
    def people(self) -> int:
        return self.warmup + self.open_taps + self.saturation_taps


FULL = Sizes(
    warmup=200, rate=200, seconds=30, saturation_taps=3000, in_flight=32, saturation_seconds=20
)
# Small enough that a slow CI machine does not fall seconds behind (a smoke run checks that it
# all works, not how fast).
SMOKE = Sizes(
    warmup=10, rate=200, seconds=0.15, saturation_taps=40, in_flight=4, saturation_seconds=5
)


def user_id(index: int) -> str:
    return f"UPERF{index:07d}"


def satisfaction(index: int) -> int:
    return 1 + index % 5


@dataclass(frozen=True)
class Taps:
    """Signed tap requests on delivered prompts (the signatures are made now: Slack's are valid
    for five minutes, so each load gets its own)."""

    plan: Plan
    expected: list[Expected]


def taps_on(url: str, prompts: list[tuple[int, Delivered]], response_url: str) -> Taps:
    bodies, signatures, expected = [], [], []
    secret = slack_requests.SIGNING_SECRET
    for index, prompt in prompts:
        value = satisfaction(index)
        payload = slack_requests.button_tap(
            prompt.prompt_id,
            f"icx_csat_{value}",
            user=user_id(index),
            channel=prompt.channel_id,
            ts=prompt.message_id,
            response_url=response_url,
        )
        body = slack_requests.form_body(payload)
        bodies.append(body)
        signatures.append(signed_headers(body, secret))
        expected.append(Expected(prompt.prompt_id, "satisfaction", value))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return Taps(Plan(f"{url}/slack/events", bodies, headers, signatures), expected)


async def prepare(
    icx: ServerProcess, db: Database, slack: SlackStandIn, count: int
) -> list[tuple[int, Delivered]]:
    """`count` people, each asked about one service through the intake API; returns once the
    outbox has delivered every prompt to the stand-in."""
    for index in range(count):
        slack.add_user(user_id(index), f"Perf Person {index}", email=f"perf{index}@acme.example")
    began = time.monotonic()
    async with aiohttp.ClientSession() as http:
        poster = Poster(http)
        ids = await asyncio.gather(
            *(
                poster.ask(icx.url, {"slack_user_id": user_id(i)}, f"TAP-{i:07d}")
                for i in range(count)
            )
        )
    asked = time.monotonic()
    print(f"prepare: {count} people asked through the intake API in {asked - began:.1f} s")
    poster.report_retries()
    waited = await wait_until_delivered(db, within=60 + count / 20)
    print(f"prepare: every prompt delivered {waited:.1f} s later")
    return list(enumerate(await delivered_prompts(db, ids)))


@dataclass
class Servers:
    icx: ServerProcess
    default: ServerProcess  # bare AsyncApp, default runner
    inline: ServerProcess  # bare AsyncApp, process_before_response=True

    @property
    def all(self) -> tuple[ServerProcess, ServerProcess, ServerProcess]:
        return (self.default, self.inline, self.icx)


@dataclass
class Measured:
    icx: Summary
    default: Summary
    inline: Summary


async def load_all(
    pool: ProcessPoolExecutor,
    servers: Servers,
    prompts: list[tuple[int, Delivered]],
    slack: SlackStandIn,
    db: Database,
    health: Health,
    label: str,
    closed: tuple[int, float] | None = None,
    rate: float = 0.0,
) -> Measured:
    """The same taps to each server in turn (the baselines first); icx's are checked."""
    summaries: dict[str, Summary] = {}
    for server in servers.all:
        taps = taps_on(server.url, prompts, slack.response_url("perf"))
        if closed is None:
            result, summary = await measure_open(pool, server, taps.plan, rate)
        else:
            result, summary = await measure_closed(pool, server, taps.plan, *closed)
        summaries[server.name] = summary
        if server is servers.icx:
            check = await check_commits(db, taps.expected, result.samples)
            report_check(label, check, health)
        else:
            health.check(summary.ok == summary.n, f"{label}: {server.name} failed {summary.errors}")
    return Measured(summaries["icx"], summaries["bolt default"], summaries["bolt inline"])


def open_table(sizes: Sizes, m: Measured, ctx: dict[str, str], peaks: dict[str, float]) -> Table:
    table = Table(
        f"Slack satisfaction taps, {sizes.rate:g}/s open loop for {sizes.seconds:g} s",
        context=ctx,
        baseline_name="bolt default",
    )
    p99_ms = m.icx.p99 * 1000
    add_latency_rows(
        table,
        m.icx,
        m.default,
        p99_target=(f"<= {P99_LIMIT_MS:g} ms", p99_ms <= P99_LIMIT_MS),
    )
    ratio = m.icx.p99 / m.default.p99
    table.add(
        "p99 / bolt default p99",
        ratio,
        digits=2,
        target=f"<= {VS_DEFAULT:g}",
        met=ratio <= VS_DEFAULT,
    )
    # The inline floor has no column of its own: icx's figure and the floor's, in one row each.
    table.add("p50 ms (baseline: bolt inline)", m.icx.p50 * 1000, m.inline.p50 * 1000)
    inline_ratio = m.icx.p99 / m.inline.p99
    table.add(
        "p99 ms (baseline: bolt inline)",
        p99_ms,
        m.inline.p99 * 1000,
        target=f"<= {VS_INLINE:g}x (GUIDE)",
        met=inline_ratio <= VS_INLINE,
    )
    table.add(
        "server peak RSS MiB",
        peaks["icx"],
        peaks["bolt default"],
        target=f"<= {RSS_LIMIT_MIB:.1f} (200 MB)",
        met=peaks["icx"] <= RSS_LIMIT_MIB,
    )
    table.add("bolt inline peak RSS MiB", None, peaks["bolt inline"])
    return table


def saturation_table(sizes: Sizes, m: Measured, ctx: dict[str, str]) -> Table:
    table = Table(
        f"Slack satisfaction taps at saturation: {sizes.in_flight} in flight, closed loop, "
        f"at most {sizes.saturation_taps} taps or {sizes.saturation_seconds:g} s",
        context=ctx,
        baseline_name="bolt default",
    )
    add_latency_rows(table, m.icx, m.default)
    table.add("answered ok /s (baseline: bolt inline)", m.icx.throughput, m.inline.throughput)
    table.add("p99 ms (baseline: bolt inline)", m.icx.p99 * 1000, m.inline.p99 * 1000)
    return table


async def run_on(kind: str, sizes: Sizes, health: Health) -> None:
    async with setup(kind) as ready:
        await _run(ready, sizes, health)


async def _run(ready: Setup, sizes: Sizes, health: Health) -> None:
    secret = slack_requests.SIGNING_SECRET
    config, db, slack, log_file = ready.config, ready.db, ready.slack, ready.log_file
    with load_worker() as pool:
        async with AsyncExitStack() as stack:
            started = await asyncio.gather(
                stack.enter_async_context(server_process("icx", serve_icx, config, log_file, True)),
                stack.enter_async_context(
                    server_process("bolt default", baselines.serve_bolt, log_file, secret, False)
                ),
                stack.enter_async_context(
                    server_process("bolt inline", baselines.serve_bolt, log_file, secret, True)
                ),
            )
            servers = Servers(*started)
            prompts = await prepare(servers.icx, db, slack, sizes.people)
            warm = prompts[: sizes.warmup]
            fixed = prompts[sizes.warmup : sizes.warmup + sizes.open_taps]
            saturating = prompts[sizes.warmup + sizes.open_taps :]
            # Lazy imports, statement caches and connection pools are filled first.
            await load_all(pool, servers, warm, slack, db, health, "warm-up", rate=sizes.rate)
            at_rate = await load_all(
                pool, servers, fixed, slack, db, health, "open loop", rate=sizes.rate
            )
            peaks = {s.name: s.peak_rss_mib() for s in servers.all}
            saturated = await load_all(
                pool,
                servers,
                saturating,
                slack,
                db,
                health,
                "saturation",
                closed=(sizes.in_flight, sizes.saturation_seconds),
            )
            peaks["icx"] = servers.icx.peak_rss_mib()
    data = (
        f"{sizes.people} people, one delivered prompt each; every tap on a different prompt "
        f"(after {sizes.warmup} warm-up taps per server)"
    )
    ctx = context(ready.database, data, "slack-bolt", "slack-sdk", "aiohttp", "sqlalchemy")
    emit(open_table(sizes, at_rate, ctx, peaks))
    emit(saturation_table(sizes, saturated, ctx))


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m tests.perf --only slack_taps", __doc__).parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    return run_each_database(args.database, lambda kind, health: run_on(kind, sizes, health))
