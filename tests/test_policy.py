"""Asking without nagging (GUIDE §5) and keyed identities (GUIDE §6), through the real intake
against real databases and the Slack stand-in's directory."""

import asyncio
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

import core.intake
from bots.runtime import Runtime
from bots.standin.slack_web_api import SlackStandIn
from core.answers import Answers, Tap, TapResult
from core.config import parse_company
from core.departments import Company
from core.housekeeping import tidy
from core.intake import IntakeOutcome, InteractionIn, record_interaction
from storage.db import Database
from storage.models import Interaction, OptOut, Prompt, Response
from tests import slack_requests as sr
from tests.conftest import (
    COMPANY,
    PROVIDER,
    REQUESTER,
    SECRET_KEY,
    FakeClock,
    Icx,
    runtime_on,
)

POST = "chat.postMessage"
OPTED_OUT = {"status": "skipped", "reason": "opted_out"}


def company_with(policy: dict[str, Any], extra_departments: int = 0) -> Company:
    data: dict[str, Any] = {**COMPANY, "policy": {**COMPANY["policy"], **policy}}
    data["departments"] = [
        *COMPANY["departments"],
        *({"key": f"dept-{i}", "name": f"Department {i}"} for i in range(extra_departments)),
    ]
    return parse_company(data)


def request(
    reference: str,
    requester: dict[str, str] | None = None,
    department: str = "finance",
    provider: dict[str, str] | None = None,
) -> InteractionIn:
    body: dict[str, Any] = {
        "department": department,
        "requester": requester or {"slack_user_id": REQUESTER},
        "source": "jira",
        "reference": reference,
    }
    if provider is not None:
        body["provider"] = provider
    return InteractionIn.model_validate(body)


async def record(runtime: Runtime, reference: str, **kwargs: Any) -> IntakeOutcome:
    outcome = await record_interaction(runtime.icx, request(reference, **kwargs))
    assert outcome.created
    return outcome


async def prompt_row(db: Database, prompt_id: str | None) -> Prompt:
    assert prompt_id is not None
    async with db.session() as s:
        prompt = await s.get(Prompt, prompt_id)
    assert prompt is not None
    return prompt


def assert_scheduled(outcome: IntakeOutcome) -> None:
    assert (outcome.status, outcome.reason) == ("scheduled", None), outcome


async def assert_skipped(db: Database, outcome: IntakeOutcome, reason: str) -> None:
    assert outcome.status == "skipped" and outcome.reason is not None, outcome
    assert outcome.reason.value == reason
    row = await prompt_row(db, outcome.prompt_id)
    assert row.status == "skipped" and row.skip_reason == reason
    assert row.recipient_address is None and row.next_attempt_at is None


def key_of(user_id: str, secret: str = SECRET_KEY) -> str:
    return hmac.new(secret.encode(), f"slack:{user_id}".encode(), hashlib.sha256).hexdigest()


# --- cooldown and weekly budget -------------------------------------------------------------


async def test_one_department_asks_once_per_cooldown(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    assert company.policy.cooldown_days == 14
    async with runtime_on(db, slack, company, clock) as runtime:
        assert_scheduled(await record(runtime, "FIN-1"))
        await assert_skipped(db, await record(runtime, "FIN-2"), "cooldown")
        # Another department is a different question; another person is not throttled.
        assert_scheduled(await record(runtime, "IT-1", department="it"))
        assert_scheduled(await record(runtime, "FIN-3", requester={"slack_user_id": "U0OTHER001"}))
        clock.advance(days=13, hours=23)
        await assert_skipped(db, await record(runtime, "FIN-4"), "cooldown")
        clock.advance(hours=2)
        assert_scheduled(await record(runtime, "FIN-5"))
        await assert_skipped(db, await record(runtime, "FIN-6"), "cooldown")


async def test_an_expired_unanswered_prompt_still_counts_for_the_cooldown(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        first = await record(runtime, "FIN-1")
        assert await runtime.outbox.drain_once() == 1
        clock.advance(days=company.policy.expiry_days + 1)
        assert await runtime.outbox.drain_once() == 0
        assert (await tidy(runtime.icx)).expired == 1
        assert (await prompt_row(db, first.prompt_id)).status == "expired"
        await assert_skipped(db, await record(runtime, "FIN-2"), "cooldown")


async def test_the_weekly_budget_is_one_for_all_departments(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    company = company_with({"weekly_budget": 2}, extra_departments=1)
    async with runtime_on(db, slack, company, clock) as runtime:
        assert_scheduled(await record(runtime, "FIN-1", department="finance"))
        clock.advance(days=3)
        assert_scheduled(await record(runtime, "IT-1", department="it"))
        clock.advance(days=3)
        await assert_skipped(
            db, await record(runtime, "LEGAL-1", department="legal"), "weekly_budget"
        )
        # Skipped prompts do not use the budget; someone else has their own.
        assert_scheduled(
            await record(
                runtime, "LEGAL-2", department="legal", requester={"slack_user_id": "U0OTHER001"}
            )
        )
        # A week after the first prompt, one slot is free again.
        clock.advance(days=1, hours=1)
        assert_scheduled(await record(runtime, "LEGAL-3", department="legal"))
        await assert_skipped(
            db, await record(runtime, "LEGAL-4", department="dept-0"), "weekly_budget"
        )


async def test_the_default_budget_allows_three_a_week(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    company = company_with({}, extra_departments=2)
    assert company.policy.weekly_budget == 3
    async with runtime_on(db, slack, company, clock) as runtime:
        for department in ("finance", "it", "legal"):
            assert_scheduled(await record(runtime, f"{department}-1", department=department))
        await assert_skipped(
            db, await record(runtime, "d0-1", department="dept-0"), "weekly_budget"
        )
        # The cooldown is reported before the budget.
        await assert_skipped(db, await record(runtime, "fin-2", department="finance"), "cooldown")


async def test_concurrent_intakes_for_one_person_share_one_budget(
    db: Database,
    slack: SlackStandIn,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    company = company_with({"weekly_budget": 1})
    real_throttle = core.intake.throttle_reason
    arrived = asyncio.Barrier(2)

    async def throttle_then_meet(*args: Any) -> Any:
        # Webhooks from two systems arrive at once: both decide before either commits. A
        # product that serialises per person blocks the second here; the wait then times out.
        reason = await real_throttle(*args)
        try:
            await asyncio.wait_for(arrived.wait(), timeout=1.0)
        except TimeoutError:
            pass
        return reason

    monkeypatch.setattr(core.intake, "throttle_reason", throttle_then_meet)
    async with runtime_on(db, slack, company, clock) as runtime:
        # Warm the directory cache so both requests reach the database together.
        await runtime.icx.directories["slack"].by_id(REQUESTER)
        outcomes = await asyncio.gather(
            record(runtime, "FIN-1", department="finance"),
            record(runtime, "IT-1", department="it"),
        )
    assert sorted(o.status for o in outcomes) == ["scheduled", "skipped"]
    async with db.session() as s:
        asking = (await s.exec(select(Prompt).where(Prompt.status == "pending"))).all()
    assert len(asking) == 1


# --- opting out -----------------------------------------------------------------------------


async def test_dont_ask_me_for_30_days_is_honoured_then_ends(running: Icx) -> None:
    status, answer = await running.intake(
        {
            "department": "finance",
            "requester": {"slack_user_id": REQUESTER},
            "source": "jira",
            "reference": "FIN-1",
        }
    )
    assert status == 201 and answer["prompt"]["status"] == "scheduled"
    prompt_id = answer["prompt"]["id"]
    post = (await running.slack.wait_for(lambda: running.slack.calls_to(POST)))[0]
    assert post.payload["channel"] == REQUESTER
    prompt = await running.sent_prompt(prompt_id)
    assert prompt.channel_id and prompt.message_ts

    snooze = sr.button_tap(
        prompt_id,
        "icx_snooze",
        user=REQUESTER,
        channel=prompt.channel_id,
        ts=prompt.message_ts,
        response_url=running.slack.response_url(),
    )
    status, _ = await running.interact(snooze)
    assert status == 200
    async with running.db.session() as s:
        opt_outs = (await s.exec(select(OptOut))).all()
    assert [o.respondent_key for o in opt_outs] == [key_of(REQUESTER)]

    async def intake(reference: str, department: str) -> dict[str, Any]:
        status, answer = await running.intake(
            {
                "department": department,
                "requester": {"email": "mia@acme.example"},
                "source": "jira",
                "reference": reference,
            }
        )
        assert status == 201, answer
        return dict(answer["prompt"])

    skipped = await intake("IT-1", "it")
    assert skipped == {"id": await _prompt_id_of(running, "IT-1"), **OPTED_OUT}
    running.clock.advance(days=29, hours=23)
    assert (await intake("LEGAL-1", "legal")).items() >= OPTED_OUT.items()
    # Someone else is unaffected.
    status, other = await running.intake(
        {
            "department": "it",
            "requester": {"slack_user_id": "U0OTHER001"},
            "source": "jira",
            "reference": "IT-OTHER",
        }
    )
    assert other["prompt"]["status"] == "scheduled"
    running.clock.advance(hours=2)
    assert (await intake("IT-2", "it"))["status"] == "scheduled"
    # Nothing was posted while opted out: the first prompt, the other person's, the new one.
    # (The new one is the requester's second message within real seconds: the outbox spaces a
    # person's messages and retries at a time of the test clock, so the clock is moved on.)
    deadline = time.monotonic() + 10
    while len(running.slack.calls_to(POST)) < 3 and time.monotonic() < deadline:
        running.clock.advance(seconds=2)
        running.server.runtime.outbox.wake()
        await asyncio.sleep(0.1)
    channels = sorted(c.payload["channel"] for c in running.slack.calls_to(POST))
    assert channels == sorted([REQUESTER, "U0OTHER001", REQUESTER])


async def test_snooze_through_answers_and_opted_out_comes_before_cooldown(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        first = await record(runtime, "FIN-1")
        await runtime.outbox.drain_once()
        prompt = await prompt_row(db, first.prompt_id)
        tap = Tap("slack", REQUESTER, prompt.id, prompt.channel_id, prompt.message_ts)
        # A stranger cannot opt someone else out.
        stranger = Tap("slack", "U0OTHER001", prompt.id, prompt.channel_id, prompt.message_ts)
        assert (await Answers(runtime.icx).snooze(stranger)).result is TapResult.NOT_YOURS
        assert_scheduled(await record(runtime, "IT-1", department="it"))
        snoozed_at = clock.now
        # (What the tap answers is checked in test_a_snooze_tap_is_confirmed_to_the_person.)
        await Answers(runtime.icx).snooze(tap)
        async with db.session() as s:
            opt_out = await s.get(OptOut, key_of(REQUESTER))
        assert opt_out is not None
        assert opt_out.until - snoozed_at - timedelta(days=30) < timedelta(seconds=1)
        await assert_skipped(db, await record(runtime, "FIN-2"), "opted_out")
        await assert_skipped(db, await record(runtime, "LEGAL-1", department="legal"), "opted_out")
        clock.advance(days=company.policy.snooze_days, minutes=1)
        assert_scheduled(await record(runtime, "FIN-3"))


async def test_a_snooze_tap_is_confirmed_to_the_person(running: Icx) -> None:
    status, answer = await running.intake(
        {
            "department": "finance",
            "requester": {"slack_user_id": REQUESTER},
            "source": "jira",
            "reference": "FIN-1",
        }
    )
    assert status == 201
    prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert prompt.channel_id and prompt.message_ts
    tap = Tap("slack", REQUESTER, prompt.id, prompt.channel_id, prompt.message_ts)
    outcome = await Answers(running.server.runtime.icx).snooze(tap)
    assert outcome.result is TapResult.RECORDED
    assert outcome.state is not None and outcome.state.snoozed_until is not None

    # Through Slack: the message is redrawn with the confirmation, nothing is refused.
    status, _ = await running.interact(
        sr.button_tap(
            prompt.id,
            "icx_snooze",
            user=REQUESTER,
            channel=prompt.channel_id,
            ts=prompt.message_ts,
            response_url=running.slack.response_url(),
        )
    )
    assert status == 200
    update = (
        await running.slack.wait_for(lambda: running.slack.calls_to("chat.update"), within=2)
    )[-1]
    assert update.payload["ts"] == prompt.message_ts
    assert "no feedback requests until" in json.dumps(update.payload["blocks"])
    assert running.slack.calls_to("response_url") == []


# --- who is never asked ---------------------------------------------------------------------


async def test_providers_bots_and_strangers_are_never_prompted(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    slack.add_user("U0GONE0001", "Gone Person", email="gone@acme.example", deleted=True)
    # A person whose email Slack resolves to their old, deactivated account: the provider
    # cannot be looked up, only the email shows that requester and provider are one person.
    slack.add_user("U0TWINOLD1", "Tess Old", email="tess@acme.example", deleted=True)
    slack.add_user("U0TWIN0001", "Tess Twin", email="tess@acme.example")
    async with runtime_on(db, slack, company, clock) as runtime:
        cases: list[tuple[str, dict[str, Any], str]] = [
            # The same Slack id on both sides.
            (
                "SELF-1",
                {"provider": {"slack_user_id": REQUESTER}},
                "requester_is_provider",
            ),
            # The provider given by the requester's email (resolved to the same person).
            (
                "SELF-2",
                {"provider": {"email": "MIA@acme.example"}},
                "requester_is_provider",
            ),
            # The requester given by email, the provider by Slack id.
            (
                "SELF-3",
                {
                    "requester": {"email": "ana@acme.example"},
                    "provider": {"slack_user_id": PROVIDER},
                },
                "requester_is_provider",
            ),
            (
                "SELF-4",
                {
                    "requester": {"slack_user_id": "U0TWIN0001"},
                    "provider": {"email": "Tess@acme.example"},
                },
                "requester_is_provider",
            ),
            ("BOT-1", {"requester": {"slack_user_id": "U0BOT00001"}}, "bot"),
            ("NOBODY-1", {"requester": {"email": "nobody@acme.example"}}, "unknown_user"),
            ("NOBODY-2", {"requester": {"slack_user_id": "U0NOSUCH01"}}, "unknown_user"),
            ("GONE-1", {"requester": {"slack_user_id": "U0GONE0001"}}, "unknown_user"),
        ]
        for reference, details, reason in cases:
            await assert_skipped(db, await record(runtime, reference, **details), reason)
        assert await runtime.outbox.drain_once() == 0
        # None of them used up the requester's cooldown or budget.
        assert_scheduled(await record(runtime, "FIN-OK", provider={"email": "ana@acme.example"}))
        assert await runtime.outbox.drain_once() == 1

    assert [c.payload["channel"] for c in slack.calls_to(POST)] == [REQUESTER]
    async with db.session() as s:
        skipped = (await s.exec(select(Prompt).where(Prompt.status == "skipped"))).all()
        unknown = (
            await s.exec(select(Interaction).where(Interaction.reference == "NOBODY-1"))
        ).one()
    assert len(skipped) == len(cases)
    assert unknown.requester_key is None


# --- segments and keyed identities ----------------------------------------------------------


async def test_segments_follow_the_directory_onto_prompt_and_response(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    slack.add_user("U0VP000001", "Vera Vice", email="VP@Acme.example")
    people = {
        "U0CFO00001": "funder",  # listed by Slack id
        "U0VP000001": "influencer",  # listed by email (different case)
        REQUESTER: "end-user",
    }
    async with runtime_on(db, slack, company, clock) as runtime:
        prompt_ids: dict[str, str] = {}
        for user_id, segment in people.items():
            outcome = await record(runtime, f"SEG-{user_id}", requester={"slack_user_id": user_id})
            assert_scheduled(outcome)
            assert outcome.prompt_id is not None
            prompt_ids[user_id] = outcome.prompt_id
            assert (await prompt_row(db, outcome.prompt_id)).segment == segment
        # The funder again, now named by email in another department.
        by_email = await record(
            runtime, "SEG-CFO-2", requester={"email": "cfo@acme.example"}, department="it"
        )
        assert (await prompt_row(db, by_email.prompt_id)).segment == "funder"

        assert await runtime.outbox.drain_once() == 4
        answers = Answers(runtime.icx)
        for user_id, prompt_id in prompt_ids.items():
            prompt = await prompt_row(db, prompt_id)
            tap = Tap("slack", user_id, prompt_id, prompt.channel_id, prompt.message_ts)
            assert (await answers.satisfaction(tap, 4)).recorded

    async with db.session() as s:
        responses = {r.prompt_id: r for r in (await s.exec(select(Response))).all()}
    assert {responses[prompt_ids[u]].segment for u in people} == set(people.values())
    for user_id, segment in people.items():
        assert responses[prompt_ids[user_id]].segment == segment


async def test_people_are_stored_as_keyed_hashes(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        outcomes = [
            await record(runtime, "K-1", requester={"slack_user_id": REQUESTER}),
            await record(runtime, "K-2", requester={"email": "Mia@acme.example"}, department="it"),
            await record(runtime, "K-3", requester={"slack_user_id": "U0OTHER001"}),
        ]
        for outcome in outcomes:
            assert_scheduled(outcome)
        assert await runtime.outbox.drain_once() == 3
        answers = Answers(runtime.icx)
        for outcome, user_id in zip(outcomes, (REQUESTER, REQUESTER, "U0OTHER001"), strict=True):
            prompt = await prompt_row(db, outcome.prompt_id)
            tap = Tap("slack", user_id, prompt.id, prompt.channel_id, prompt.message_ts)
            assert (await answers.satisfaction(tap, 3)).recorded

    async with db.session() as s:
        interactions = (await s.exec(select(Interaction).order_by(Interaction.reference))).all()  # type: ignore[arg-type]
        prompts = {p.interaction_id: p for p in (await s.exec(select(Prompt))).all()}
        responses = {r.prompt_id: r for r in (await s.exec(select(Response))).all()}
    expected = [key_of(REQUESTER), key_of(REQUESTER), key_of("U0OTHER001")]
    keys: list[str] = []
    for interaction, key in zip(interactions, expected, strict=True):
        prompt = prompts[interaction.id]  # type: ignore[index]
        response = responses[prompt.id]
        stored = {interaction.requester_key, prompt.recipient_key, response.respondent_key}
        assert stored == {key}, stored
        keys.append(key)
        for value in stored:
            assert value is not None and len(value) == 64
            assert REQUESTER not in value and "U0OTHER001" not in value
            assert value != hashlib.sha256(b"slack:" + REQUESTER.encode()).hexdigest()
    assert keys[0] == keys[1] != keys[2]
    # A different server secret gives unrelated keys: the hash is keyed.
    assert key_of(REQUESTER, secret="another-secret-0123456789") != keys[0]


# --- helpers --------------------------------------------------------------------------------


async def _prompt_id_of(running: Icx, reference: str) -> str:
    async with running.db.session() as s:
        interaction = (
            await s.exec(select(Interaction).where(Interaction.reference == reference))
        ).one()
        prompt = (await s.exec(select(Prompt).where(Prompt.interaction_id == interaction.id))).one()
    return prompt.id
