"""How fast icx answers Teams card taps, next to a bare botbuilder server doing the same HTTP work.

    python -m tests.perf --only teams_invoke [--database sqlite|postgresql|both] [--smoke]
        [--taps N] [--rate R]

A tap is an Adaptive Card `Action.Execute`: an `invoke` named `adaptiveCard/action` POSTed to
/api/messages, answered with the next card in the HTTP response once the core has committed the
tap (GUIDE §7). The aim is well under 1 s, close to the bare baseline.

The icx server (real Runtime, Teams without authentication, real clock) and the baseline
(tests.perf.baselines.serve_teams: aiohttp + botbuilder's CloudAdapter behind icx's own
/api/messages handling, a bot that answers every tap with a fixed card) take the same taps from
the same open-loop load generator (tests.perf.load).

Every tap is on a different live prompt of a different person, who installed the app and was
asked through the intake API: first satisfaction (`icx.csat`), then effort (`icx.ces`) on the
same prompts. Afterwards every tap answered with a card is looked up in the database; the exit
status is non-zero when any tap failed or was not committed.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp

from bots.standin.bot_connector import BotConnectorStandIn
from bots.teams import cards
from storage.db import Database
from tests import teams_activities
from tests.conftest import personal_conversation
from tests.perf import baselines
from tests.perf.load import Plan, Summary, add_latency_rows, load_worker, measure_open
from tests.perf.report import Table, emit
from tests.perf.scenario import (
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
from tests.perf.servers import HOST, ServerProcess, serve_icx, server_process

ADAPTIVE_CARD = baselines.FIXED_CARD["type"]


@dataclass(frozen=True)
class Sizes:
    taps: int
    rate: float
    warmup: int


FULL = Sizes(taps=2000, rate=100.0, warmup=100)
SMOKE = Sizes(taps=20, rate=50.0, warmup=5)


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
    def conversation(self) -> str:
        return personal_conversation(self.user_id)


def satisfaction(index: int) -> int:
    return 1 + index % 5


def effort(index: int) -> int:
    return 1 + index % 7


def taps_on(
    url: str, prompts: list[tuple[Person, Delivered]], verb: str, service_url: str
) -> tuple[Plan, list[Expected]]:
    column, value_of = ("satisfaction", satisfaction) if verb == cards.CSAT else ("effort", effort)
    bodies, expected = [], []
    for person, prompt in prompts:
        value = value_of(person.index)
        activity = teams_activities.card_action(
            service_url,
            verb,
            {"prompt": prompt.prompt_id, "value": value},
            aad_object_id=person.aad,
            user_id=person.user_id,
            conversation_id=person.conversation,
            reply_to_id=prompt.message_id,
            name=person.name,
        )
        bodies.append(json.dumps(activity).encode())
        expected.append(Expected(prompt.prompt_id, column, value))
    headers = {"Content-Type": "application/json"}
    return Plan(f"{url}/api/messages", bodies, headers, ok_type=ADAPTIVE_CARD), expected


async def prepare(
    icx: ServerProcess, db: Database, connector: BotConnectorStandIn, people: list[Person]
) -> list[tuple[Person, Delivered]]:
    """Each person installs the app and is asked through the intake API; returns once the
    outbox has delivered every card to the Bot Connector stand-in."""
    for person in people:
        connector.add_member(person.user_id, person.aad, person.name)

    async def ask(poster: Poster, person: Person) -> str:
        installed = teams_activities.installed(
            connector.service_url,
            aad_object_id=person.aad,
            user_id=person.user_id,
            conversation_id=person.conversation,
        )
        status, answer = await poster.post("install", f"{icx.url}/api/messages", installed)
        if status != 200:
            raise RuntimeError(f"install of {person.name} answered {status}: {answer}")
        requester = {"teams_aad_object_id": person.aad}
        return await poster.ask(icx.url, requester, f"PERF-{person.index:06d}")

    began = time.monotonic()
    async with aiohttp.ClientSession() as http:
        poster = Poster(http)
        ids = await asyncio.gather(*(ask(poster, person) for person in people))
    print(f"prepare: {len(people)} people installed and asked in {time.monotonic() - began:.1f} s")
    poster.report_retries()
    waited = await wait_until_delivered(db, within=60 + len(people) / 10)
    print(f"prepare: every card delivered {waited:.1f} s later")
    return list(zip(people, await delivered_prompts(db, ids), strict=True))


async def both(
    pool: ProcessPoolExecutor,
    servers: tuple[ServerProcess, ServerProcess],
    db: Database,
    prompts: list[tuple[Person, Delivered]],
    verb: str,
    sizes: Sizes,
    service_url: str,
    health: Health,
) -> tuple[Summary, Summary, list[tuple[Person, Delivered]]]:
    """The same taps at the same rate, to the baseline and then to icx; icx's are checked.
    Also returns the prompts whose tap icx answered with a card: only those can take the next
    tap (an effort tap needs the satisfaction answer first)."""
    baseline, icx = servers
    plan, _ = taps_on(baseline.url, prompts, verb, service_url)
    _, base = await measure_open(pool, baseline, plan, sizes.rate)
    plan, expected = taps_on(icx.url, prompts, verb, service_url)
    result, mine = await measure_open(pool, icx, plan, sizes.rate)
    report_check(verb, await check_commits(db, expected, result.samples), health)
    health.check(base.ok == base.n, f"{verb}: baseline failed {dict(base.errors)}")
    answered = [prompts[sample.index] for sample in result.samples if sample.ok]
    return mine, base, answered


async def run_on(kind: str, sizes: Sizes, health: Health) -> None:
    connector = BotConnectorStandIn()
    await connector.start(HOST)
    try:
        async with setup(kind, icx_teams_without_auth=True) as ready:
            await _run(ready, connector, sizes, health)
    finally:
        await connector.stop()


async def _run(ready: Setup, connector: BotConnectorStandIn, sizes: Sizes, health: Health) -> None:
    db, log_file = ready.db, ready.log_file
    people = [Person(i) for i in range(1, sizes.warmup + sizes.taps + 1)]
    measured: dict[str, tuple[Summary, Summary]] = {}
    with load_worker() as pool:
        async with AsyncExitStack() as stack:
            # Started together: each takes seconds to import botbuilder.
            servers = await asyncio.gather(
                stack.enter_async_context(
                    server_process("teams baseline", baselines.serve_teams, log_file)
                ),
                stack.enter_async_context(
                    server_process("icx", serve_icx, ready.config, log_file, True)
                ),
            )
            pair = (servers[0], servers[1])
            prompts = await prepare(pair[1], db, connector, people)
            warm, rest = prompts[: sizes.warmup], prompts[sizes.warmup :]
            url = connector.service_url
            # Lazy imports, statement caches and connection pools are filled first.
            for verb in (cards.CSAT, cards.CES):
                if warm:
                    *_, warm = await both(pool, pair, db, warm, verb, sizes, url, health)
            for verb in (cards.CSAT, cards.CES):
                mine, base, rest = await both(pool, pair, db, rest, verb, sizes, url, health)
                measured[verb] = (mine, base)
            peaks = (pair[1].peak_rss_mib(), pair[0].peak_rss_mib())
    data = f"{len(people)} people with one delivered card each ({sizes.warmup} for warming up)"
    ctx = context(ready.database, data, "botbuilder-core", "sqlalchemy", "aiohttp")
    titles = {
        cards.CSAT: "satisfaction taps (icx.csat, answered with the effort card)",
        cards.CES: "effort taps (icx.ces, answered with the details card)",
    }
    for verb, (mine, base) in measured.items():
        table = Table(
            f"Teams card taps: {titles[verb]}, {sizes.rate:g}/s open loop",
            context=ctx,
            baseline_name="botbuilder",
        )
        add_latency_rows(table, mine, base)
        table.add("server peak RSS MiB", *peaks)
        emit(table)


def main(argv: list[str] | None = None) -> int:
    parser = arguments("python -m tests.perf --only teams_invoke", __doc__)
    parser.add_argument("--taps", type=int, help=f"taps per kind (default {FULL.taps})")
    parser.add_argument("--rate", type=float, help=f"taps per second (default {FULL.rate:g})")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.taps or args.rate:
        if (args.taps or 1) < 1 or (args.rate or 1) <= 0:
            parser.error("--taps and --rate must be positive")
        sizes = Sizes(args.taps or sizes.taps, args.rate or sizes.rate, sizes.warmup)
    return run_each_database(args.database, lambda kind, health: run_on(kind, sizes, health))
