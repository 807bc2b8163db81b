"""PostgreSQL stops for a few seconds and starts again while icx is under load (taps and new
interactions). Only requests during the outage fail, each with a quick 503 that says why;
nothing is half-written; icx recovers by itself (no restart), and the outbox delivers every
prompt once."""

import asyncio
import time

from storage.db import Database
from tests.faults.checks import interactions_without_prompt, references, tap_losses
from tests.faults.conftest import ServerFactory, scaled
from tests.faults.postgres import Cluster
from tests.faults.report import report, statuses
from tests.faults.slack import FaultySlack
from tests.faults.traffic import (
    IntakeLoad,
    Result,
    TapLoad,
    add_people,
    live_prompts,
    until_delivered,
)

TAP_RATE = 20.0
INTAKE_RATE = 5.0
BEFORE = 30  # acknowledged taps before PostgreSQL stops...
AFTER = 40  # ...and after it is back
OUTAGE = 3.0  # seconds PostgreSQL is down, at least
SLACK_DEADLINE = 3.0  # Slack shows an error when no answer came within 3 s
# Seconds after PostgreSQL is back by which every request succeeds again: every connection of
# the pool is new then (connecting, preparing statements) while the backlog of retries arrives.
RECOVERY = 8.0


def _clear_503(result: Result) -> bool:
    body = result.body if isinstance(result.body, dict) else {}
    return body.get("error") == "database_unavailable" and "Retry-After" in result.headers


async def test_a_postgresql_restart_costs_only_the_requests_during_the_outage(
    cluster: Cluster, cluster_db: Database, slack: FaultySlack, servers: ServerFactory
) -> None:
    before, after = scaled(BEFORE), scaled(AFTER)
    tapping = add_people(slack, range(before + after + int(TAP_RATE * (OUTAGE + RECOVERY + 5))))
    newcomers = add_people(slack, range(100_000, 100_000 + int(INTAKE_RATE * 60)))
    server = servers(cluster.url)
    await server.start()
    prompts = await live_prompts(cluster_db, [server.url], slack, tapping)

    taps = TapLoad(prompts, TAP_RATE, [server.url], response_url=slack.response_url())
    intakes = IntakeLoad(newcomers, INTAKE_RATE, [server.url], prefix="PGLOAD")
    taps.start()
    intakes.start()
    await taps.until(lambda: taps.acknowledged() >= before, 30, f"{before} taps acknowledged")
    await asyncio.to_thread(cluster.stop, "fast")
    stopped = time.monotonic()
    await taps.until(
        lambda: taps.answered(503, since=stopped) >= 5 and intakes.answered(503, stopped) >= 2,
        20,
        "503s while PostgreSQL is down",
    )
    # The outage lasts a while on purpose: this is the fault, not a wait for a condition.
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
    await asyncio.to_thread(cluster.start)
    restarted = time.monotonic()
    await taps.until(
        lambda: taps.acknowledged(since=restarted) >= after, 30, f"{after} taps after the restart"
    )
    await intakes.until(lambda: intakes.acknowledged(since=restarted) >= 5, 30, "new intakes")
    tap_results, intake_results = await taps.finish(), await intakes.finish()
    everything = tap_results + intake_results

    # The outbox went on by itself: every prompt the intakes scheduled is delivered, once.
    asked = [r.body["prompt"]["id"] for r in intake_results if r.acknowledged]
    await until_delivered(cluster_db, asked, within=60)
    losses = await tap_losses(cluster_db, tap_results)
    stored = await references(cluster_db)
    acknowledged_refs = {r.key for r in intake_results if r.acknowledged}
    # Refused, never acknowledged by a later try, yet stored (a commit whose answer was lost).
    refused_but_stored = (
        {r.key for r in intake_results if r.status == 503} - acknowledged_refs
    ) & stored
    failed = [r for r in everything if not r.acknowledged]
    late = [r for r in failed if r.at > restarted + RECOVERY]
    waits = sorted(r.seconds for r in failed)
    slowest = waits[-1] if waits else 0.0
    typical = waits[int(len(waits) * 0.95)] if waits else 0.0
    orphans = await interactions_without_prompt(cluster_db)
    report(
        "PostgreSQL restart during load",
        f"pg_ctl stop -m fast of icx's PostgreSQL after {before} acknowledged taps, started "
        f"again {restarted - stopped:.1f} s later; icx kept running",
        f"{TAP_RATE:g} taps/s and {INTAKE_RATE:g} intakes/s open loop: taps {statuses(tap_results)}"
        f"; intakes {statuses(intake_results)}; failed answers came within {typical:.2f} s "
        f"(95 %), {slowest:.2f} s at most",
        f"{losses}; {len(acknowledged_refs - stored)} acknowledged intakes missing, "
        f"{orphans} interactions without a prompt, {len(slack.twice())} prompts sent twice, "
        f"{len(refused_but_stored)} intakes only answered 503 yet stored (a retry finds them)",
    )
    assert server.process is not None and server.process.returncode is None, "icx died"
    assert {r.status for r in everything} <= {200, 201, 503}, statuses(everything)
    assert all(_clear_503(r) for r in failed), [r.body for r in failed if not _clear_503(r)][:3]
    # Quick refusals, not hangs: within Slack's deadline (a few that waited for a pooled
    # connection right after the restart may take the pool's 2.5 s plus a busy event loop).
    assert typical < SLACK_DEADLINE and slowest < 2 * SLACK_DEADLINE
    assert not late, f"{len(late)} requests failed more than {RECOVERY} s after the restart"
    assert not losses.uncommitted and not losses.duplicated
    assert acknowledged_refs <= stored
    assert orphans == 0
    assert not slack.twice()
