"""How fast icx's outbox delivers a large backlog of prompts through Slack's rate limits.

    python -m tests.perf --only fanout [--database sqlite|postgresql|both] [--smoke]
        [--cap N] [--prompts N]

10,000 prompts are asked through the intake API while icx's outbox is off (an icx server
without background work), then an icx server with the outbox running starts on the same
database: every prompt is due at once. Slack is the stand-in with its chat.postMessage limits
on (bots/standin/rate_limits.py): about one message a second per channel, a workspace-wide cap
(100 a second after a burst of 100, by default), HTTP 429 with Retry-After over either.
Every tenth person is asked about three departments in a row, so the per-channel limit matters.

The baseline is the least time the stand-in's limits allow for the backlog, from its first
accepted message. Checked: no prompt lost (every one sent, in the database and at the stand-in),
none posted twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from sqlmodel import col, func, select

from bots.standin.slack_web_api import Posted, SlackStandIn
from storage.db import Database
from storage.models import Prompt
from tests.conftest import API_TOKEN
from tests.perf.report import Table, emit
from tests.perf.scenario import (
    Health,
    Poster,
    Setup,
    arguments,
    context,
    run_each_database,
    setup,
)
from tests.perf.servers import serve_icx, server_process

TARGET = 1.10  # completion within 110 % of the least time the limits allow
# The wait for the backlog ends when no prompt was delivered for this long (or at a hard cap).
STALLED = 60.0
# Of every 12 prompts, 9 go to 9 people and 3 to one person (three departments in a row).
DEPARTMENTS = (("finance", "expense-reimbursement"), ("it", None), ("legal", None))


@dataclass(frozen=True)
class Sizes:
    prompts: int
    cap: float  # workspace-wide messages per second
    burst: float  # messages the workspace allows at once after a quiet spell


FULL = Sizes(prompts=10_000, cap=100.0, burst=100.0)
SMOKE = Sizes(prompts=60, cap=40.0, burst=10.0)


def user_id(index: int) -> str:
    return f"UFAN{index:07d}"


def asks(count: int) -> list[tuple[str, str, str | None]]:
    """(person, department, service) in the order they are asked."""
    planned: list[tuple[str, str, str | None]] = []
    person = 0
    while len(planned) < count:
        for _ in range(9):
            planned.append((user_id(person), *DEPARTMENTS[0]))
            person += 1
        planned += [(user_id(person), department, service) for department, service in DEPARTMENTS]
        person += 1
    return planned[:count]


async def fill(url: str, slack: SlackStandIn, planned: list[tuple[str, str, str | None]]) -> None:
    """Asks every planned person through the intake API (the outbox is off: all stay pending)."""
    for person in {person for person, _, _ in planned}:
        slack.add_user(person, f"Fan Person {person}")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    headers = {"Authorization": f"Bearer {API_TOKEN}"}

    async def ask(poster: Poster, index: int, person: str, department: str, service: str | None):
        body: dict[str, Any] = {
            "department": department,
            "requester": {"slack_user_id": person},
            "source": "fanout",
            "reference": f"FAN-{index:07d}",
            "occurred_at": now,
        }
        if service is not None:
            body["service"] = service
        status, answer = await poster.post("intake", f"{url}/api/v1/interactions", body, headers)
        if status not in (200, 201) or answer["prompt"]["status"] != "scheduled":
            raise RuntimeError(f"intake {index} for {person} answered {status}: {answer}")

    began = time.monotonic()
    async with aiohttp.ClientSession() as http:
        poster = Poster(http)
        await asyncio.gather(*(ask(poster, i, *plan) for i, plan in enumerate(planned)))
    poster.report_retries()
    print(f"prepare: {len(planned)} prompts asked in {time.monotonic() - began:.1f} s")


async def pending(db: Database) -> int:
    async with db.session() as session:
        return (
            await session.exec(select(func.count()).where(col(Prompt.status) == "pending"))
        ).one()


async def drain(db: Database, slack: SlackStandIn, total: int, within: float) -> float:
    """Waits until no prompt is pending, printing progress; returns the seconds it took. Gives
    up after `within` seconds, or sooner when nothing was delivered for STALLED seconds."""
    began = time.monotonic()
    next_note = began + 10
    progress = (0, began)  # prompts delivered, and when that count last grew
    while (left := await pending(db)) > 0:
        now = time.monotonic()
        if total - left > progress[0]:
            progress = (total - left, now)
        if now - began > within or now - progress[1] > STALLED:
            print(f"  !!! {left} prompts still pending after {now - began:.0f} s; stopped waiting")
            break
        if now >= next_note:
            refused = dict(slack.post_limits.refused) if slack.post_limits else {}
            print(f"  {now - began:5.0f} s: {total - left} of {total} sent; 429s {refused}")
            next_note += 10
        await asyncio.sleep(0.25)
    return time.monotonic() - began


def prompt_of(posted: Posted) -> str:
    for block in posted.payload.get("blocks") or []:
        if str(block.get("block_id", "")).startswith("icx_csat:"):
            return str(block["block_id"]).partition(":")[2]
    return ""


@dataclass(frozen=True)
class Outcome:
    seconds: float  # first accepted message to the last
    minimum: float  # what the limits allow for the same messages
    lost: int
    duplicated: int
    refused: Counter[str]
    statuses: Counter[str]
    attempts: Counter[int]
    peak_rss_mib: float


async def outcome_of(db: Database, slack: SlackStandIn, total: int, peak_rss_mib: float) -> Outcome:
    assert slack.post_limits is not None
    posts = Counter(prompt_of(p) for p in slack.posted)
    async with db.session() as session:
        rows = (await session.exec(select(Prompt.id, Prompt.status, Prompt.attempts))).all()
    statuses = Counter(status for _, status, _ in rows)
    attempts = Counter(tries for _, _, tries in rows)
    # Delivered: sent in the database, and at the stand-in.
    delivered = {prompt_id for prompt_id, status, _ in rows if status == "sent"} & set(posts)
    times = [p.at for p in slack.posted]
    return Outcome(
        seconds=max(times) - min(times) if times else float("nan"),
        minimum=slack.post_limits.minimum_seconds(total, len(DEPARTMENTS)),
        lost=total - len(delivered),
        duplicated=sum(n - 1 for n in posts.values() if n > 1),
        refused=Counter(slack.post_limits.refused),
        statuses=statuses,
        attempts=attempts,
        peak_rss_mib=peak_rss_mib,
    )


def table(sizes: Sizes, result: Outcome, ctx: dict[str, str]) -> Table:
    t = Table(
        f"Prompt fan-out: {sizes.prompts} prompts through Slack's limits "
        f"(1/s per channel, {sizes.cap:g}/s workspace after a burst of {sizes.burst:g})",
        context=ctx,
        baseline_name="limits allow",
    )
    ratio = result.seconds / result.minimum if result.minimum > 0 else float("nan")
    t.add(
        "first to last message s",
        result.seconds,
        result.minimum,
        target=f"<= {TARGET:.2f}x",
        met=ratio <= TARGET,
    )
    t.add("messages /s", sizes.prompts / result.seconds, sizes.prompts / result.minimum)
    t.add("lost", result.lost, 0, target="0", met=result.lost == 0)
    t.add("posted twice", result.duplicated, 0, target="0", met=result.duplicated == 0)
    t.add("429 workspace limit", result.refused["workspace"], 0)
    t.add("429 channel limit", result.refused["channel"], 0)
    t.add("icx server peak RSS MiB", result.peak_rss_mib)
    tries = ", ".join(f"{n} x {k}" for k, n in sorted(result.attempts.items()))
    t.notes.append(f"prompt statuses {dict(result.statuses)}; attempts per prompt: {tries}")
    return t


async def run_on(kind: str, sizes: Sizes, health: Health) -> None:
    async with setup(kind) as ready:
        await _run(ready, sizes, health)


async def _run(ready: Setup, sizes: Sizes, health: Health) -> None:
    planned = asks(sizes.prompts)
    slack, log_file = ready.slack, ready.log_file
    # First without the outbox, so that the whole backlog is due when it starts.
    async with server_process("icx (no outbox)", serve_icx, ready.config, log_file, False) as icx:
        await fill(icx.url, slack, planned)
    limits = slack.limit_posts(sizes.cap, sizes.burst)
    # A slow machine may take many times the limits' minimum; a stalled outbox is caught sooner.
    within = max(900.0, 10 * limits.minimum_seconds(sizes.prompts, len(DEPARTMENTS)))
    async with server_process("icx", serve_icx, ready.config, log_file, True) as icx:
        took = await drain(ready.db, slack, sizes.prompts, within)
        print(f"  the backlog was delivered in {took:.1f} s after the server started")
        result = await outcome_of(ready.db, slack, sizes.prompts, icx.peak_rss_mib())
    health.check(result.lost == 0, f"fan-out: {result.lost} prompts lost {dict(result.statuses)}")
    health.check(result.duplicated == 0, f"fan-out: {result.duplicated} prompts posted twice")
    data = f"{sizes.prompts} pending prompts for {len({p for p, _, _ in planned})} people"
    emit(table(sizes, result, context(ready.database, data)))


def main(argv: list[str] | None = None) -> int:
    parser = arguments("python -m tests.perf --only fanout", __doc__)
    parser.add_argument("--cap", type=float, help="workspace-wide messages per second")
    parser.add_argument("--prompts", type=int, help=f"the backlog (default {FULL.prompts})")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.cap or args.prompts:
        cap = args.cap or sizes.cap
        # The burst stays a second's worth, as with Slack's per-minute windows.
        sizes = Sizes(args.prompts or sizes.prompts, cap, min(sizes.burst, cap))
    return run_each_database(args.database, lambda kind, health: run_on(kind, sizes, health))
