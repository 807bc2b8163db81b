"""The load generator every scenario shares: prepared HTTP requests sent over loopback from a
process of its own, so that it never competes with the server's or the orchestrator's event loop.

Two ways to send, both bounded in requests and time:
- open loop at a fixed rate: every request leaves at its scheduled time whatever happened to
  earlier ones, and its latency counts from that scheduled time, so a server that falls behind
  cannot hide it by slowing the sender;
- closed loop (saturation): a fixed number of requests in flight, the next one sent as soon as
  one is answered, for at most a given time: the most a server answers per second.

This module is imported by the generator's process: it loads aiohttp and nothing of icx.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from tests.perf.report import Table, percentile

if TYPE_CHECKING:
    from tests.perf.servers import ServerProcess

# Longer than any answer worth having; a request still unanswered by then is an error.
REQUEST_TIMEOUT = 15.0
# Open loop: the first send leaves this long after the generator is ready.
LEAD_IN = 0.05
# Open loop: a server this far behind (requests sent and not answered) will not catch up within
# the run; sending stops there, so that a run stays bounded in time, sockets and memory.
MAX_IN_FLIGHT = 1000


@dataclass(frozen=True)
class Plan:
    """What to send and what counts as a good answer."""

    url: str
    bodies: list[bytes]
    headers: dict[str, str]  # sent with every request
    per_request: list[dict[str, str]] | None = None  # e.g. each Slack request's signature
    ok_status: int = 200
    # When set, the answer must be JSON whose "type" is this (a Teams invoke answer's card).
    ok_type: str | None = None

    def headers_of(self, index: int) -> dict[str, str]:
        if self.per_request is None:
            return self.headers
        return {**self.headers, **self.per_request[index]}


@dataclass(frozen=True)
class Sample:
    index: int  # which of the plan's requests
    latency: float  # seconds from the scheduled (open) or actual (closed) send to the answer
    lag: float  # how late the generator actually sent it (open loop)
    status: int  # 0: no HTTP answer
    failure: str  # "" for a good answer; else what went wrong

    @property
    def ok(self) -> bool:
        return not self.failure


@dataclass(frozen=True)
class LoadResult:
    samples: list[Sample]  # one per request sent, in the plan's order
    elapsed: float  # first send to last answer
    planned: int = 0  # requests in the plan (more than were sent when the load was cut short)


def _judge(plan: Plan, status: int, raw: bytes) -> str:
    if status != plan.ok_status:
        return f"HTTP {status}"
    if plan.ok_type is None:
        return ""
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return "no JSON body"
    kind = str(answer.get("type", ""))
    return "" if kind == plan.ok_type else f"answer of type {kind or '(none)'}"


async def _one(
    http: aiohttp.ClientSession, plan: Plan, index: int, at: float
) -> tuple[Sample, float]:
    loop = asyncio.get_running_loop()
    lag = loop.time() - at
    try:
        async with http.post(
            plan.url, data=plan.bodies[index], headers=plan.headers_of(index)
        ) as r:
            raw = await r.read()
            status = r.status
    except (aiohttp.ClientError, TimeoutError) as error:
        end = loop.time()
        return Sample(index, end - at, lag, 0, type(error).__name__), end
    end = loop.time()
    return Sample(index, end - at, lag, status, _judge(plan, status, raw)), end


def _session() -> aiohttp.ClientSession:
    # No connection limit: an open-loop sender must never queue behind its own pool.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )


def open_loop(plan: Plan, rate: float) -> LoadResult:
    return asyncio.run(_open_loop(plan, rate))


async def _open_loop(plan: Plan, rate: float) -> LoadResult:
    loop = asyncio.get_running_loop()
    unanswered: set[asyncio.Task[tuple[Sample, float]]] = set()
    async with _session() as http:
        start = loop.time() + LEAD_IN
        pending = []
        for index in range(len(plan.bodies)):
            if len(unanswered) >= MAX_IN_FLIGHT:
                break
            at = start + index / rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_one(http, plan, index, at))
            unanswered.add(task)
            task.add_done_callback(unanswered.discard)
            pending.append(task)
        done = await asyncio.gather(*pending)
    last = max((end for _, end in done), default=start)
    return LoadResult([sample for sample, _ in done], last - start, len(plan.bodies))


def closed_loop(plan: Plan, concurrency: int, max_seconds: float) -> LoadResult:
    return asyncio.run(_closed_loop(plan, concurrency, max_seconds))


async def _closed_loop(plan: Plan, concurrency: int, max_seconds: float) -> LoadResult:
    loop = asyncio.get_running_loop()
    indexes = iter(range(len(plan.bodies)))
    samples: list[Sample] = []
    start = loop.time()
    deadline = start + max_seconds
    last = start

    async def sender() -> None:
        nonlocal last
        for index in indexes:
            if loop.time() >= deadline:
                return
            sample, end = await _one(http, plan, index, loop.time())
            samples.append(sample)
            last = max(last, end)

    async with _session() as http:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return LoadResult(sorted(samples, key=lambda s: s.index), last - start, len(plan.bodies))


def _warm_up() -> None:
    """Run once in the worker, so that its start-up is inside no measurement."""


@contextmanager
def load_worker() -> Iterator[ProcessPoolExecutor]:
    # Spawned, not forked: the orchestrator already runs an event loop and the stand-ins.
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        pool.submit(_warm_up).result()
        yield pool


# --- measuring a server --------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    n: int  # requests sent
    ok: int
    p50: float  # seconds, over every request that got an HTTP answer
    p95: float
    p99: float
    max: float
    throughput: float  # good answers per second, first send to last answer
    errors: Counter[str] = field(default_factory=Counter)
    lag_max: float = 0.0
    cpu_per_request: float = math.nan  # the server's CPU seconds per request sent


def summarize(result: LoadResult, cpu_seconds: float = math.nan) -> Summary:
    # A refusal is fast and still counts; requests without any answer appear only as errors.
    answered = sorted(s.latency for s in result.samples if s.status)
    ok = sum(s.ok for s in result.samples)
    n = len(result.samples)
    return Summary(
        n=n,
        ok=ok,
        p50=percentile(answered, 50),
        p95=percentile(answered, 95),
        p99=percentile(answered, 99),
        max=answered[-1] if answered else math.nan,
        throughput=ok / result.elapsed if result.elapsed > 0 else 0.0,
        errors=Counter(s.failure for s in result.samples if not s.ok),
        lag_max=max((s.lag for s in result.samples), default=0.0),
        cpu_per_request=cpu_seconds / n if n else math.nan,
    )


async def measure_open(
    pool: ProcessPoolExecutor, server: ServerProcess, plan: Plan, rate: float
) -> tuple[LoadResult, Summary]:
    return await _measure(pool, server, open_loop, plan, rate)


async def measure_closed(
    pool: ProcessPoolExecutor, server: ServerProcess, plan: Plan, concurrency: int, seconds: float
) -> tuple[LoadResult, Summary]:
    return await _measure(pool, server, closed_loop, plan, concurrency, seconds)


async def _measure(
    pool: ProcessPoolExecutor,
    server: ServerProcess,
    send: Callable[..., LoadResult],
    *args: object,
) -> tuple[LoadResult, Summary]:
    """Sends from the worker, then waits for the server to be idle again (work it still does
    for requests already answered must neither overlap the next measurement nor be missing
    from a commit check)."""
    loop = asyncio.get_running_loop()
    cpu = server.cpu_seconds()
    result = await loop.run_in_executor(pool, send, *args)
    busy = await server.settle()
    if busy > 1.0:
        print(f"  {server.name} was busy for {busy:.1f} s more after the last answer")
    if send is open_loop and len(result.samples) < result.planned:
        print(
            f"  !!! {server.name} fell {MAX_IN_FLIGHT} requests behind: the load stopped after "
            f"{len(result.samples)} of {result.planned}"
        )
    return result, summarize(result, server.cpu_seconds() - cpu)


def _target(target: tuple[str, bool] | None) -> dict[str, object]:
    return {} if target is None else {"target": target[0], "met": target[1]}


def add_latency_rows(
    table: Table,
    icx: Summary,
    baseline: Summary,
    *,
    p99_target: tuple[str, bool] | None = None,
    throughput_target: tuple[str, bool] | None = None,
) -> None:
    """The rows every latency table has: percentiles in ms, throughput, errors and CPU; a
    target is its text and whether icx met it."""
    table.add("requests (n)", icx.n, baseline.n)
    for label in ("p50", "p95", "p99", "max"):
        extra = _target(p99_target) if label == "p99" else {}
        table.add(
            f"{label} ms", getattr(icx, label) * 1000, getattr(baseline, label) * 1000, **extra
        )
    table.add("answered ok /s", icx.throughput, baseline.throughput, **_target(throughput_target))
    table.add("errors", sum(icx.errors.values()), sum(baseline.errors.values()))
    table.add("server CPU ms/request", icx.cpu_per_request * 1000, baseline.cpu_per_request * 1000)
    table.add("send lag max ms", icx.lag_max * 1000, baseline.lag_max * 1000)
    for who, summary in (("icx", icx), (table.baseline_name, baseline)):
        for kind, count in sorted(summary.errors.items()):
            table.notes.append(f"{who}: {count} x {kind}")
