"""What every scenario module shares: its command line and a run on each database (a Slack
stand-in, a fresh database, icx's configuration), the context printed above its tables,
preparation through icx's intake API (retried on 5xx), and the check of what the database holds
after a load."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlmodel import col, func, select

from bots.standin.slack_web_api import SlackStandIn
from core.config import Config, parse_company
from storage.db import Database
from storage.models import Prompt, Response
from tests.conftest import API_TOKEN, COMPANY, settings_for
from tests.perf.databases import KINDS, FreshDatabase, chosen, fresh_database
from tests.perf.load import Sample
from tests.perf.report import machine, versions
from tests.perf.servers import HOST, errors_logged, new_log_file, scrub_environment

# Preparation only: the server's one core is the limit, and more at once only lengthens its
# event-loop turns (SQLite writers then wait for the lock).
PREPARE_CONCURRENCY = 8
# Intake and installs are idempotent, so a 5xx in preparation is retried (and reported).
PREPARE_ATTEMPTS = 3
# The memory target for the icx server: peak RSS at most 200 MB.
RSS_LIMIT_MIB = 200 * 1000 * 1000 / 2**20


def arguments(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """--database and --smoke, which every scenario (and the runner) takes."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0] if doc else None)
    parser.add_argument(
        "--database", choices=(*KINDS, "both"), default="both", help="default: both"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: a check that it all works"
    )
    return parser


def context(database: FreshDatabase, data: str, *packages: str) -> dict[str, str]:
    """What makes a table's figures comparable: machine, load, database, data size, versions."""
    return {
        "machine": machine(),
        # Anything else running competes with the servers for the same cores.
        "load avg": f"{os.getloadavg()[0]:.2f} (1 min, when the table was made)",
        "database": database.description,
        "data": data,
        "versions": versions(*packages) if packages else versions(),
    }


@dataclass
class Health:
    """Whether every correctness check held (what decides the exit status)."""

    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
            print(f"  !!! {problem}", flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Poster:
    """POSTs JSON to the icx server during preparation, at most PREPARE_CONCURRENCY at once."""

    http: aiohttp.ClientSession
    limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PREPARE_CONCURRENCY))
    retried: Counter[str] = field(default_factory=Counter)

    async def post(
        self, what: str, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.limit:
            for attempt in range(1, PREPARE_ATTEMPTS + 1):
                async with self.http.post(url, json=body, headers=headers) as r:
                    status, text = r.status, await r.text()
                if status < 500 or attempt == PREPARE_ATTEMPTS:
                    break
                self.retried[f"{what} answered {status}"] += 1
                await asyncio.sleep(0.5 * attempt)
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    async def ask(self, url: str, requester: dict[str, str], reference: str) -> str:
        """Asks `requester` about a Finance expense reimbursement through the intake API at
        `url`; returns the prompt's id."""
        body = {
            "department": "finance",
            "service": "expense-reimbursement",
            "requester": requester,
            "source": "perf",
            "reference": reference,
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        status, answer = await self.post("intake", f"{url}/api/v1/interactions", body, headers)
        # A retried intake may find its first attempt's prompt already sent.
        if status not in (200, 201) or answer["prompt"]["status"] not in ("scheduled", "sent"):
            raise RuntimeError(f"intake for {requester} answered {status}: {answer}")
        return str(answer["prompt"]["id"])

    def report_retries(self) -> None:
        for what, count in sorted(self.retried.items()):
            print(f"prepare: !!! {count} times {what} and was retried (the server's log says why)")


async def wait_until_delivered(db: Database, within: float) -> float:
    """Polls until no prompt is pending; returns how long that took."""
    began = time.monotonic()
    while True:
        async with db.session() as session:
            pending = (
                await session.exec(select(func.count()).where(col(Prompt.status) == "pending"))
            ).one()
        if pending == 0:
            return time.monotonic() - began
        if time.monotonic() - began > within:
            raise RuntimeError(f"{pending} prompts still undelivered after {within:.0f} s")
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Delivered:
    """Where a delivered prompt's message is: what a tap on it carries."""

    prompt_id: str
    channel_id: str
    message_id: str


async def delivered_prompts(db: Database, ids: list[str]) -> list[Delivered]:
    """The prompts, in the given order; raises if any is not sent."""
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Prompt.id, Prompt.status, Prompt.channel_id, Prompt.message_ts)
            )
        ).all()
    found = {prompt_id: (status, channel, ts) for prompt_id, status, channel, ts in rows}
    delivered = []
    for prompt_id in ids:
        status, channel, ts = found[prompt_id]
        if status != "sent" or channel is None or ts is None:
            raise RuntimeError(f"prompt {prompt_id} is {status}, not sent")
        delivered.append(Delivered(prompt_id, channel, ts))
    return delivered


# --- what the database holds after the load ------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What one request should have committed: `column` of the prompt's Response is `value`."""

    prompt_id: str
    column: str
    value: int


@dataclass(frozen=True)
class Check:
    sent: int
    answered: int  # requests that got a good answer
    failures: Counter[str]  # what the others got
    uncommitted: list[str]  # answered, yet the database does not hold the value
    committed_unanswered: int  # held by the database, yet the request got no good answer

    @property
    def committed(self) -> int:
        return self.answered - len(self.uncommitted)


async def check_commits(db: Database, expected: list[Expected], samples: list[Sample]) -> Check:
    """Looks up every request that was sent (a closed loop may stop before the last)."""
    wanted = [expected[s.index].prompt_id for s in samples]
    stored: dict[str, Response] = {}
    async with db.session() as session:
        # In chunks: PostgreSQL and SQLite both cap a statement's parameters.
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start : start + 5000]
            rows = (
                await session.exec(select(Response).where(col(Response.prompt_id).in_(chunk)))
            ).all()
            stored.update((row.prompt_id, row) for row in rows)
    answered, uncommitted, unanswered = 0, [], 0
    for sample in samples:
        want = expected[sample.index]
        row = stored.get(want.prompt_id)
        committed = row is not None and getattr(row, want.column) == want.value
        if sample.ok:
            answered += 1
            if not committed:
                uncommitted.append(want.prompt_id)
        elif committed:
            unanswered += 1
    failures = Counter(s.failure for s in samples if not s.ok)
    return Check(len(samples), answered, failures, uncommitted, unanswered)


def report_check(label: str, check: Check, health: Health) -> None:
    print(f"  {label}: {check.committed} of {check.answered} acknowledged requests are committed")
    health.check(
        check.answered == check.sent,
        f"{label}: {check.sent - check.answered} of {check.sent} requests failed: "
        f"{dict(check.failures)}",
    )
    if check.committed_unanswered:
        print(f"  note: {check.committed_unanswered} were committed, yet got no good answer")
    health.check(
        not check.uncommitted,
        f"{label}: {len(check.uncommitted)} requests were ACKNOWLEDGED BUT NOT COMMITTED, "
        f"e.g. prompts {check.uncommitted[:5]}",
    )


# --- one scenario run on one database ------------------------------------------------------


@dataclass
class Setup:
    """What a scenario's run on one database starts from."""

    database: FreshDatabase
    slack: SlackStandIn
    config: Config  # for icx: Slack on the stand-in, the test company
    db: Database  # the orchestrator's own handle, for preparation and checks
    log_file: str  # the servers' warnings and errors


@asynccontextmanager
async def setup(kind: str, **settings: Any) -> AsyncIterator[Setup]:
    """A Slack stand-in, a fresh database and icx's configuration for them; `settings`
    override icx's (e.g. icx_teams_without_auth=True)."""
    log_file = new_log_file()
    slack = SlackStandIn()
    await slack.start(HOST)
    try:
        async with fresh_database(kind) as database:
            config = Config(settings_for(database.url, slack, **settings), parse_company(COMPANY))
            db = Database(database.url)
            try:
                yield Setup(database, slack, config, db, log_file)
            finally:
                await db.dispose()
    finally:
        await slack.stop()
        print(f"server log: {log_file} ({errors_logged(log_file)} errors logged)", flush=True)


def run_each_database(database: str, run_on: Callable[[str, Health], Awaitable[None]]) -> int:
    """Runs the scenario on each database the --database option names; the exit status."""
    scrub_environment()
    health = Health()
    for kind in chosen(database):
        asyncio.run(run_on(kind, health))
    if not health.ok:
        print(f"FAILED checks: {health.problems}", flush=True)
    return 0 if health.ok else 1
