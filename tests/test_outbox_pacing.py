"""The outbox's background loop against Slack's rate limits: a continuous pool of sends, paced at
the rate the platform's 429s teach, one person's prompts spaced a channel's second apart.

The loop runs on the real clock here (pacing is about real seconds); the stand-in keeps Slack's
chat.postMessage limits (bots/standin/rate_limits.py)."""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlmodel import col, select

from bots.runtime import Runtime, RuntimeOptions
from bots.standin.rate_limits import PostLimits
from bots.standin.slack_web_api import Posted, SlackStandIn
from core.config import Config
from core.departments import Company
from core.intake import InteractionIn, record_interaction
from core.pacing import MIN_SAMPLES, Pacer, RecipientSpacing
from storage.db import Database
from storage.models import Prompt
from tests.conftest import settings_for


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the pacer and the spacing, on a clock under the test's control --------------------------


def test_unpaced_until_the_first_rate_limit_then_paced_at_what_got_through() -> None:
    clock = Ticks()
    pacer = Pacer(clock)
    assert pacer.reserve() == 0.0 and pacer.delay() == 0.0
    for _ in range(100):  # 50 a second for 2 s
        clock.now += 0.02
        pacer.succeeded()
    pacer.limited()
    assert pacer.rate == pytest.approx(50, rel=0.05)
    waits = [pacer.reserve() for _ in range(5)]
    # Five sends at one instant: each waits one more 1/50 s than the one before.
    assert waits == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08], abs=1e-3)


def test_a_refusal_with_too_few_successes_to_tell_halves_the_rate() -> None:
    clock = Ticks()
    pacer = Pacer(clock)
    for _ in range(MIN_SAMPLES - 1):
        pacer.succeeded()
    pacer.limited()
    assert pacer.rate == MIN_SAMPLES - 1  # what got through, for a start
    clock.now += 1.5
    pacer.limited()  # and right after the pause, another refusal
    assert pacer.rate == (MIN_SAMPLES - 1) / 2


def test_the_rate_only_goes_down_at_a_limit_and_creeps_up_while_sends_wait() -> None:
    clock = Ticks()
    pacer = Pacer(clock)
    for _ in range(50):
        clock.now += 0.1
        pacer.succeeded()
    pacer.limited()
    learned = pacer.rate
    assert learned == pytest.approx(10, rel=0.05)
    # Sends keep waiting for the pacer, without a refusal: after a while it probes faster.
    for _ in range(90):  # 9 s
        clock.now += pacer.reserve() or 0.0
    assert pacer.rate == learned
    for _ in range(110):
        clock.now += pacer.reserve() or 0.0
    assert pacer.rate is not None and learned < pacer.rate < learned * 1.3


def test_one_recipient_waits_from_the_end_of_its_last_send() -> None:
    clock = Ticks()
    spacing = RecipientSpacing(1.1, clock)
    assert spacing.take("U1") == 0.0
    assert spacing.take("U2") == 0.0  # others are not held back
    clock.now += 0.5
    assert spacing.take("U1") == pytest.approx(0.6)
    spacing.done("U1")  # the send took 0.5 s: the gap counts from its end
    clock.now += 1.0
    assert spacing.take("U1") == pytest.approx(0.1)
    clock.now += 0.1
    assert spacing.take("U1") == 0.0


def test_the_stand_in_limits_refuse_over_the_channel_and_the_workspace_rate() -> None:
    clock = Ticks()
    limits = PostLimits(workspace_rate=10, workspace_burst=3, clock=clock)
    assert [limits.refuse(f"U{i}") for i in range(3)] == [None, None, None]
    assert limits.refuse("U3") == 1  # the burst is used up: 429, Retry-After 1
    clock.now += 0.1
    assert limits.refuse("U0") == 1  # the same channel within a second
    assert limits.refuse("U4") is None  # a tenth of a second brought one workspace token
    assert limits.refused == Counter(workspace=1, channel=1)
    assert limits.minimum_seconds(23) == pytest.approx(2.0)


# --- the loop, on both databases -------------------------------------------------------------


@asynccontextmanager
async def running_outbox(
    db: Database, slack: SlackStandIn, company: Company
) -> AsyncIterator[Runtime]:
    """A Runtime on the real clock with only the outbox loop running (no scheduler)."""
    config = Config(settings_for(db.url, slack), company)
    runtime = Runtime(config, RuntimeOptions(background=False))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def ask(runtime: Runtime, person: str, department: str, reference: str) -> str:
    request = InteractionIn.model_validate(
        {
            "department": department,
            "requester": {"slack_user_id": person},
            "source": "jira",
            "reference": reference,
        }
    )
    outcome = await record_interaction(runtime.icx, request)
    assert outcome.status == "scheduled" and outcome.prompt_id is not None
    return outcome.prompt_id


async def all_sent(db: Database, within: float) -> list[Prompt]:
    deadline = time.monotonic() + within
    while True:
        async with db.session() as session:
            prompts = list((await session.exec(select(Prompt).order_by(col(Prompt.id)))).all())
        if all(p.status == "sent" for p in prompts) or time.monotonic() > deadline:
            return prompts
        await asyncio.sleep(0.05)


def prompt_of(posted: Posted) -> str:
    return next(
        str(block["block_id"]).partition(":")[2]
        for block in posted.payload["blocks"]
        if str(block.get("block_id", "")).startswith("icx_csat:")
    )


async def test_the_loop_delivers_a_backlog_through_slacks_limits_once_each(
    db: Database, slack: SlackStandIn, company: Company
) -> None:
    singles = [f"U0FAN{i:04d}" for i in range(24)]
    triple = "U0FAN9999"
    for person in [*singles, triple]:
        slack.add_user(person, f"Person {person}")
    limits = slack.limit_posts(workspace_rate=40, workspace_burst=5)
    async with running_outbox(db, slack, company) as runtime:
        ids = [await ask(runtime, person, "finance", f"F-{person}") for person in singles[:12]]
        # One person asked about three departments in a row: three messages to one channel.
        ids += [await ask(runtime, triple, d, f"T-{d}") for d in ("finance", "it", "legal")]
        ids += [await ask(runtime, person, "finance", f"F-{person}") for person in singles[12:]]
        runtime.outbox.start()
        prompts = await all_sent(db, within=30)

    assert [p.status for p in prompts] == ["sent"] * len(ids)
    posted = Counter(prompt_of(p) for p in slack.posted)
    assert posted == Counter(ids)  # every prompt posted, none twice
    # The spacing kept the channel's limit: one person's messages never met a 429.
    assert limits.refused["channel"] == 0
    to_triple = sorted(p.at for p in slack.posted if p.payload["channel"] == triple)
    assert len(to_triple) == 3
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(to_triple))
    # A 429 is retried without a second message; every refusal is one more attempt.
    refused = limits.refused["workspace"]
    assert sum(p.attempts for p in prompts) == len(ids) + refused


async def test_the_loop_learns_the_workspace_rate_instead_of_meeting_429_after_429(
    db: Database, slack: SlackStandIn, company: Company
) -> None:
    people = [f"U0RATE{i:04d}" for i in range(45)]
    for person in people:
        slack.add_user(person, f"Person {person}")
    # Far slower than icx sends, with a burst smaller than the sends in flight: unpaced, every
    # pause would end in another burst of 429s (some 70 in all, measured with the pacer off).
    limits = slack.limit_posts(workspace_rate=10, workspace_burst=5)
    async with running_outbox(db, slack, company) as runtime:
        for person in people:
            await ask(runtime, person, "finance", f"R-{person}")
        runtime.outbox.start()
        prompts = await all_sent(db, within=30)
        learned = runtime.outbox._pacers["slack"].rate

    assert [p.status for p in prompts] == ["sent"] * len(people)
    assert Counter(prompt_of(p) for p in slack.posted) == Counter(p.id for p in prompts)
    assert learned is not None
    # Paced (12 to 18 when measured): the first bursts meet the limit, then hardly anything.
    assert limits.refused["workspace"] < len(people)
