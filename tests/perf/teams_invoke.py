"""How fast icx answers Teams card taps, next to a bare botbuilder server doing the same HTTP work.

    python -m tests.perf.teams_invoke [--database sqlite|postgresql] [--taps N] [--rate R]
    python -m tests.perf.teams_invoke --smoke

A tap is an Adaptive Card `Action.Execute`: an `invoke` named `adaptiveCard/action` POSTed to
/api/messages, answered with the next card in the HTTP response once the core has committed the
tap (GUIDE §7). The aim is well under 1 s, close to the bare baseline.

Four processes, so that none of them steals the others' event loop: this one (orchestration, the
Slack and Bot Connector stand-ins, preparation and checks), the icx server (the real Runtime and
aiohttp server, Teams without authentication, real clock), the baseline server (aiohttp +
botbuilder's CloudAdapter behind icx's own /api/messages handling, a bot that answers every tap
with a fixed card), and the load generator. The generator sends open loop: every tap leaves at
its scheduled time whatever happened to earlier ones, and its latency is counted from that
scheduled time, so a server that falls behind cannot hide it by slowing the sender.

Every tap is on a different live prompt of a different person: first satisfaction (`icx.csat`),
then effort (`icx.ces`) on the same prompts. Afterwards every tap answered with a card is looked
up in the database; the exit status is non-zero when any tap failed or was not committed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import math
import multiprocessing
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web

if __name__ != "__mp_main__":
    # Spawned processes (the two servers, the load generator) import this module as
    # __mp_main__ and skip these: each server imports only what it runs, so that its memory is
    # its own and not that of pytest, the stand-ins and the test helpers.
    import asyncpg
    from sqlmodel import col, func, select

    from bots.standin.bot_connector import BotConnectorStandIn
    from bots.standin.slack_web_api import SlackStandIn
    from bots.teams import cards
    from core.config import Config, parse_company
    from storage.db import Database
    from storage.migrate import upgrade
    from storage.models import Prompt, Response
    from tests import teams_activities
    from tests.conftest import API_TOKEN, COMPANY, PG_ADMIN, personal_conversation, settings_for

HOST = "127.0.0.1"
# Longer than any answer worth having; a tap still unanswered by then counts as an error.
REQUEST_TIMEOUT = 15.0
# Preparation only (installs, intake): the server's one core is the limit, and more at once
# only lengthens its event-loop turns (SQLite writers then time out waiting for the lock).
PREPARE_CONCURRENCY = 4
# Installs and intake are idempotent, so a 5xx in preparation is retried (and reported).
PREPARE_ATTEMPTS = 3
# Teams' kinds of invoke answer (GUIDE §7), written out: the baseline and the load generator
# load nothing of icx.
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
# What the baseline bot answers to every tap: a small card of the kind icx sends.
FIXED_ANSWER: dict[str, Any] = {
    "statusCode": 200,
    "type": ADAPTIVE_CARD,
    "value": {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Thanks for your feedback!", "wrap": True}],
    },
}


# --- people and taps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    index: int

    @property
    def user_id(self) -> str:
        return f"29:1perf-user-{self.index:06d}"

    @property
    def aad(self) -> str:
        return f"0f6c2f7e-5d4b-4a39-8e21-{self.index:012d}"

    @property
    def name(self) -> str:
        return f"Perf Person {self.index}"

    @property
    def email(self) -> str:
        return f"perf{self.index}@acme.example"

    @property
    def conversation(self) -> str:
        return personal_conversation(self.user_id)

    @property
    def reference(self) -> str:
        return f"PERF-{self.index:06d}"


@dataclass(frozen=True)
class LivePrompt:
    """A prompt the outbox has delivered, and where its card is (what a tap carries)."""

    person: Person
    prompt_id: str
    message_id: str


@dataclass(frozen=True)
class Tap:
    prompt_id: str
    column: str  # the Response column the tap sets
    value: int
    body: bytes


def satisfaction(index: int) -> int:
    return 1 + index % 5


def effort(index: int) -> int:
    return 1 + index % 7


def taps_for(prompts: list[LivePrompt], verb: str, service_url: str) -> list[Tap]:
    column, value_of = ("satisfaction", satisfaction) if verb == cards.CSAT else ("effort", effort)
    taps = []
    for live in prompts:
        person, value = live.person, value_of(live.person.index)
        activity = teams_activities.card_action(
            service_url,
            verb,
            {"prompt": live.prompt_id, "value": value},
            aad_object_id=person.aad,
            user_id=person.user_id,
            conversation_id=person.conversation,
            reply_to_id=live.message_id,
            name=person.name,
        )
        # Serialized here, so the generator only sends bytes.
        taps.append(Tap(live.prompt_id, column, value, json.dumps(activity).encode()))
    return taps


# --- the load generator (its own process) ---------------------------------------------------


@dataclass(frozen=True)
class Sample:
    latency: float  # seconds from the scheduled send to the whole answer read
    lag: float  # how late the generator actually sent it
    status: int  # 0: no HTTP answer
    kind: str  # the invoke answer's `type`, or what went wrong

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.kind == ADAPTIVE_CARD

    @property
    def failure(self) -> str:
        """What went wrong, for a tap that is not ok: the transport error, or the status, or
        the kind of answer (a refusal is a message, not a card)."""
        if self.status == 200 and self.kind == MESSAGE:
            return "refused (a message instead of the next card)"
        return self.kind if self.status in (0, 200) else f"HTTP {self.status}"


@dataclass(frozen=True)
class LoadResult:
    samples: list[Sample]
    elapsed: float  # first scheduled send to last answer


def warm_up_worker() -> None:
    """Run once in the pool, so the worker's start-up is not inside any measurement."""


def run_load(url: str, bodies: list[bytes], rate: float) -> LoadResult:
    return asyncio.run(_load(url, bodies, rate))


async def _load(url: str, bodies: list[bytes], rate: float) -> LoadResult:
    loop = asyncio.get_running_loop()
    # No connection limit: an open-loop sender must never queue behind its own pool.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    headers = {"Content-Type": "application/json"}

    async def one(body: bytes, at: float) -> tuple[Sample, float]:
        lag = loop.time() - at
        try:
            async with http.post(url, data=body, headers=headers) as r:
                raw = await r.read()
                status = r.status
            end = loop.time()
        except (aiohttp.ClientError, TimeoutError) as error:
            end = loop.time()
            return Sample(end - at, lag, 0, type(error).__name__), end
        try:
            answer = json.loads(raw) if raw else None
            kind = str(answer.get("type", "")) if isinstance(answer, dict) else "no JSON body"
        except ValueError:
            kind = "no JSON body"
        return Sample(end - at, lag, status, kind), end

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start = loop.time() + 0.05
        pending = []
        for i, body in enumerate(bodies):
            at = start + i / rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(body, at)))
        done = await asyncio.gather(*pending)
    last = max((end for _, end in done), default=start)
    return LoadResult([sample for sample, _ in done], last - start)


# --- the servers (each in its own process) --------------------------------------------------

Stop = Callable[[], Awaitable[None]]


def _child_logging(log_file: str) -> None:
    # To a file: thousands of failed taps would bury the report in tracebacks.
    logging.basicConfig(
        filename=log_file,
        level=logging.WARNING,
        format="%(asctime)s %(processName)s %(levelname)s %(name)s: %(message)s",
    )
    # The benchmark turns Teams authentication off on purpose; the warning says so every start.
    logging.getLogger("bots.teams.app").setLevel(logging.ERROR)
    # botbuilder's schema lacks fields Teams really sends (channelData.source): one line per
    # install, thousands of them in preparation.
    logging.getLogger("msrest.serialization").setLevel(logging.ERROR)


async def _serve(start: Callable[[], Awaitable[tuple[str, Stop]]], conn: Connection) -> None:
    url, stop = await start()
    conn.send(url)
    # Any message (or the orchestrator going away) ends the server.
    try:
        await asyncio.to_thread(conn.recv)
    except EOFError:
        pass
    await stop()


def serve_icx(config: Config, log_file: str, conn: Connection) -> None:
    # What `icx serve` loads, nothing more.
    from bots.runtime import Runtime
    from bots.server import start_server

    _child_logging(log_file)

    async def start() -> tuple[str, Stop]:
        # Production defaults: real clock, outbox and scheduler running.
        server = await start_server(Runtime(config), HOST, 0)
        return server.url, server.stop

    asyncio.run(_serve(start, conn))


def serve_baseline(log_file: str, conn: Connection) -> None:
    # botbuilder and icx's /api/messages handling, nothing of icx's core and storage.
    from botbuilder.core import InvokeResponse, TurnContext
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import Activity, ActivityTypes

    from bots.teams.endpoint import handle_activity
    from bots.teams.msrest_patch import apply as apply_msrest_patch

    _child_logging(log_file)
    # The same botbuilder icx runs, with the same msrest fix: only icx's core and database differ.
    apply_msrest_patch()

    async def on_turn(context: TurnContext) -> None:
        """Answers every card tap with the same card, touching nothing else."""
        activity = context.activity
        if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            answer = InvokeResponse(status=200, body=FIXED_ANSWER)
            await context.send_activity(Activity(type=ActivityTypes.invoke_response, value=answer))

    async def start() -> tuple[str, Stop]:
        # The attributes botbuilder reads; an empty app id turns authentication off, as for icx.
        config = SimpleNamespace(
            APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID=None
        )
        auth = ConfigurationBotFrameworkAuthentication(config)
        adapter = CloudAdapter(auth)

        # icx's own hand-written /api/messages handling (parse the Activity,
        # adapter.process_activity, the invoke body as JSON): only icx's core and database differ.
        async def handle(request: web.Request) -> web.Response:
            return await handle_activity(request, adapter, auth.authenticate_request, on_turn)

        app = web.Application()
        app.router.add_post("/api/messages", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, HOST, 0).start()
        bound = runner.addresses[0]
        return f"http://{bound[0]}:{bound[1]}", runner.cleanup

    asyncio.run(_serve(start, conn))


@dataclass
class ServerProcess:
    name: str
    process: SpawnProcess
    conn: Connection
    url: str

    @property
    def messages_url(self) -> str:
        return f"{self.url}/api/messages"

    def status_kb(self, name: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
        raise LookupError(name)

    def cpu_seconds(self) -> float:
        # utime and stime, fields 14 and 15 of /proc/<pid>/stat (after the parenthesized name).
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def settle(self, within: float = 120.0) -> float:
        """Waits until the server is idle; returns how long that took. A server that fell
        behind keeps working on taps whose sender gave up: that work must neither compete with
        the next measurement nor be missing from the commit check."""
        began = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - began < within:
            await asyncio.sleep(0.25)
            now = self.cpu_seconds()
            if now - before < 0.025:  # under a tenth of a core: background loops only
                break
            before = now
        return time.monotonic() - began


@asynccontextmanager
async def server_process(
    name: str, target: Callable[..., None], *args: Any
) -> AsyncIterator[ServerProcess]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), name=name, daemon=True)
    process.start()
    theirs.close()
    try:
        # Spawning and importing botbuilder takes a few seconds; a server that died says so.
        if not await asyncio.to_thread(ours.poll, 60):
            raise RuntimeError(f"the {name} server did not start within 60 s")
        url = ours.recv()
    except EOFError:
        raise RuntimeError(
            f"the {name} server exited on start (exit code {process.exitcode})"
        ) from None
    server = ServerProcess(name, process, ours, url)
    try:
        yield server
    finally:
        ours.send("stop")
        await asyncio.to_thread(process.join, 30)
        if process.is_alive():
            process.kill()


# --- the database ---------------------------------------------------------------------------


@asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[tuple[str, str]]:
    """A migrated, empty database: its URL and a description of its server."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="icx-perf-") as directory:
            url = f"sqlite:///{directory}/icx.db"
            await _migrate(url)
            yield url, f"SQLite {sqlite3.sqlite_version} (file in a temp dir, WAL)"
        return
    name = f"icx_perf_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        version = await admin.fetchval("SELECT current_setting('server_version')")
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        await _migrate(url)
        yield url, f"PostgreSQL {version} (database {name})"
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database.engine)
    finally:
        await database.dispose()


# --- preparation: installed people with delivered prompts, through icx's own paths ---------


async def prepare(
    icx: ServerProcess, db: Database, connector: BotConnectorStandIn, people: list[Person]
) -> list[LivePrompt]:
    """Each person installs the app and is asked through the intake API; returns once the
    outbox has delivered every prompt to the Bot Connector stand-in."""
    for person in people:
        connector.add_member(person.user_id, person.aad, person.name, email=person.email)
    limit = asyncio.Semaphore(PREPARE_CONCURRENCY)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    retried: Counter[str] = Counter()

    async def post(
        http: aiohttp.ClientSession, what: str, url: str, body: dict[str, Any], **kwargs: Any
    ) -> tuple[int, Any]:
        for attempt in range(1, PREPARE_ATTEMPTS + 1):
            async with http.post(url, json=body, **kwargs) as r:
                status, text = r.status, await r.text()
            if status < 500 or attempt == PREPARE_ATTEMPTS:
                break
            retried[f"{what} answered {status}"] += 1
            await asyncio.sleep(0.5 * attempt)
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    async def ask(http: aiohttp.ClientSession, person: Person) -> str:
        installed = teams_activities.installed(
            connector.service_url,
            aad_object_id=person.aad,
            user_id=person.user_id,
            conversation_id=person.conversation,
        )
        body = {
            "department": "finance",
            "service": "expense-reimbursement",
            "requester": {"teams_aad_object_id": person.aad},
            "source": "perf",
            "reference": person.reference,
            "occurred_at": now,
        }
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with limit:
            status, answer = await post(http, "install", icx.messages_url, installed)
            if status != 200:
                raise RuntimeError(f"install of {person.name} answered {status}: {answer}")
            url = f"{icx.url}/api/v1/interactions"
            status, answer = await post(http, "intake", url, body, headers=headers)
        # A retried intake may find its first attempt's prompt already sent.
        if status not in (200, 201) or answer["prompt"]["status"] not in ("scheduled", "sent"):
            raise RuntimeError(f"intake for {person.name} answered {status}: {answer}")
        return str(answer["prompt"]["id"])

    began = time.monotonic()
    async with aiohttp.ClientSession() as http:
        ids = await asyncio.gather(*(ask(http, person) for person in people))
    asked = time.monotonic()
    print(
        f"prepare: {len(people)} people installed the app and were asked in {asked - began:.1f} s"
    )
    for what, count in sorted(retried.items()):
        print(f"prepare: !!! {count} times {what} and was retried (the server's log says why)")
    await _delivered(db, within=60 + len(people) / 10)
    print(f"prepare: every card delivered {time.monotonic() - asked:.1f} s later")
    async with db.session() as session:
        rows = (await session.exec(select(Prompt.id, Prompt.status, Prompt.message_ts))).all()
    found = {prompt_id: (status, message_id) for prompt_id, status, message_id in rows}
    prompts = []
    for person, prompt_id in zip(people, ids, strict=True):
        status, message_id = found[prompt_id]
        if status != "sent" or message_id is None:
            raise RuntimeError(f"prompt {prompt_id} of {person.name} is {status}, not sent")
        prompts.append(LivePrompt(person, prompt_id, message_id))
    return prompts


async def _delivered(db: Database, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        async with db.session() as session:
            pending = (
                await session.exec(select(func.count()).where(Prompt.status == "pending"))
            ).one()
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} prompts still undelivered after {within:.0f} s")
        await asyncio.sleep(0.2)


# --- checking what was committed ------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    answered: int  # taps answered 200 with a card
    failures: Counter[str]  # what the others got
    uncommitted: list[str]  # answered, yet the database does not hold the tapped value
    committed_unanswered: int  # held by the database, yet the tap got no card (e.g. a timeout)


async def check_commits(db: Database, taps: list[Tap], samples: list[Sample]) -> Check:
    wanted = [tap.prompt_id for tap in taps]
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Response.prompt_id, Response.satisfaction, Response.effort).where(
                    col(Response.prompt_id).in_(wanted)
                )
            )
        ).all()
    stored = {prompt_id: {"satisfaction": s, "effort": e} for prompt_id, s, e in rows}
    answered, uncommitted, unanswered = 0, [], 0
    for tap, sample in zip(taps, samples, strict=True):
        committed = stored.get(tap.prompt_id, {}).get(tap.column) == tap.value
        if sample.ok:
            answered += 1
            if not committed:
                uncommitted.append(tap.prompt_id)
        elif committed:
            unanswered += 1
    failures = Counter(s.failure for s in samples if not s.ok)
    return Check(answered, failures, uncommitted, unanswered)


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    n: int
    p50: float
    p95: float
    p99: float
    max: float
    throughput: float
    errors: Counter[str]
    lag_max: float
    cpu_per_tap: float


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def stats_of(result: LoadResult, cpu_seconds: float) -> Stats:
    # Latency of every tap that got an HTTP answer (a refusal is fast and still counts);
    # taps without any answer appear only among the errors.
    answered = sorted(s.latency for s in result.samples if s.status)
    errors = Counter(s.failure for s in result.samples if not s.ok)
    ok = sum(s.ok for s in result.samples)
    n = len(result.samples)
    return Stats(
        n=n,
        p50=percentile(answered, 50),
        p95=percentile(answered, 95),
        p99=percentile(answered, 99),
        max=answered[-1] if answered else math.nan,
        throughput=ok / result.elapsed if result.elapsed > 0 else 0.0,
        errors=errors,
        lag_max=max((s.lag for s in result.samples), default=0.0),
        cpu_per_tap=cpu_seconds / n if n else math.nan,
    )


def table(title: str, rate: float, icx: Stats, baseline: Stats) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:.1f}"

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 and math.isfinite(a / b) else "-"

    rows: list[tuple[str, str, str, str]] = [
        ("taps (n)", str(icx.n), str(baseline.n), ""),
        ("offered rate /s", f"{rate:g}", f"{rate:g}", ""),
    ]
    for label, attr in (("p50", "p50"), ("p95", "p95"), ("p99", "p99"), ("max", "max")):
        a, b = getattr(icx, attr), getattr(baseline, attr)
        rows.append((f"{label} ms", ms(a), ms(b), ratio(a, b)))
    rows += [
        ("achieved /s", f"{icx.throughput:.1f}", f"{baseline.throughput:.1f}", ""),
        ("errors", str(sum(icx.errors.values())), str(sum(baseline.errors.values())), ""),
        (
            "server CPU ms/tap",
            ms(icx.cpu_per_tap),
            ms(baseline.cpu_per_tap),
            ratio(icx.cpu_per_tap, baseline.cpu_per_tap),
        ),
        ("send lag max ms", ms(icx.lag_max), ms(baseline.lag_max), ""),
    ]
    lines = [title, f"  {'':<18} {'icx':>10} {'baseline':>10} {'ratio':>9}"]
    lines += [f"  {a:<18} {b:>10} {c:>10} {d:>9}" for a, b, c, d in rows]
    for who, stats in (("icx", icx), ("baseline", baseline)):
        for kind, count in sorted(stats.errors.items()):
            lines.append(f"  ! {who} error: {count} x {kind}")
    return "\n".join(lines)


def versions() -> str:
    names = ("botbuilder-core", "sqlalchemy", "aiohttp", "asyncpg", "aiosqlite")
    found = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)
    return f"Python {platform.python_version()}, {found}"


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = next(
        int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")
    )
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.partition(":")[2].strip() for line in cpuinfo if line.startswith("model name")),
        platform.machine(),
    )
    memory = f"{total_kb / 1024 / 1024:.1f} GiB RAM"
    return f"{os.cpu_count()} CPUs ({model}), {memory}, {platform.system()} {platform.release()}"


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    database: str
    taps: int
    rate: float
    warmup: int


@contextmanager
def load_worker() -> Iterator[ProcessPoolExecutor]:
    # Spawned, not forked: this process already runs an event loop and the stand-ins' threads.
    with ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        pool.submit(warm_up_worker).result()
        yield pool


async def measure(
    pool: ProcessPoolExecutor, server: ServerProcess, taps: list[Tap], rate: float
) -> tuple[LoadResult, float]:
    """Sends the taps from the worker and waits for the server to be idle again; the result
    and the server's CPU seconds meanwhile."""
    loop = asyncio.get_running_loop()
    cpu = server.cpu_seconds()
    result = await loop.run_in_executor(
        pool, run_load, server.messages_url, [tap.body for tap in taps], rate
    )
    busy = await server.settle()
    if busy > 1.0:
        print(f"  {server.name} was busy for {busy:.1f} s more after the last answer or timeout")
    return result, server.cpu_seconds() - cpu


def report_check(label: str, check: Check, sent: int) -> bool:
    committed = check.answered - len(check.uncommitted)
    print(f"  {label}: {committed} of {check.answered} taps answered with a card are committed")
    if check.answered < sent:
        print(
            f"  !!! {label}: {sent - check.answered} of {sent} taps got no card: "
            f"{dict(check.failures)}"
        )
    if check.committed_unanswered:
        print(f"  note: {check.committed_unanswered} were committed, yet got no card in the answer")
    if check.uncommitted:
        print(
            f"  !!! {label}: {len(check.uncommitted)} taps were ANSWERED BUT NOT COMMITTED, "
            f"e.g. prompts {check.uncommitted[:5]}"
        )
    return check.answered == sent and not check.uncommitted


@dataclass
class Report:
    healthy: bool = True
    prepared: int = 0
    prepare_seconds: float = 0.0
    tables: list[str] = field(default_factory=list)
    icx_peak_kb: int = 0
    baseline_peak_kb: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after


async def benchmark(
    options: Options,
    pool: ProcessPoolExecutor,
    baseline: ServerProcess,
    icx: ServerProcess,
    db: Database,
    connector: BotConnectorStandIn,
) -> Report:
    report = Report()
    people = [Person(i) for i in range(1, options.warmup + options.taps + 1)]
    began = time.monotonic()
    prompts = await prepare(icx, db, connector, people)
    report.prepared, report.prepare_seconds = len(people), time.monotonic() - began
    warm, measured = prompts[: options.warmup], prompts[options.warmup :]
    service_url = connector.service_url

    async def both(verb: str, prompts: list[LivePrompt], label: str) -> tuple[Stats, Stats]:
        """The same taps at the same rate, to the baseline and then to icx; icx's checked."""
        taps = taps_for(prompts, verb, service_url)
        base_result, base_cpu = await measure(pool, baseline, taps, options.rate)
        icx_result, icx_cpu = await measure(pool, icx, taps, options.rate)
        check = await check_commits(db, taps, icx_result.samples)
        report.healthy &= report_check(label, check, len(taps))
        icx_stats, base_stats = stats_of(icx_result, icx_cpu), stats_of(base_result, base_cpu)
        report.healthy &= not icx_stats.errors and not base_stats.errors
        return icx_stats, base_stats

    # Both servers first answer a few taps of each kind, not reported: lazy imports, statement
    # caches and connection pools are filled before anything is measured.
    scenarios = (
        (cards.CSAT, "satisfaction taps (icx.csat, answered with the effort card)"),
        (cards.CES, "effort taps (icx.ces, answered with the details card)"),
    )
    if warm:
        for verb, _ in scenarios:
            await both(verb, warm, f"warm-up {verb}")
    for verb, title in scenarios:
        icx_stats, base_stats = await both(verb, measured, verb)
        report.tables.append(table(title, options.rate, icx_stats, base_stats))

    report.icx_peak_kb = icx.status_kb("VmHWM")
    report.baseline_peak_kb = baseline.status_kb("VmHWM")
    return report


async def run(options: Options) -> bool:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    # Kept after the run: the servers' warnings and errors, e.g. why a tap answered 500.
    handle, log_file = tempfile.mkstemp(prefix="icx-perf-", suffix=".log")
    os.close(handle)
    slack, connector = SlackStandIn(), BotConnectorStandIn()
    await slack.start(HOST)
    await connector.start(HOST)
    try:
        async with fresh_database(options.database) as (url, database_kind):
            settings = settings_for(url, slack, icx_teams_without_auth=True)
            config = Config(settings, parse_company(COMPANY))
            db = Database(url)
            try:
                with load_worker() as pool:
                    async with AsyncExitStack() as stack:
                        # Started together: each takes seconds to import botbuilder.
                        baseline, icx = await asyncio.gather(
                            stack.enter_async_context(
                                server_process("baseline", serve_baseline, log_file)
                            ),
                            stack.enter_async_context(
                                server_process("icx", serve_icx, config, log_file)
                            ),
                        )
                        report = await benchmark(options, pool, baseline, icx, db, connector)
            finally:
                await db.dispose()
    finally:
        await connector.stop()
        await slack.stop()

    report.load = (load_before, os.getloadavg()[0])
    print_report(options, report, database_kind, log_file, time.monotonic() - started)
    return report.healthy


def print_report(
    options: Options, report: Report, database_kind: str, log_file: str, seconds: float
) -> None:
    print()
    print(
        f"icx answering Teams card taps: {options.taps} taps per scenario, {options.rate:g}/s "
        f"open loop, after {options.warmup} warm-up prompts"
    )
    print(f"database:  {database_kind}")
    print(f"machine:   {machine()}")
    # Anything else running on the machine competes with the servers for the same cores.
    print(f"load avg:  {report.load[0]:.2f} before the run, {report.load[1]:.2f} after (1 min)")
    print(f"versions:  {versions()}")
    print(
        f"prepared:  {report.prepared} people installed the app, were asked through the intake "
        f"API and had their card delivered, in {report.prepare_seconds:.1f} s"
    )
    print()
    for text in report.tables:
        print(text)
        print()
    print(
        f"peak RSS (VmHWM): icx server {report.icx_peak_kb / 1024:.1f} MiB, "
        f"baseline server {report.baseline_peak_kb / 1024:.1f} MiB"
    )
    errors = sum(" ERROR " in line for line in Path(log_file).read_text().splitlines())
    print(f"server log: {log_file} ({errors} errors logged)")
    print("latency: from the scheduled send to the whole answer read, over every tap answered")
    print("errors: no answer within 15 s, an HTTP status other than 200, or no card in the answer")
    print("server CPU: user+system time of the server process during the run, per tap")
    print("send lag: how late the generator sent a tap (latency counts from the scheduled time)")
    print(f"run time: {seconds:.1f} s; {'OK' if report.healthy else 'FAILED'}")


def scrub_environment() -> None:
    """No developer's Slack or Teams settings, proxies or DATABASE_URL leak into the servers
    (they read the environment, and spawned processes inherit it)."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(("SLACK_", "MICROSOFT_", "ICX_")) and upper != "ICX_TEST_POSTGRES":
            del os.environ[name]
        if upper in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "DATABASE_URL"):
            del os.environ[name]


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.perf.teams_invoke",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--taps", type=int, default=2000, help="taps per scenario (default 2000)")
    parser.add_argument("--rate", type=float, default=100.0, help="taps per second (default 100)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up prompts (default 100)")
    parser.add_argument(
        "--smoke", action="store_true", help="20 taps at 50/s: a quick check that it all works"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        return Options(args.database, taps=20, rate=50.0, warmup=5)
    if args.taps < 1 or args.rate <= 0 or args.warmup < 0:
        parser.error("--taps and --rate must be positive, --warmup not negative")
    return Options(args.database, args.taps, args.rate, args.warmup)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    scrub_environment()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return 0 if asyncio.run(run(options)) else 1


if __name__ == "__main__":
    sys.exit(main())
