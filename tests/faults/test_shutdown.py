"""SIGTERM while icx works (as an orchestrator stops a replica): it stops taking connections,
finishes the requests and prompt sends in flight and records their outcome, lets go of the
digest it was posting (Slack hangs), and exits in ICX_SHUTDOWN_TIMEOUT. Started again, it posts
that digest at once (not after the 5-minute lease) and sends each prompt exactly once."""

import time
from datetime import UTC, datetime

from storage.db import Database
from tests.faults.checks import dispatches, prompt_states, tap_losses
from tests.faults.conftest import ServerFactory, scaled
from tests.faults.report import report, statuses
from tests.faults.servers import DIGEST_CHANNEL
from tests.faults.slack import FaultySlack
from tests.faults.traffic import IntakeLoad, TapLoad, add_people, live_prompts, until_delivered

SHUTDOWN = 6.0  # ICX_SHUTDOWN_TIMEOUT for this test
EXIT_GRACE = 3.0  # the process's own exit after that (closing the loop, the interpreter)
TAPS = 80
FANOUT = 80
RATE = 20.0  # taps a second, and as many new interactions
SLOW_SLACK = 0.3  # seconds every prompt send takes: sends are in flight at the signal


async def test_sigterm_during_load_finishes_work_in_flight_and_exits_in_time(
    db: Database, slack: FaultySlack, servers: ServerFactory
) -> None:
    users = add_people(slack, range(scaled(TAPS) + scaled(FANOUT)))
    tapping, newcomers = users[: scaled(TAPS)], users[scaled(TAPS) :]
    server = servers(db.url, ICX_SHUTDOWN_TIMEOUT=str(SHUTDOWN))
    # The digest due now hangs at Slack: a post in flight that the shutdown has to cut off.
    slack.hung_channels.add(DIGEST_CHANNEL)
    await server.start()
    prompts = await live_prompts(db, [server.url], slack, tapping)
    await slack.wait_for(lambda: _digest_calls(slack), within=30)

    slack.post_delay = SLOW_SLACK
    taps = TapLoad(prompts, RATE, [server.url], response_url=slack.response_url())
    intakes = IntakeLoad(newcomers, RATE, [server.url], prefix="DRAIN")
    taps.start()
    intakes.start()
    await taps.until(lambda: len(taps.results) >= 20 and len(intakes.results) >= 20, 30, "load")
    code, took = await server.terminate(within=SHUTDOWN + 10)
    tap_results, intake_results = await taps.finish(), await intakes.finish()

    # What the stopped process left behind.
    losses = await tap_losses(db, tap_results)
    states = await prompt_states(db)
    unrecorded = [p for p in slack.delivered if states[p][0] not in ("sent", "answered")]
    leased = [p for p, (_, held) in states.items() if held]
    digest = next(d for d in await dispatches(db) if d.channel == f"slack:{DIGEST_CHANNEL}")
    released = digest.status == "claimed" and digest.lease_until <= datetime.now(UTC)  # type: ignore[operator]

    # Started again: the digest goes out at once, and every prompt asked for, once.
    slack.hung_channels.clear()
    slack.post_delay = 0.0
    began = time.monotonic()
    await server.start()
    await slack.wait_for(lambda: slack.posts_to(DIGEST_CHANNEL), within=30)
    digest_after = time.monotonic() - began
    asked = [r.body["prompt"]["id"] for r in intake_results if r.acknowledged]
    await until_delivered(db, asked, within=60)

    everything = tap_results + intake_results
    report(
        f"SIGTERM during load, {db.dialect}",
        f"SIGTERM with ICX_SHUTDOWN_TIMEOUT={SHUTDOWN:g}: {RATE:g} taps/s and {RATE:g} intakes/s "
        f"under way, prompt sends taking {SLOW_SLACK:g} s, the digest post hanging at Slack",
        f"taps {statuses(tap_results)}; intakes {statuses(intake_results)}; "
        f"{taps.refused + intakes.refused} refused after the listener closed; exit {code} after "
        f"{took:.1f} s; digest posted {digest_after:.1f} s after the restart",
        f"{losses}; {len(unrecorded)} prompts delivered but not recorded, {len(leased)} left "
        "leased; "
        f"{len(slack.twice())} prompts sent twice; digest claim released: {released}",
    )
    assert code == 0, server.tail()
    assert took <= SHUTDOWN + EXIT_GRACE
    assert server.log_lines("stopping:") and server.log_lines("stopped in")
    # The load went on after the listener closed: the signal came in the middle of it.
    assert taps.refused + intakes.refused > 0
    # Answered, or not at all (a keep-alive connection closed under a request that had not
    # reached a handler); a 503 (a busy machine's database pool) is a refusal, not a loss.
    assert {r.status for r in everything} <= {0, 200, 201, 503}, statuses(everything)
    assert not losses.uncommitted and not losses.duplicated
    assert not unrecorded, f"delivered, yet not recorded as sent: {unrecorded[:5]}"
    assert not leased, f"left claimed by the stopped process: {leased[:5]}"
    assert released, digest
    assert server.log_lines("released 1 digest and alert claims")
    assert len(slack.posts_to(DIGEST_CHANNEL)) == 1
    assert not slack.twice(), slack.twice()


def _digest_calls(slack: FaultySlack) -> bool:
    return any(
        c.payload.get("channel") == DIGEST_CHANNEL for c in slack.calls_to("chat.postMessage")
    )
