"""Two `icx serve` replicas on one PostgreSQL behind a (simulated) load balancer: requests
alternate between them, both run the outbox and the scheduler, and an operator's cron job runs
`icx digest --post` on both machines at once. Everything happens exactly as with one replica:
each interaction recorded once, each prompt delivered once, each tap stored once, each digest
posted once."""

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from core.weeks import IsoWeek
from storage.db import Database
from tests.faults.checks import dispatches, references, tap_losses
from tests.faults.conftest import ServerFactory, scaled
from tests.faults.report import report, statuses
from tests.faults.servers import DIGEST_CHANNEL, run_icx
from tests.faults.slack import FaultySlack
from tests.faults.traffic import (
    REQUEST_TIMEOUT,
    Answer,
    LivePrompt,
    TapLoad,
    add_people,
    ask,
    until_delivered,
)

PEOPLE = 40
TAP_RATE = 20.0
BERLIN = ZoneInfo("Europe/Berlin")  # Finance's time zone


async def ask_twice(urls: list[str], users: list[str]) -> list[tuple[Answer, Answer]]:
    """Every interaction reaches both replicas at once (a helpdesk retrying a webhook through
    the load balancer)."""
    limit = asyncio.Semaphore(4)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)

    async def both(http: aiohttp.ClientSession, user: str) -> tuple[Answer, Answer]:
        async with limit:
            first, second = await asyncio.gather(
                *(ask(http, url, user, f"TWICE-{user}") for url in urls)
            )
        return first, second

    async with aiohttp.ClientSession(timeout=timeout) as http:
        return list(await asyncio.gather(*(both(http, user) for user in users)))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_replicas_on_one_postgresql_do_everything_once(
    db: Database, slack: FaultySlack, servers: ServerFactory
) -> None:
    users = add_people(slack, range(scaled(PEOPLE)))
    replicas = [servers(db.url, "replica-a"), servers(db.url, "replica-b")]
    # Both start at once, and both schedulers' first pass posts the digest that is due.
    await asyncio.gather(*(replica.start() for replica in replicas))
    urls = [replica.url for replica in replicas]

    answers = await ask_twice(urls, users)
    created = [sorted((a.status, b.status)) for a, b in answers]
    assert all(pair == [200, 201] for pair in created), created
    assert all(a.body["prompt"]["id"] == b.body["prompt"]["id"] for a, b in answers)
    prompt_ids = [a.body["prompt"]["id"] for a, _ in answers]
    rows = await until_delivered(db, prompt_ids, within=60)

    live = [
        LivePrompt(p.id, str(p.recipient_address), str(p.channel_id), str(p.message_ts))
        for p in rows
    ]
    taps = TapLoad(live, TAP_RATE, urls, response_url=slack.response_url())
    taps.start()
    results = await taps.all_sent(within=60)

    # The operator's weekly cron job on both machines at once, for the week before last (the
    # schedulers posted the digest due now).
    week = IsoWeek.before(datetime.now(UTC), BERLIN).shifted(-1).label
    runs = await asyncio.gather(
        *(
            run_icx(
                r.env, r.directory, "digest", "--department", "finance", "--post", "--period", week
            )
            for r in replicas
        )
    )
    assert all(code == 0 for code, _ in runs), runs

    losses = await tap_losses(db, results)
    posted = [d for d in await dispatches(db) if d.channel == f"slack:{DIGEST_CHANNEL}"]
    digests = slack.posts_to(DIGEST_CHANNEL)
    stored = await references(db)
    report(
        "two replicas on one PostgreSQL",
        "a second `icx serve` on the same database; every intake sent to both at once; taps "
        "alternating; both outboxes and schedulers running (both post the due digest at "
        f"start); `icx digest --post --period {week}` on both at once",
        f"{len(users)} interactions (x2), {len(rows)} prompts, {TAP_RATE:g} taps/s: "
        f"{statuses(results)}",
        f"{len(users) - len(stored)} interactions missing, {len(slack.twice())} prompts sent "
        f"twice, {losses}; {len(digests)} digest posts for {len(posted)} digests due",
    )
    assert len(stored) == len(users)
    assert set(slack.delivered) == set(prompt_ids) and not slack.twice()
    assert {r.status for r in results} == {200}
    assert not losses.uncommitted and not losses.duplicated
    assert posted and all(d.status == "posted" and d.attempts == 1 for d in posted), posted
    assert len(digests) == len(posted)
