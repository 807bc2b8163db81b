"""The scheduler end to end (issue 4): weekly digests posted once to Slack (chart uploaded) and
Teams (chart in the card) and the organisation digest to leadership; exactly once across
processes and after a crash between claim and post; catch-up after downtime; transient and
permanent failures; low-answer and drop alerts; retention; the real APScheduler wiring.

Runtimes run without their background loops: each test sets the FakeClock to a chosen instant
and drives the scheduler's passes by hand (except the APScheduler test)."""

import asyncio
import base64
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.slack.publisher import post_blocks
from bots.standin.bot_connector import BotConnectorStandIn
from bots.standin.slack_web_api import Call, SlackStandIn
from bots.teams.publisher import TeamsPublisher
from core import digest_text
from core.alerts import LowAnswer
from core.config import Config, parse_company
from core.departments import Company
from core.digester import RETRY
from core.dispatch import LEASE, Dispatches, DispatchKey
from core.i18n import translator
from core.scheduler import Cadence
from core.weeks import IsoWeek
from storage.aggregates import count_contributions
from storage.db import Database
from storage.models import Dispatch, Interaction, Prompt, Response
from tests import teams_activities as ta
from tests.conftest import REQUESTER, FakeClock, settings_for

BERLIN = ZoneInfo("Europe/Berlin")
POST = "chat.postMessage"
UPLOAD_STEPS = ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]

FIN_DIGEST, FIN_ALERT = "C0FINDIGEST", "C0FINALERT"
LEGAL_DIGEST, LEGAL_ALERT = "C0LEGDIGEST", "C0LEGALERT"
IT_DIGEST, IT_ALERT = "C0ITDIGEST", "C0ITALERT"
LEADERS = "C0LEADERS1"

SCHEDULER_COMPANY: dict[str, Any] = {
    "leadership": {"slack_channel": LEADERS, "timezone": "Europe/Berlin"},
    "departments": [
        {
            "key": "finance",
            "name": "Finance",
            "timezone": "Europe/Berlin",
            "services": [{"key": "expense-reimbursement", "name": "Expense reimbursement"}],
            "slack": {"digest_channel": FIN_DIGEST, "alert_channel": FIN_ALERT},
            "teams": {"digest_channel": ta.CHANNEL_ID, "alert_channel": ta.CHANNEL_ID},
        },
        {
            "key": "it",
            "name": "IT",
            "timezone": "Europe/Berlin",
            "slack": {"digest_channel": IT_DIGEST, "alert_channel": IT_ALERT},
        },
        {
            "key": "legal",
            "name": "Legal",
            "timezone": "Europe/Berlin",
            "slack": {"digest_channel": LEGAL_DIGEST, "alert_channel": LEGAL_ALERT},
        },
    ],
}

# Monday 16 November 2026 (ISO week 47), 09:00:30 in Berlin (CET, UTC+1): the digest of
# week 46 (Monday 9 to Sunday 15 November) is due.
MONDAY = datetime(2026, 11, 16, 9, 0, 30, tzinfo=BERLIN).astimezone(UTC)
W46 = IsoWeek(2026, 46)


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
def scheduled_company() -> Company:
    return parse_company(SCHEDULER_COMPANY)


# --- data -----------------------------------------------------------------------------------

_references = itertools.count(1)


@dataclass(frozen=True)
class Answer:
    at: datetime  # answered (UTC)
    satisfaction: int
    effort: int | None = None
    comment: str | None = None
    contact: str | None = None  # an address the person consented to be contacted at
    service: str | None = None


async def insert(db: Database, department: str, answers: list[Answer]) -> list[str]:
    """One interaction, prompt (delivered 10 minutes before) and response per answer; returns
    the prompt ids (which name the answers in dispatch rows)."""
    ids = []
    async with db.transaction() as session:
        for answer in answers:
            sent = answer.at - timedelta(minutes=10)
            interaction = Interaction(
                department=department,
                service=answer.service,
                source="test",
                reference=f"S-{next(_references)}-{uuid.uuid4().hex[:6]}",
                requester_key=uuid.uuid4().hex,
                occurred_at=sent - timedelta(hours=1),
                created_at=sent - timedelta(hours=1),
            )
            session.add(interaction)
            await session.flush()
            assert interaction.id is not None
            prompt = Prompt(
                id=uuid.uuid4().hex,
                interaction_id=interaction.id,
                department=department,
                service=answer.service,
                platform="slack",
                recipient_key=interaction.requester_key,
                status="answered",
                created_at=sent,
                sent_at=sent,
                answered_at=answer.at,
                expires_at=sent + timedelta(days=7),
            )
            session.add(prompt)
            await session.flush()
            response = Response(
                prompt_id=prompt.id,
                department=department,
                service=answer.service,
                respondent_key=prompt.recipient_key or "",
                satisfaction=answer.satisfaction,
                effort=answer.effort,
                comment=answer.comment,
                contact_consent=answer.contact is not None,
                contact_address=answer.contact,
                answered_at=answer.at,
                updated_at=answer.at,
            )
            session.add(response)
            await session.flush()
            ids.append(prompt.id)
        # Written directly: counted into the daily sums as the tap and delivery paths would.
        await count_contributions(session, ids)
    return ids


def spread(start: datetime, scores: list[tuple[int, int | None]], every: timedelta) -> list[Answer]:
    return [Answer(start + i * every, s, e) for i, (s, e) in enumerate(scores)]


# Week 46 in Berlin: six answers for Finance (enough to show numbers), two for Legal.
FINANCE_W46 = spread(
    berlin(11, 10, 10), [(5, 7), (4, 6), (5, 6), (2, 3), (4, 5), (1, 2)], timedelta(hours=5)
)
LEGAL_W46 = spread(berlin(11, 11, 10), [(5, 6), (3, 4)], timedelta(hours=5))


async def week_46_data(db: Database) -> None:
    await insert(db, "finance", FINANCE_W46)
    await insert(db, "legal", LEGAL_W46)


async def dispatch_rows(db: Database, kind: str | None = None) -> list[Dispatch]:
    async with db.session() as session:
        query = select(Dispatch)
        if kind is not None:
            query = query.where(Dispatch.kind == kind)
        return list((await session.exec(query)).all())


async def dispatch_row(db: Database, key: DispatchKey) -> Dispatch:
    rows = [
        r
        for r in await dispatch_rows(db, key.kind)
        if (r.subject, r.period, r.channel) == (key.subject, key.period, key.channel)
    ]
    assert len(rows) == 1, rows
    return rows[0]


def digest_key(department: str, channel: str, week: IsoWeek = W46) -> DispatchKey:
    return DispatchKey("digest", department, week.label, f"slack:{channel}")


# --- runtimes -------------------------------------------------------------------------------


def new_runtime(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock, *, teams: bool = False
) -> Runtime:
    overrides = {"icx_teams_without_auth": True} if teams else {}
    return Runtime(
        Config(settings_for(db.url, slack, **overrides), company),
        RuntimeOptions(clock=clock, background=False),
    )


@asynccontextmanager
async def started(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock, *, teams: bool = False
) -> AsyncIterator[Runtime]:
    """A started runtime without background loops; Slack only unless `teams` (then Teams is
    enabled but icx was added to no team: every Teams channel is unreachable)."""
    runtime = new_runtime(db, slack, company, clock, teams=teams)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@asynccontextmanager
async def serving_teams(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    company: Company,
    clock: FakeClock,
) -> AsyncIterator[Runtime]:
    """Slack and Teams on a real server; icx was added to the team of ta.CHANNEL_ID."""
    runtime = new_runtime(db, slack, company, clock, teams=True)
    server = await start_server(runtime, "127.0.0.1", 0)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.url}/api/messages",
                json=ta.team_added(connector.service_url),
                headers=ta.activity_headers(),
            ) as answer,
        ):
            assert answer.status == 200
        yield runtime
    finally:
        await server.stop()


# --- reading what was posted ------------------------------------------------------------------


def posts_to(slack: SlackStandIn, channel: str) -> list[Call]:
    return [c for c in slack.calls_to(POST) if c.payload.get("channel") == channel]


def posted_per_channel(slack: SlackStandIn) -> Counter[str]:
    return Counter(str(c.payload.get("channel")) for c in slack.calls_to(POST))


def block_texts(call: Call) -> list[str]:
    found = []
    for block in call.payload["blocks"]:
        if block["type"] in ("header", "section"):
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found += [element["text"] for element in block["elements"]]
    return found


def images(call: Call) -> list[dict[str, Any]]:
    return [b for b in call.payload["blocks"] if b["type"] == "image"]


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content: dict[str, Any] = attachment["content"]
    return content


def card_texts(card: dict[str, Any]) -> list[str]:
    texts = []
    for element in card["body"]:
        if element["type"] == "RichTextBlock":
            texts += [inline["text"] for inline in element["inlines"]]
        elif element["type"] == "TextBlock":
            texts.append(element["text"])
    return texts


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def eventually(check: Callable[[], Any], within: float = 10.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


# --- 1. the scheduled digest, end to end ------------------------------------------------------


async def test_monday_morning_posts_last_weeks_digests_once_to_slack_and_teams(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    scheduled_company: Company,
    clock: FakeClock,
) -> None:
    await week_46_data(db)
    clock.now = MONDAY
    async with serving_teams(db, slack, connector, scheduled_company, clock) as runtime:
        slack.calls.clear()
        outcomes = await runtime.scheduler.due()

        assert all(o.posted for o in outcomes), outcomes
        assert sorted(o.destination.address for o in outcomes) == sorted(
            [
                f"slack:{FIN_DIGEST}",
                f"teams:{ta.CHANNEL_ID}",
                f"slack:{IT_DIGEST}",
                f"slack:{LEGAL_DIGEST}",
                f"slack:{LEADERS}",
            ]
        )
        assert posted_per_channel(slack) == {
            FIN_DIGEST: 1,
            IT_DIGEST: 1,
            LEGAL_DIGEST: 1,
            LEADERS: 1,
        }

        # Finance: the chart is uploaded with the external-upload API, then shown by file id.
        methods = [c.method for c in slack.calls if c.method != "auth.test"]
        finance_calls = methods[: methods.index(POST) + 1]
        assert finance_calls == [*UPLOAD_STEPS, POST]
        started_upload = slack.calls_to("files.getUploadURLExternal")[0]
        (completed,) = slack.calls_to("files.completeUploadExternal")
        assert completed.payload["channel_id"] == FIN_DIGEST
        file_id = completed.payload["files"][0]["id"]
        png = slack.uploads[file_id]
        assert png.startswith(PNG_SIGNATURE) and int(started_upload.payload["length"]) == len(png)
        assert 5_000 < len(png) <= 40_000
        (finance,) = posts_to(slack, FIN_DIGEST)
        assert images(finance) == [
            {
                "type": "image",
                "slack_file": {"id": file_id},
                "alt_text": images(finance)[0]["alt_text"],
            }
        ]
        texts = block_texts(finance)
        assert texts[0].startswith("Finance — week 46")
        assert "6 responses this week." in "\n".join(texts)
        # 4 of 6 satisfied (5, 4, 5, 4).
        assert "Satisfied: 67% (95% interval" in "\n".join(texts)
        assert "n = 6" in "\n".join(texts)

        # Legal had two answers: the digest still goes out, says so, and shows no number.
        (legal,) = posts_to(slack, LEGAL_DIGEST)
        assert images(legal) == []
        legal_text = "\n".join(block_texts(legal))
        assert (
            "Not enough responses this week to show numbers: 2 so far, 3 more needed." in legal_text
        )
        assert "Satisfied:" not in legal_text
        # IT had none at all: still posted.
        (it,) = posts_to(slack, IT_DIGEST)
        assert "0 so far, 5 more needed" in "\n".join(block_texts(it))
        # Only one chart was uploaded: Finance's.
        assert len(slack.calls_to("files.getUploadURLExternal")) == 1

        # The organisation digest: every department side by side, alphabetical, for week 46.
        (org,) = posts_to(slack, LEADERS)
        org_texts = block_texts(org)
        assert org_texts[0].startswith("All departments — week 46")
        lines = "\n".join(org_texts).split("\n")
        named = [
            line.split(":")[0] for line in lines if line.startswith(("Finance", "IT", "Legal"))
        ]
        assert named == ["Finance", "IT", "Legal"]

        # Teams: one card in the configured channel, the same chart inline as a data URI.
        (activity,) = connector.sent(ta.CHANNEL_ID)
        card = card_of(activity)
        assert card_texts(card)[0].startswith("Finance — week 46")
        (image,) = [e for e in card["body"] if e["type"] == "Image"]
        prefix = "data:image/png;base64,"
        assert image["url"].startswith(prefix)
        assert base64.b64decode(image["url"].removeprefix(prefix)) == png

        # A second pass (and a third, a minute later) posts nothing more.
        before = len(slack.calls)
        assert await runtime.scheduler.due() == []
        clock.advance(minutes=1)
        assert await runtime.scheduler.due() == []
        assert len(slack.calls) == before
        assert len(connector.sent(ta.CHANNEL_ID)) == 1

    rows = await dispatch_rows(db)
    assert {(r.kind, r.subject, r.period, r.channel) for r in rows} == {
        ("digest", "finance", "2026-W46", f"slack:{FIN_DIGEST}"),
        ("digest", "finance", "2026-W46", f"teams:{ta.CHANNEL_ID}"),
        ("digest", "it", "2026-W46", f"slack:{IT_DIGEST}"),
        ("digest", "legal", "2026-W46", f"slack:{LEGAL_DIGEST}"),
        ("org_digest", "org", "2026-W46", f"slack:{LEADERS}"),
    }
    for row in rows:
        assert row.status == "posted" and row.attempts == 1, row
        assert row.lease_until is None and row.last_error is None and row.message_ref
        assert row.posted_at is not None and row.posted_at >= MONDAY


async def test_before_the_scheduled_time_the_previous_week_is_what_is_due(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    """Monday 08:59 in Berlin: the latest run was a week ago, so week 45 is what is due (posted
    once as catch-up on a fresh database), not week 46 yet."""
    clock.now = MONDAY - timedelta(minutes=1, seconds=30)
    async with started(db, slack, scheduled_company, clock) as runtime:
        await runtime.scheduler.due()
        assert {r.period for r in await dispatch_rows(db)} == {"2026-W45"}
        clock.now = MONDAY
        await runtime.scheduler.due()
        assert {r.period for r in await dispatch_rows(db)} == {"2026-W45", "2026-W46"}
    assert posted_per_channel(slack)[FIN_DIGEST] == 2


# --- 2. exactly once across processes ---------------------------------------------------------


async def test_two_processes_on_one_database_post_each_digest_once(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    await week_46_data(db)
    clock.now = MONDAY
    async with (
        started(db, slack, scheduled_company, clock) as one,
        started(db, slack, scheduled_company, clock) as two,
    ):
        assert one.digester._dispatches.holder != two.digester._dispatches.holder
        assert one.db is not two.db  # two engines, two connection pools: two processes
        slack.calls.clear()
        first, second = await asyncio.gather(one.scheduler.due(), two.scheduler.due())
        # And once more at the same time: nothing is left to post.
        again = await asyncio.gather(one.scheduler.due(), two.scheduler.due())

    assert all(o.posted for o in first + second)
    assert len(first + second) == 4 and again == [[], []]
    assert posted_per_channel(slack) == {FIN_DIGEST: 1, IT_DIGEST: 1, LEGAL_DIGEST: 1, LEADERS: 1}
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    rows = await dispatch_rows(db)
    assert len(rows) == 4 and all(r.status == "posted" and r.attempts == 1 for r in rows)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_claims_race_on_postgresql(db: Database, clock: FakeClock) -> None:
    """Twenty holders claim the same key at once on PostgreSQL: exactly one wins; after the
    lease exactly one takes it over."""
    key = digest_key("finance", FIN_DIGEST)
    clock.now = MONDAY
    holders = [Dispatches(db, f"holder-{i}") for i in range(20)]
    won = await asyncio.gather(*(h.claim(key, clock.now) for h in holders))
    assert won.count(True) == 1
    later = clock.now + LEASE + timedelta(seconds=1)
    won = await asyncio.gather(*(h.claim(key, later) for h in holders))
    assert won.count(True) == 1
    assert (await dispatch_row(db, key)).attempts == 2


# --- 3. a crash between claim and post ---------------------------------------------------------


async def test_a_claim_whose_holder_died_is_taken_over_after_the_lease(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    await week_46_data(db)
    clock.now = MONDAY
    key = digest_key("finance", FIN_DIGEST)
    dead = Dispatches(db, holder="crashed-process")
    assert await dead.claim(key, clock())  # …and the process dies before posting

    async with started(db, slack, scheduled_company, clock) as runtime:
        outcomes = await runtime.scheduler.due()
        # The live claim is left alone: Finance waits, the others go out.
        assert f"slack:{FIN_DIGEST}" not in {o.destination.address for o in outcomes}
        assert posts_to(slack, FIN_DIGEST) == []
        assert len(posts_to(slack, LEGAL_DIGEST)) == 1

        clock.advance(minutes=4)  # still within the lease
        assert await runtime.scheduler.due() == []
        assert posts_to(slack, FIN_DIGEST) == []

        clock.now = MONDAY + LEASE + timedelta(seconds=1)
        (outcome,) = await runtime.scheduler.due()
        assert outcome.posted and outcome.destination.address == f"slack:{FIN_DIGEST}"
        assert len(posts_to(slack, FIN_DIGEST)) == 1
        assert await runtime.scheduler.due() == []
        holder = runtime.digester._dispatches.holder

    row = await dispatch_row(db, key)
    assert row.status == "posted" and row.attempts == 2 and row.claimed_by == holder
    # The dead holder, should it wake, cannot mark (or un-mark) what it no longer holds.
    await dead.failed(key, "woke up late")
    row_after = await dispatch_row(db, key)
    assert row_after.status == "posted" and row_after.last_error is None
    assert len(posts_to(slack, FIN_DIGEST)) == 1


# --- 4. catch-up after downtime ---------------------------------------------------------------


async def test_catch_up_posts_only_the_latest_missed_week_once(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    # No server ran on Monday; it starts on Wednesday of the same week.
    clock.now = berlin(11, 18, 10)
    async with started(db, slack, scheduled_company, clock) as runtime:
        await runtime.scheduler.due()
        await runtime.scheduler.due()
    (finance,) = posts_to(slack, FIN_DIGEST)
    assert block_texts(finance)[0].startswith("Finance — week 46")

    # Down for three weeks: weeks 47, 48 and 49 were missed; Wednesday 9 December it is back.
    clock.now = berlin(12, 9, 10)
    async with started(db, slack, scheduled_company, clock) as runtime:
        await runtime.scheduler.due()
        clock.advance(minutes=1)
        await runtime.scheduler.due()
    _, latest = posts_to(slack, FIN_DIGEST)
    assert block_texts(latest)[0].startswith("Finance — week 49")
    _, org_latest = posts_to(slack, LEADERS)
    assert block_texts(org_latest)[0].startswith("All departments — week 49")
    periods = Counter((r.subject, r.period) for r in await dispatch_rows(db))
    assert periods == {
        (subject, period): 1
        for subject in ("finance", "it", "legal", "org")
        for period in ("2026-W46", "2026-W49")
    }


# --- 5. failures ------------------------------------------------------------------------------


async def test_a_transient_failure_is_retried_after_the_wait(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    await week_46_data(db)
    clock.now = MONDAY
    key = digest_key("finance", FIN_DIGEST)
    async with started(db, slack, scheduled_company, clock) as runtime:
        slack.fail_next(1, status=503, method=POST)
        outcomes = await runtime.scheduler.due()
        failed = [o for o in outcomes if o.destination.address == key.channel]
        assert [(o.posted, o.error) for o in failed] == [(False, "Slack answered HTTP 503")]
        row = await dispatch_row(db, key)
        assert row.status == "claimed" and row.last_error == "Slack answered HTTP 503"
        assert row.lease_until is not None
        assert abs(row.lease_until - (clock.now + RETRY)) < timedelta(seconds=1)
        assert row.posted_at is None

        clock.advance(seconds=RETRY.total_seconds() - 10)
        assert await runtime.scheduler.due() == []
        assert len(posts_to(slack, FIN_DIGEST)) == 1  # the refused one

        clock.advance(seconds=11)
        (outcome,) = await runtime.scheduler.due()
        assert outcome.posted
        refused, accepted = posts_to(slack, FIN_DIGEST)
        assert refused.payload["blocks"] == accepted.payload["blocks"]
        # The chart uploaded for the refused message is shown, not shared a second time.
        assert len(slack.calls_to("files.completeUploadExternal")) == 1
        assert await runtime.scheduler.due() == []

    row = await dispatch_row(db, key)
    assert row.status == "posted" and row.attempts == 2 and row.last_error is None


async def test_a_permanent_failure_is_not_retried_until_forced(
    db: Database,
    slack: SlackStandIn,
    scheduled_company: Company,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await week_46_data(db)
    clock.now = MONDAY
    key = digest_key("finance", FIN_DIGEST)
    teams_key = DispatchKey("digest", "finance", W46.label, f"teams:{ta.CHANNEL_ID}")

    # The stand-in refuses the Finance digest for good (msg_too_long: no retry can change that).
    # A channel the bot is not in yet is retried hourly instead (see the next test).
    answer = slack._chat_postMessage

    def missing_channel(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("channel") == FIN_DIGEST:
            return {"ok": False, "error": "msg_too_long"}
        return answer(payload)

    monkeypatch.setattr(slack, "_chat_postMessage", missing_channel)
    # Teams is enabled, but icx was added to no team: its channel cannot be reached either.
    async with started(db, slack, scheduled_company, clock, teams=True) as runtime:
        outcomes = {o.destination.address: o for o in await runtime.scheduler.due()}
        assert not outcomes[key.channel].posted
        assert outcomes[key.channel].error == "Slack error: msg_too_long"
        assert not outcomes[teams_key.channel].posted
        assert "unreachable" in (outcomes[teams_key.channel].error or "")
        row = await dispatch_row(db, key)
        assert row.status == "failed" and row.lease_until is None and row.attempts == 1
        assert row.last_error == "Slack error: msg_too_long"
        # A Teams channel of a team icx was not added to yet is tried again hourly: once
        # someone adds the app, the digest goes out.
        row = await dispatch_row(db, teams_key)
        assert row.status == "claimed" and row.last_error and "unreachable" in row.last_error
        assert row.lease_until is not None
        assert timedelta(minutes=59) < row.lease_until - MONDAY <= timedelta(minutes=61)

        # Later passes leave failed posts alone: no retry storm against a missing channel.
        for minutes in (3, 10, 62, 24 * 60):
            clock.now = MONDAY + timedelta(minutes=minutes)
            retried = await runtime.scheduler.due()
            assert all(o.destination.platform == "teams" for o in retried)
        assert len(posts_to(slack, FIN_DIGEST)) == 1
        assert (await dispatch_row(db, key)).status == "failed"
        assert (await dispatch_row(db, teams_key)).attempts == 3

        # The cause is fixed; `icx digest --post --force` posts it again.
        monkeypatch.setattr(slack, "_chat_postMessage", answer)
        finance = scheduled_company.department("finance")
        assert finance is not None
        forced = {
            o.destination.address: o
            for o in await runtime.digester.department(finance, W46, force=True)
        }
        assert forced[key.channel].posted
        assert teams_key.channel not in forced  # its hourly retry holds the claim
        assert len(posts_to(slack, FIN_DIGEST)) == 2
        assert await runtime.scheduler.due() == []

    row = await dispatch_row(db, key)
    assert row.status == "posted" and row.attempts == 2 and row.last_error is None
    assert (await dispatch_row(db, teams_key)).status == "claimed"


async def test_force_posts_a_posted_digest_again_but_never_steals_a_live_claim(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    clock.now = MONDAY
    legal = scheduled_company.department("legal")
    assert legal is not None
    async with started(db, slack, scheduled_company, clock) as runtime:
        digester = runtime.digester
        (posted,) = await digester.department(legal, W46)
        assert posted.posted
        assert await digester.department(legal, W46) == []
        (again,) = await digester.department(legal, W46, force=True)
        assert again.posted and len(posts_to(slack, LEGAL_DIGEST)) == 2

        # Another process holds a live claim on week 45: even force leaves it alone.
        other = Dispatches(db, holder="other-process")
        assert await other.claim(digest_key("legal", LEGAL_DIGEST, IsoWeek(2026, 45)), clock())
        assert await digester.department(legal, IsoWeek(2026, 45), force=True) == []
    assert (await dispatch_row(db, digest_key("legal", LEGAL_DIGEST))).attempts == 2


# --- 6. low-answer alerts ---------------------------------------------------------------------

NOW = berlin(11, 18, 14)  # Wednesday of week 47


async def test_low_answers_with_a_comment_or_consent_reach_the_alert_channel_once(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    assert Cadence().alerts <= 60  # "within a minute"
    clock.now = NOW
    minutes_ago = NOW - timedelta(minutes=2)
    commented, consented, _, _, _ = await insert(
        db,
        "finance",
        [
            Answer(
                minutes_ago,
                1,
                4,
                comment="Three weeks and still not paid.",
                service="expense-reimbursement",
            ),
            Answer(minutes_ago, 4, 2, contact=f"slack:{REQUESTER}"),
            Answer(minutes_ago, 1, 2),  # low, but says nothing and invites no call
            Answer(minutes_ago, 5, 7, comment="Great, thanks!"),  # a comment, not low
            Answer(minutes_ago, 3, 4, comment="Fine", contact=f"slack:{REQUESTER}"),  # not low
        ],
    )
    async with started(db, slack, scheduled_company, clock) as runtime:
        outcomes = await runtime.scheduler.alerts()
        assert [o.destination.address for o in outcomes] == [f"slack:{FIN_ALERT}"] * 2
        assert all(o.posted for o in outcomes)
        clock.advance(seconds=20)
        assert await runtime.scheduler.alerts() == []

    alerts = posts_to(slack, FIN_ALERT)
    assert len(slack.calls_to(POST)) == 2 and len(alerts) == 2
    by_title = {block_texts(call)[0]: block_texts(call) for call in alerts}
    anonymous = by_title["Low rating for Finance: Expense reimbursement"]
    assert "“Three weeks and still not paid.”" in "\n".join(anonymous)
    assert "Anonymous: the person did not ask to be contacted." in "\n".join(anonymous)
    assert not any("<@" in text for text in anonymous)
    contact = by_title["Low rating for Finance"]
    (mention,) = [text for text in contact if f"<@{REQUESTER}>" in text]
    assert mention.startswith("OK to contact:")  # spacing: see the test below
    assert not any("Anonymous" in text for text in contact)
    rows = await dispatch_rows(db, "low_alert")
    assert sorted(r.subject for r in rows) == sorted([commented, consented])
    assert all(r.status == "posted" for r in rows)


async def test_a_low_answer_missed_while_down_still_goes_out_after_a_weekend(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    clock.now = NOW
    expiry = timedelta(days=scheduled_company.policy.expiry_days)
    await insert(
        db,
        "legal",
        [
            Answer(NOW - timedelta(days=3), 2, comment="Slow"),
            # Answered before its prompt could have expired a day ago: long settled.
            Answer(NOW - expiry - timedelta(days=2), 1, comment="Too old to alert now"),
        ],
    )
    async with started(db, slack, scheduled_company, clock) as runtime:
        (outcome,) = await runtime.scheduler.alerts()
    assert outcome.posted and outcome.destination.address == f"slack:{LEGAL_ALERT}"
    (alert,) = posts_to(slack, LEGAL_ALERT)
    assert "“Slow”" in "\n".join(block_texts(alert))


async def test_the_contact_line_of_a_low_answer_has_one_space() -> None:
    company = parse_company(SCHEDULER_COMPANY)
    finance = company.department("finance")
    assert finance is not None
    alert = LowAnswer(
        prompt_id="p1",
        department=finance,
        service=None,
        satisfaction=1,
        effort=None,
        reasons=(),
        comment=None,
        contact_address=f"slack:{REQUESTER}",
        answered_at=NOW,
    )
    post = digest_text.low_answer_post(alert, translator("en"))
    slack_texts = [b["text"]["text"] for b in post_blocks(post) if b["type"] == "section"]

    class Messenger:  # shows an email as it is, like TeamsMessenger for an unknown person
        async def mention_for(self, address: str) -> tuple[str, list[Any]]:
            return address, []

    email_post = digest_text.low_answer_post(
        replace(alert, contact_address="mia@acme.example"), translator("en")
    )
    teams_contact, _ = await TeamsPublisher(Messenger())._contact(email_post.contact)  # type: ignore[arg-type]
    assert teams_contact is not None
    assert f"OK to contact: <@{REQUESTER}>" in slack_texts
    assert teams_contact["inlines"][0]["text"] == "OK to contact: mia@acme.example"


# --- 7. drop alerts ---------------------------------------------------------------------------


async def test_a_meaningful_drop_alerts_once_a_week_and_small_or_noisy_dips_do_not(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    clock.now = NOW
    baseline_start = NOW - timedelta(days=7) - timedelta(weeks=8) + timedelta(hours=1)
    every = timedelta(hours=(8 * 7 * 24 - 2) / 45)  # 45 answers spread over the 8 weeks
    recent_start = NOW - timedelta(days=7) + timedelta(hours=1)
    recent_every = timedelta(hours=12)
    high = [(5, 6)] * 40 + [(2, 3)] * 5  # 40 of 45 satisfied: 89 %
    # Finance: the last 7 days fell to 3 of 12 (25 %): p < 0.001.
    await insert(db, "finance", spread(baseline_start, high, every))
    await insert(db, "finance", spread(recent_start, [(5, 6)] * 3 + [(2, 3)] * 9, recent_every))
    # Legal: as bad, but only 4 answers in the last 7 days: below the reporting minimum.
    await insert(db, "legal", spread(baseline_start, high, every))
    await insert(db, "legal", spread(recent_start, [(1, 2)] * 4, recent_every))
    # IT: 9 of 12 (75 %) against 89 %: a dip within noise (p ≈ 0.22).
    await insert(db, "it", spread(baseline_start, high, every))
    await insert(db, "it", spread(recent_start, [(5, 6)] * 9 + [(2, 3)] * 3, recent_every))

    async with started(db, slack, scheduled_company, clock) as runtime:
        (outcome,) = await runtime.scheduler.drops()
        assert outcome.posted and outcome.destination.address == f"slack:{FIN_ALERT}"
        # Later the same ISO week (Sunday evening in Berlin): nothing again.
        clock.now = berlin(11, 22, 23, 30)
        assert await runtime.scheduler.drops() == []

    (alert,) = posts_to(slack, FIN_ALERT)
    texts = block_texts(alert)
    assert texts[0] == "Satisfaction dropped: Finance"
    assert "fell to 25% (the last 7 days, n = 12) from 89% (the 8 weeks before, n = 45)" in texts[1]
    assert posts_to(slack, LEGAL_ALERT) == [] and posts_to(slack, IT_ALERT) == []
    (row,) = await dispatch_rows(db, "drop_alert")
    assert (row.subject, row.period, row.status) == ("finance", "2026-W47", "posted")


# --- 8. housekeeping: retention ---------------------------------------------------------------


async def test_housekeeping_deletes_responses_past_retention_with_their_prompt_and_interaction(
    db: Database, slack: SlackStandIn, scheduled_company: Company, clock: FakeClock
) -> None:
    clock.now = NOW
    retention = timedelta(days=scheduled_company.policy.retention_days)
    (old,) = await insert(db, "finance", [Answer(NOW - retention - timedelta(days=1), 4, 5)])
    (kept,) = await insert(db, "finance", [Answer(NOW - retention + timedelta(days=2), 2, 3)])

    async def state() -> tuple[set[str], set[str], set[int | None]]:
        async with db.session() as session:
            responses = (await session.exec(select(Response))).all()
            prompts = (await session.exec(select(Prompt))).all()
            interactions = (await session.exec(select(Interaction))).all()
        return (
            {r.prompt_id for r in responses},
            {p.id for p in prompts},
            {i.id for i in interactions},
        )

    _, prompts_before, interactions_before = await state()
    async with db.session() as session:
        kept_prompt = await session.get(Prompt, kept)
        assert kept_prompt is not None and old != kept

    async with started(db, slack, scheduled_company, clock) as runtime:
        await runtime.scheduler.housekeeping()
        responses, prompts, interactions = await state()
        assert responses == {kept}
        assert prompts == {kept_prompt.id} and len(prompts_before) == 2
        assert interactions == {kept_prompt.interaction_id} and len(interactions_before) == 2
        # Running again changes nothing.
        await runtime.scheduler.housekeeping()
        assert await state() == (responses, prompts, interactions)
    assert old not in responses


# --- 9. the real APScheduler ------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_start_registers_the_jobs_and_posts_what_is_due_at_once(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    data = {
        **SCHEDULER_COMPANY,
        "departments": [
            *SCHEDULER_COMPANY["departments"],
            {
                "key": "sales",
                "name": "Sales",
                "timezone": "America/New_York",
                "digest": {"schedule": "30 7 * * fri"},
            },
        ],
    }
    company = parse_company(data)
    await week_46_data(db)
    clock.now = MONDAY
    runtime = new_runtime(db, slack, company, clock)
    await runtime.start()
    try:
        scheduler = runtime.scheduler
        scheduler.start()
        aps = scheduler._aps
        assert aps is not None and aps.running
        jobs = {job.id: job for job in aps.get_jobs()}

        for key in ("finance", "it", "legal"):
            trigger = jobs[f"digest:{key}"].trigger
            assert isinstance(trigger, CronTrigger)
            assert trigger.timezone == ZoneInfo("Europe/Berlin")
            fields = {f.name: str(f) for f in trigger.fields}
            assert (fields["minute"], fields["hour"], fields["day_of_week"]) == ("0", "9", "mon")
            assert (fields["day"], fields["month"]) == ("*", "*")
        sales = jobs["digest:sales"].trigger
        assert isinstance(sales, CronTrigger) and sales.timezone == ZoneInfo("America/New_York")
        fields = {f.name: str(f) for f in sales.fields}
        assert (fields["minute"], fields["hour"], fields["day_of_week"]) == ("30", "7", "fri")
        org = jobs["org"].trigger
        assert isinstance(org, CronTrigger) and org.timezone == ZoneInfo("Europe/Berlin")

        intervals = {
            name: jobs[name].trigger
            for name in ("due digests", "low-answer alerts", "drop alerts", "housekeeping")
        }
        assert all(isinstance(t, IntervalTrigger) for t in intervals.values())
        seconds = {name: t.interval.total_seconds() for name, t in intervals.items()}  # type: ignore[attr-defined]
        assert seconds == {
            "due digests": 60.0,
            "low-answer alerts": Cadence().alerts,
            "drop alerts": 3600.0,
            "housekeeping": 300.0,
        }
        assert seconds["low-answer alerts"] <= 60

        # The due pass runs at start: last week's digests go out without waiting a minute.
        await eventually(lambda: len(posted_per_channel(slack)) == 4)
        assert posted_per_channel(slack) == {
            FIN_DIGEST: 1,
            IT_DIGEST: 1,
            LEGAL_DIGEST: 1,
            LEADERS: 1,
        }
        await eventually(lambda: scheduler._running == set())
    finally:
        await runtime.stop()
    assert scheduler._aps is None and not aps.running
    rows = await dispatch_rows(db)
    assert {r.status for r in rows} == {"posted"}
    # Sales has no channel: nothing to claim, nothing posted.
    assert {r.subject for r in rows} == {"finance", "it", "legal", "org"}


async def test_a_slack_channel_icx_is_not_in_is_retried_hourly(
    db: Database,
    slack: SlackStandIn,
    scheduled_company: Company,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await week_46_data(db)
    clock.now = MONDAY
    key = digest_key("finance", FIN_DIGEST)
    answer = slack._chat_postMessage
    invited = False

    def not_yet_invited(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("channel") == FIN_DIGEST and not invited:
            return {"ok": False, "error": "not_in_channel"}
        return answer(payload)

    monkeypatch.setattr(slack, "_chat_postMessage", not_yet_invited)
    async with started(db, slack, scheduled_company, clock) as runtime:
        await runtime.scheduler.due()
        row = await dispatch_row(db, key)
        assert row.status == "claimed" and "invite the icx app" in (row.last_error or "")
        clock.now = MONDAY + timedelta(minutes=30)
        await runtime.scheduler.due()
        assert (await dispatch_row(db, key)).attempts == 1  # not before the hour is up
        invited = True
        clock.now = MONDAY + timedelta(minutes=61)
        await runtime.scheduler.due()
    row = await dispatch_row(db, key)
    assert row.status == "posted" and row.attempts == 2
    assert len(posts_to(slack, FIN_DIGEST)) == 2  # the refused try, and the digest
