"""Housekeeping (GUIDE §6): unanswered prompts expire, recipients are erased once no longer
needed, and a person can still change an answer after the erasure."""

import asyncio
import json
from typing import Any

from sqlmodel import select

from bots.runtime import Runtime
from bots.standin.slack_web_api import SlackStandIn
from core.answers import Answers, Tap, TapResult
from core.config import parse_company
from core.departments import Company
from core.housekeeping import HousekeepingReport, tidy
from core.intake import InteractionIn, record_interaction
from storage.db import Database
from storage.models import Prompt, Response
from tests import slack_requests as sr
from tests.conftest import COMPANY, REQUESTER, FakeClock, Icx, runtime_on

POST = "chat.postMessage"


async def scheduled(runtime: Runtime, reference: str, requester: str) -> str:
    outcome = await record_interaction(
        runtime.icx,
        InteractionIn.model_validate(
            {
                "department": "finance",
                "requester": {"slack_user_id": requester},
                "source": "jira",
                "reference": reference,
            }
        ),
    )
    assert outcome.status == "scheduled" and outcome.prompt_id is not None, outcome
    return outcome.prompt_id


async def row(db: Database, prompt_id: str) -> Prompt:
    async with db.session() as s:
        prompt = await s.get(Prompt, prompt_id)
    assert prompt is not None
    return prompt


async def response_of(db: Database, prompt_id: str) -> Response | None:
    async with db.session() as s:
        return (await s.exec(select(Response).where(Response.prompt_id == prompt_id))).first()


def assert_erased(prompt: Prompt) -> None:
    assert (prompt.recipient_address, prompt.channel_id, prompt.message_ts) == (None, None, None)
    assert prompt.erased_at is not None


def assert_kept(prompt: Prompt) -> None:
    assert prompt.recipient_address is not None
    assert prompt.channel_id is not None and prompt.message_ts is not None
    assert prompt.erased_at is None


def tap_for(prompt: Prompt, user: str) -> Tap:
    return Tap("slack", user, prompt.id, prompt.channel_id, prompt.message_ts)


async def test_tidy_expires_unanswered_prompts_and_erases_their_recipients(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        sent_id = await scheduled(runtime, "FIN-SENT", REQUESTER)
        answered_id = await scheduled(runtime, "FIN-ANSWERED", "U0OTHER001")
        assert await runtime.outbox.drain_once() == 2
        pending_id = await scheduled(runtime, "FIN-PENDING", "U0ZH000001")
        answered = await row(db, answered_id)
        answer = await Answers(runtime.icx).satisfaction(tap_for(answered, "U0OTHER001"), 2)
        assert answer.recorded

        # Within the grace period nothing changes.
        clock.advance(minutes=30)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=0, erased=0)
        assert_kept(await row(db, answered_id))

        # After it, the answered prompt's recipient goes; the prompt stays answered.
        clock.advance(minutes=31)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=0, erased=1)
        after_grace = await row(db, answered_id)
        assert after_grace.status == "answered"
        assert_erased(after_grace)
        assert_kept(await row(db, sent_id))
        assert (await row(db, pending_id)).recipient_address == "U0ZH000001"

        # A week on, the sent and the pending prompt expire and lose their recipients.
        clock.advance(days=company.policy.expiry_days)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=2, erased=2)
        for prompt_id in (sent_id, pending_id):
            expired = await row(db, prompt_id)
            assert expired.status == "expired" and expired.lease_until is None
            assert_erased(expired)
        assert (await row(db, answered_id)).status == "answered"
        assert await tidy(runtime.icx) == HousekeepingReport(expired=0, erased=0)

        # The expired pending prompt is never posted; a tap on the expired one stores nothing.
        assert await runtime.outbox.drain_once() == 0
        sent = await row(db, sent_id)
        late = await Answers(runtime.icx).satisfaction(
            Tap("slack", REQUESTER, sent_id, "D0REQ00001", "1700000001.000100"), 5
        )
        assert late.result is TapResult.EXPIRED and sent.status == "expired"
        assert await response_of(db, sent_id) is None

    assert sorted(c.payload["channel"] for c in slack.calls_to(POST)) == sorted(
        [REQUESTER, "U0OTHER001"]
    )


async def test_tidy_leaves_unexpired_skipped_and_failed_prompts_alone(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with runtime_on(db, slack, company, clock) as runtime:
        sent_id = await scheduled(runtime, "FIN-SENT", REQUESTER)
        failed_id = await scheduled(runtime, "FIN-FAILED", "U0OTHER001")
        slack.add_user("U0OTHER001", "Omar Other", email="omar@acme.example", deleted=True)
        assert await runtime.outbox.drain_once() == 2
        skipped = await record_interaction(
            runtime.icx,
            InteractionIn.model_validate(
                {
                    "department": "finance",
                    "requester": {"slack_user_id": REQUESTER},
                    "source": "jira",
                    "reference": "FIN-AGAIN",
                }
            ),
        )
        assert (skipped.status, skipped.reason and skipped.reason.value) == ("skipped", "cooldown")
        before = {p: await row(db, p) for p in (sent_id, failed_id)}
        assert before[failed_id].status == "failed"

        clock.advance(days=company.policy.expiry_days - 1)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=0, erased=0)
        assert (await row(db, sent_id)).model_dump() == before[sent_id].model_dump()
        assert (await row(db, failed_id)).model_dump() == before[failed_id].model_dump()
        assert skipped.prompt_id is not None
        assert (await row(db, skipped.prompt_id)).status == "skipped"

        # A day later only the sent prompt expires; failed and skipped ones stay as they are.
        clock.advance(days=1, minutes=1)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=1, erased=1)
        assert (await row(db, failed_id)).status == "failed"
        assert (await row(db, skipped.prompt_id)).status == "skipped"


async def test_answers_can_change_after_the_recipient_is_erased(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    company = parse_company(
        {**COMPANY, "policy": {**COMPANY["policy"], "erase_recipient_after_hours": 24}}
    )
    async with runtime_on(db, slack, company, clock) as runtime:
        prompt_id = await scheduled(runtime, "FIN-1", REQUESTER)
        assert await runtime.outbox.drain_once() == 1
        delivered = await row(db, prompt_id)
        tap = tap_for(delivered, REQUESTER)
        answers = Answers(runtime.icx)
        assert (await answers.satisfaction(tap, 2)).recorded

        clock.advance(hours=23)
        assert (await tidy(runtime.icx)).erased == 0
        assert_kept(await row(db, prompt_id))
        clock.advance(hours=1, minutes=1)
        assert (await tidy(runtime.icx)).erased == 1
        assert_erased(await row(db, prompt_id))

        # The tap carries its own channel and timestamp; the keyed hash says whose it is.
        changed = await answers.satisfaction(tap, 5)
        assert changed.recorded and changed.state is not None
        assert changed.state.satisfaction == 5
        assert (await answers.effort(tap, 3)).recorded
        assert (await answers.reasons(tap, ["speed"])).recorded
        stranger = tap_for(delivered, "U0OTHER001")
        assert (await answers.satisfaction(stranger, 1)).result is TapResult.NOT_YOURS

        response = await response_of(db, prompt_id)
        assert response is not None
        assert (response.satisfaction, response.effort, response.reasons) == (5, 3, ["speed"])
        assert response.respondent_key == delivered.recipient_key
        erased = await row(db, prompt_id)
        assert erased.status == "answered"
        assert_erased(erased)

        # Once the prompt has expired, changes are refused and nothing is stored.
        clock.advance(days=company.policy.expiry_days)
        assert (await answers.satisfaction(tap, 1)).result is TapResult.EXPIRED
        response = await response_of(db, prompt_id)
        assert response is not None and response.satisfaction == 5


async def test_a_tap_after_erasure_redraws_the_message_it_came_from(running: Icx) -> None:
    slack = running.slack
    status, answer = await running.intake(
        {
            "department": "finance",
            "requester": {"slack_user_id": REQUESTER},
            "source": "jira",
            "reference": "FIN-1",
        }
    )
    assert status == 201
    prompt_id = answer["prompt"]["id"]
    prompt = await _wait_for_status(running, prompt_id, "sent")
    assert prompt.channel_id and prompt.message_ts
    where: dict[str, Any] = {
        "user": REQUESTER,
        "channel": prompt.channel_id,
        "ts": prompt.message_ts,
        "response_url": slack.response_url(),
    }
    status, _ = await running.interact(sr.button_tap(prompt_id, "icx_csat_2", **where))
    assert status == 200
    await _wait_for_status(running, prompt_id, "answered")
    await slack.wait_for(lambda: slack.calls_to("chat.update"))

    running.clock.advance(hours=2)
    report = await tidy(running.server.runtime.icx)
    assert report.erased == 1
    assert_erased(await _wait_for_status(running, prompt_id, "answered"))

    status, _ = await running.interact(sr.button_tap(prompt_id, "icx_csat_4", **where))
    assert status == 200
    response = await _response(running, prompt_id)
    assert response.satisfaction == 4
    updates = await slack.wait_for(
        lambda: len(slack.calls_to("chat.update")) >= 2 and slack.calls_to("chat.update")
    )
    last = updates[-1]
    assert (last.payload["channel"], last.payload["ts"]) == (prompt.channel_id, prompt.message_ts)
    assert "Recorded: Satisfied" in json.dumps(last.payload["blocks"])
    assert slack.calls_to("response_url") == []


# --- helpers --------------------------------------------------------------------------------


async def _wait_for_status(running: Icx, prompt_id: str, status: str) -> Prompt:
    async def poll() -> Prompt:
        while True:
            async with running.db.session() as s:
                prompt = await s.get(Prompt, prompt_id)
            if prompt is not None and prompt.status == status:
                return prompt
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(poll(), timeout=5)


async def _response(running: Icx, prompt_id: str) -> Response:
    response = await response_of(running.db, prompt_id)
    assert response is not None
    return response
