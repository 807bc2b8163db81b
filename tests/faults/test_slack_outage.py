"""Slack's Web API fails while a fan-out of prompts goes out: HTTP 503 for a while, then 429
with Retry-After for a while. Afterwards every prompt has reached its person exactly once, as
the stand-in saw it (a post answered ok is a message the person sees)."""

import asyncio
import time

from storage.db import Database
from tests.faults.checks import prompts_by_status, sent_prompts
from tests.faults.conftest import ServerFactory, scaled
from tests.faults.report import report
from tests.faults.slack import FaultySlack
from tests.faults.traffic import add_people, ask_everyone, until_delivered

PROMPTS = 60
SECONDS_5XX = 2.0
SECONDS_429 = 2.0


async def test_a_slack_outage_during_a_fan_out_delays_prompts_but_sends_each_once(
    db: Database, slack: FaultySlack, servers: ServerFactory
) -> None:
    users = add_people(slack, range(scaled(PROMPTS)))
    server = servers(db.url)
    await server.start()

    asking = asyncio.create_task(ask_everyone([server.url], users))
    # The outage begins in the middle of the fan-out, a third of the prompts delivered.
    await slack.wait_for(lambda: len(slack.delivered) >= len(users) // 3, within=30)
    slack.outage(SECONDS_5XX, SECONDS_429, retry_after=1)
    began = time.monotonic()
    asked = await asking
    # Backoff with jitter after each failure: 1-2 s, 2-4 s, 4-8 s... well within a minute.
    await until_delivered(db, list(asked.values()), within=60)
    took = time.monotonic() - began

    statuses = await prompts_by_status(db)
    sent = await sent_prompts(db)
    report(
        f"Slack outage during a fan-out, {db.dialect}",
        f"chat.postMessage answered 503 for {SECONDS_5XX:g} s, then 429 (Retry-After: 1) for "
        f"{SECONDS_429:g} s; {slack.refused} sends refused",
        f"{len(users)} prompts asked through the intake API at once, the outage beginning "
        f"once a third was delivered; all delivered {took:.1f} s after it began",
        f"{len(users) - len(slack.delivered)} prompts undelivered, "
        f"{len(slack.twice())} delivered twice; database: {dict(statuses)}",
    )
    assert slack.refused > 0, "the outage hit no send: the test proved nothing"
    assert statuses == {"sent": len(users)}
    assert set(slack.delivered) == set(asked.values())
    assert not slack.twice(), f"delivered more than once: {slack.twice()}"
    assert all(ts for ts in sent.values())
