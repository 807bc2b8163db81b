"""The outbox against a real database and the local Slack stand-in: rate limits, server errors,
restarts, permanent failures, expiry and two replicas sharing one database.

The background loops are off (RuntimeOptions(background=False)), so each test drives
`runtime.outbox.drain_once()` by hand and moves the fake clock itself: no real waiting."""

import asyncio
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from bots.runtime import Runtime
from bots.standin.slack_web_api import SlackStandIn
from core.departments import Company
from core.intake import IntakeOutcome, InteractionIn, record_interaction
from core.outbox import LEASE, MAX_BACKOFF
from storage.db import Database
from storage.models import Prompt
from tests.conftest import REQUESTER, FakeClock, runtime_on

POST = "chat.postMessage"
# Longer than any backoff and any Retry-After used here: everything due is due again.
PAST_ANY_BACKOFF = MAX_BACKOFF + 1


async def intake(
    runtime: Runtime, reference: str, requester: str = REQUESTER, department: str = "finance"
) -> IntakeOutcome:
    request = InteractionIn.model_validate(
        {
            "department": department,
            "requester": {"slack_user_id": requester},
            "provider": {"email": "ana@acme.example"},
            "source": "jira",
            "reference": reference,
        }
    )
    outcome = await record_interaction(runtime.icx, request)
    assert outcome.created and outcome.status == "scheduled", outcome
    assert outcome.prompt_id is not None
    return outcome


def record_deliveries(slack: SlackStandIn) -> list[dict[str, str]]:
    """Keeps every chat.postMessage the stand-in answered with ok (faulted calls never get
    here), so a test can count real deliveries rather than attempts."""
    delivered: list[dict[str, str]] = []
    original = slack._chat_postMessage

    def post_message(payload: dict[str, Any]) -> dict[str, Any]:
        answer = original(payload)
        if answer["ok"]:
            delivered.append(
                {"recipient": payload["channel"], "channel": answer["channel"], "ts": answer["ts"]}
            )
        return answer

    slack._chat_postMessage = post_message  # type: ignore[method-assign]
    return delivered


def add_people(slack: SlackStandIn, count: int, prefix: str = "U0MANY") -> list[str]:
    ids = [f"{prefix}{i:04d}" for i in range(count)]
    for i, user_id in enumerate(ids):
        slack.add_user(user_id, f"Person {i}", email=f"person{i}.{prefix.lower()}@acme.example")
    return ids


async def prompt_row(db: Database, prompt_id: str) -> Prompt:
    async with db.session() as s:
        prompt = await s.get(Prompt, prompt_id)
    assert prompt is not None
    return prompt


async def all_prompts(db: Database) -> list[Prompt]:
    async with db.session() as s:
        return list((await s.exec(select(Prompt).order_by(col(Prompt.created_at)))).all())


def posts_to(slack: SlackStandIn, recipient: str) -> int:
    return sum(1 for c in slack.calls_to(POST) if c.payload.get("channel") == recipient)


# --- rate limits and server errors ----------------------------------------------------------


async def test_rate_limit_then_server_error_delays_and_delivers_once(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    delivered = record_deliveries(slack)
    async with runtime_on(db, slack, company, clock) as runtime:
        outbox = runtime.outbox
        first = await intake(runtime, "FIN-1")
        assert first.prompt_id is not None
        slack.rate_limit_next(1, retry_after=30, method=POST)
        slack.fail_next(1, status=503, method=POST)

        started = clock.now
        assert await outbox.drain_once() == 1
        assert len(slack.calls_to(POST)) == 1 and delivered == []
        row = await prompt_row(db, first.prompt_id)
        assert row.status == "pending" and row.attempts == 1
        assert row.last_error is not None and "429" in row.last_error
        assert row.next_attempt_at is not None
        assert timedelta(seconds=29) < row.next_attempt_at - started < timedelta(seconds=31)

        # The whole outbox pauses: a prompt created during the pause waits too.
        second = await intake(runtime, "FIN-2", requester="U0OTHER001")
        assert second.prompt_id is not None
        clock.advance(seconds=28)
        assert await outbox.drain_once() == 0
        assert len(slack.calls_to(POST)) == 1
        assert (await prompt_row(db, second.prompt_id)).status == "pending"

        # Retry-After has elapsed: both are attempted; the first meets the 503.
        clock.advance(seconds=3)
        assert await outbox.drain_once() == 2
        row = await prompt_row(db, first.prompt_id)
        other = await prompt_row(db, second.prompt_id)
        assert {row.status, other.status} == {"pending", "sent"}
        failing = row if row.status == "pending" else other
        assert failing.attempts == 2 and failing.last_error == "Slack answered HTTP 503"

        # Backoff: not retried at once, then delivered once the backoff has passed.
        assert await outbox.drain_once() == 0
        clock.advance(seconds=PAST_ANY_BACKOFF)
        assert await outbox.drain_once() == 1
        assert await outbox.drain_once() == 0
        clock.advance(seconds=PAST_ANY_BACKOFF)
        assert await outbox.drain_once() == 0

    assert slack.faults == []
    assert len(slack.calls_to(POST)) == 4  # 429, 503, and one success for each prompt
    assert sorted(d["recipient"] for d in delivered) == sorted([REQUESTER, "U0OTHER001"])
    for prompt_id, recipient in ((first.prompt_id, REQUESTER), (second.prompt_id, "U0OTHER001")):
        row = await prompt_row(db, prompt_id)
        success = next(d for d in delivered if d["recipient"] == recipient)
        assert row.status == "sent" and row.last_error is None
        assert row.attempts == posts_to(slack, recipient)
        assert (row.channel_id, row.message_ts) == (success["channel"], success["ts"])
        assert row.channel_id == "D" + recipient[1:]
        assert row.sent_at is not None and row.lease_until is None
    assert (await prompt_row(db, first.prompt_id)).attempts >= 2


async def test_many_prompts_with_interleaved_faults_are_each_delivered_once(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    delivered = record_deliveries(slack)
    people = add_people(slack, 30)
    async with runtime_on(db, slack, company, clock) as runtime:
        for i, person in enumerate(people):
            await intake(runtime, f"BULK-{i}", requester=person)
        injected = 0
        for round_ in range(40):
            if round_ < 5:
                slack.fail_next(1, status=503, method=POST)
                slack.fail_next(1, status=500, method=POST)
                slack.rate_limit_next(1, retry_after=5, method=POST)
                injected += 3
            await runtime.outbox.drain_once(limit=8)
            clock.advance(seconds=PAST_ANY_BACKOFF)
            if len(delivered) == len(people) and not slack.faults:
                break

    prompts = await all_prompts(db)
    assert len(prompts) == len(people)
    assert [p.status for p in prompts] == ["sent"] * len(people)
    assert sorted(d["recipient"] for d in delivered) == sorted(people)
    assert len({d["ts"] for d in delivered}) == len(people)
    assert slack.faults == []
    assert len(slack.calls_to(POST)) == len(people) + injected
    for prompt in prompts:
        assert prompt.recipient_address is not None
        assert prompt.attempts == posts_to(slack, prompt.recipient_address)
        assert prompt.message_ts in {d["ts"] for d in delivered}
    assert sum(p.attempts for p in prompts) == len(people) + injected
    assert any(p.attempts > 1 for p in prompts)


# --- restarts and replicas ------------------------------------------------------------------


async def test_a_new_process_delivers_what_the_old_one_left_pending(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    delivered = record_deliveries(slack)
    people = add_people(slack, 6)
    async with runtime_on(db, slack, company, clock) as old:
        for i, person in enumerate(people):
            await intake(old, f"R-{i}", requester=person)
        # Two are delivered before the outage; then Slack fails everything for a while.
        assert await old.outbox.drain_once(limit=2) == 2
        slack.fail_next(100, status=503, method=POST)
        assert await old.outbox.drain_once() == 4
        # One more is claimed just before the process dies, and never finished.
        clock.advance(seconds=PAST_ANY_BACKOFF)
        claimed = await old.outbox._claim(clock(), limit=1)
        assert len(claimed) == 1
    slack.faults.clear()
    assert len(delivered) == 2
    before = {p.id: p for p in await all_prompts(db)}
    assert [p.status for p in before.values()].count("sent") == 2
    assert before[claimed[0]].lease_until is not None

    async with runtime_on(db, slack, company, clock) as new:
        clock.advance(seconds=1)
        # The three unclaimed pending ones (backoff passed) go out; the leased one waits.
        assert await new.outbox.drain_once() == 3
        assert (await prompt_row(db, claimed[0])).status == "pending"
        assert len(delivered) == 5
        clock.advance(seconds=LEASE.total_seconds() + 1)
        assert await new.outbox.drain_once() == 1
        assert await new.outbox.drain_once() == 0

    prompts = await all_prompts(db)
    assert [p.status for p in prompts] == ["sent"] * len(people)
    assert sorted(d["recipient"] for d in delivered) == sorted(people)
    for prompt in prompts:
        assert prompt.recipient_address is not None
        assert prompt.attempts == posts_to(slack, prompt.recipient_address)


async def test_two_replicas_draining_one_database_post_each_prompt_once(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    delivered = record_deliveries(slack)
    people = add_people(slack, 24)
    async with (
        runtime_on(db, slack, company, clock) as one,
        runtime_on(db, slack, company, clock) as two,
    ):
        for i, person in enumerate(people):
            await intake(one if i % 2 else two, f"REP-{i}", requester=person)
        attempted = 0
        for _ in range(20):
            counts = await asyncio.gather(
                one.outbox.drain_once(limit=5),
                two.outbox.drain_once(limit=5),
                one.outbox.drain_once(limit=5),
                two.outbox.drain_once(limit=5),
            )
            attempted += sum(counts)
            if len(delivered) >= len(people):
                break
        # Nothing is left for either replica.
        assert await one.outbox.drain_once() == 0
        assert await two.outbox.drain_once() == 0

    assert attempted == len(people)
    assert len(slack.calls_to(POST)) == len(people)
    assert sorted(d["recipient"] for d in delivered) == sorted(people)
    prompts = await all_prompts(db)
    assert all(p.status == "sent" and p.attempts == 1 for p in prompts)


# --- giving up ------------------------------------------------------------------------------


async def test_a_deleted_account_fails_permanently_and_the_recipient_is_erased(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        outcome = await intake(runtime, "FIN-GONE", requester="U0OTHER001")
        assert outcome.prompt_id is not None
        # The account is deleted between intake and delivery.
        slack.add_user("U0OTHER001", "Omar Other", email="omar@acme.example", deleted=True)
        assert await runtime.outbox.drain_once() == 1
        clock.advance(seconds=PAST_ANY_BACKOFF)
        assert await runtime.outbox.drain_once() == 0

    row = await prompt_row(db, outcome.prompt_id)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error == "Slack error: user_not_found"
    assert row.recipient_address is None and row.channel_id is None and row.message_ts is None
    assert row.erased_at is not None and row.lease_until is None
    assert len(slack.calls_to(POST)) == 1


async def test_transient_failures_are_retried_until_the_prompt_expires(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    """An outage longer than any backoff delays a prompt but never drops it while it is
    current; only expiry ends the retries."""
    slack.fail_next(1000, status=503, method=POST)
    async with runtime_on(db, slack, company, clock) as runtime:
        outcome = await intake(runtime, "FIN-FLAKY")
        assert outcome.prompt_id is not None
        for attempt in range(1, 13):
            assert await runtime.outbox.drain_once() == 1
            row = await prompt_row(db, outcome.prompt_id)
            assert row.status == "pending" and row.attempts == attempt
            assert row.recipient_address == REQUESTER
            assert row.last_error == "Slack answered HTTP 503"
            assert await runtime.outbox.drain_once() == 0  # backing off, not hammering
            clock.advance(seconds=PAST_ANY_BACKOFF)
        clock.advance(days=company.policy.expiry_days)
        assert await runtime.outbox.drain_once() == 1  # claimed, found expired, not posted

    row = await prompt_row(db, outcome.prompt_id)
    assert row.status == "expired" and row.attempts == 12
    assert row.recipient_address is None and row.erased_at is not None
    assert len(slack.calls_to(POST)) == 12


async def test_rate_limits_pause_every_send_and_use_up_nothing(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    people = add_people(slack, 5)
    slack.rate_limit_next(30, retry_after=2, method=POST)
    async with runtime_on(db, slack, company, clock) as runtime:
        for i, person in enumerate(people):
            await intake(runtime, f"RL-{i}", requester=person)
        while slack.faults:
            assert await runtime.outbox.drain_once() > 0
            assert await runtime.outbox.drain_once() == 0  # paused for Retry-After
            clock.advance(seconds=3)
        while await runtime.outbox.drain_once():
            pass
    prompts = await all_prompts(db)
    assert [p.status for p in prompts] == ["sent"] * len(people)
    # Every 429 was waited out and nothing was sent twice: 30 refusals, then one post each.
    assert len(slack.calls_to(POST)) == 30 + len(people)


async def test_a_prompt_expired_before_delivery_is_never_posted(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        retried = await intake(runtime, "FIN-LATE")
        waiting = await intake(runtime, "IT-LATE", department="it", requester="U0OTHER001")
        assert waiting.prompt_id is not None and retried.prompt_id is not None
        # One prompt meets an error and is still retrying when its week is over.
        slack.fail_next(1, status=503, method=POST)
        assert await runtime.outbox.drain_once(limit=1) == 1
        calls_before = len(slack.calls_to(POST))
        clock.advance(days=company.policy.expiry_days, seconds=1)
        assert await runtime.outbox.drain_once() == 2

    assert len(slack.calls_to(POST)) == calls_before == 1
    for prompt_id in (waiting.prompt_id, retried.prompt_id):
        row = await prompt_row(db, prompt_id)
        assert row.status == "expired" and row.sent_at is None
        assert row.recipient_address is None and row.erased_at is not None
