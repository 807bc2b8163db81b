"""kill -9 during a steady stream of taps, then a restart on the same database: every tap that
was answered 200 is stored, none twice (a tap is committed before Slack hears "ok")."""

import time

from storage.db import Database
from tests.faults.checks import tap_losses
from tests.faults.conftest import ServerFactory, scaled
from tests.faults.report import report, statuses
from tests.faults.slack import FaultySlack
from tests.faults.traffic import TapLoad, add_people, live_prompts

RATE = 25.0  # taps a second, open loop
BEFORE = 40  # acknowledged taps before the kill...
AFTER = 40  # ...and after the restart


async def test_kill_9_during_taps_loses_no_acknowledged_tap(
    db: Database, slack: FaultySlack, servers: ServerFactory
) -> None:
    before, after = scaled(BEFORE), scaled(AFTER)
    # Taps refused while no server listens are sent again; spare prompts cover the ones in
    # flight at the kill (seconds of them, when the machine is busy and the server behind).
    users = add_people(slack, range(before + after + int(RATE * 5)))
    server = servers(db.url)
    began = time.monotonic()
    await server.start()
    prompts = await live_prompts(db, [server.url], slack, users)
    prepared = time.monotonic()

    load = TapLoad(prompts, RATE, [server.url], response_url=slack.response_url())
    load.start()
    # Killed with a tap on its way: the one case where an answer could be lost.
    await load.until(
        lambda: load.acknowledged() >= before and load.in_flight > 0,
        30,
        f"{before} taps acknowledged and one in flight",
    )
    await server.kill()
    killed = time.monotonic()
    await server.start()
    restarted = time.monotonic()
    await load.until(
        lambda: load.acknowledged(since=restarted) >= after, 30, f"{after} taps after the restart"
    )
    results = await load.finish()

    losses = await tap_losses(db, results)
    unanswered = [r for r in results if r.status == 0]
    in_flight = sum(r.at < killed for r in unanswered)
    report(
        f"kill -9 during taps, {db.dialect}",
        f"kill -9 of icx serve after {before} acknowledged taps; restarted on the same "
        f"database and port ({restarted - killed:.1f} s without a server)",
        f"{RATE:g} signed Slack taps/s open loop on {len(prompts)} live prompts; "
        f"{len(results)} answered or lost: {statuses(results)} ({in_flight} of those "
        f"without an answer were sent before the kill); {load.refused} refused while down "
        f"and sent again (prepared in {prepared - began:.1f} s)",
        f"{losses}",
    )
    assert not losses.uncommitted, f"acknowledged but not stored: {losses.uncommitted[:5]}"
    assert not losses.duplicated
    # A killed server answers nothing (refused or reset). The restarted one, its pool cold
    # and its event loop busy, may refuse a tap with a 503 (nothing stored, Slack shows an
    # error): a refusal, not a loss. Never a 500.
    assert {r.status for r in results} <= {0, 200, 503}, statuses(results)
    assert load.acknowledged(since=restarted) >= after
