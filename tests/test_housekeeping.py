"""Housekeeping (GUIDE §6): unanswered prompts expire, recipients are erased once no longer
needed, and a person can still change an answer after the erasure."""

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from bots.runtime import Runtime
from bots.standin.slack_web_api import SlackStandIn
from core.answers import Answers, Tap, TapResult
from core.config import parse_company
from core.departments import Company
from core.housekeeping import HousekeepingReport, tidy
from core.intake import InteractionIn, record_interaction
from core.scores import department_scores
from storage import aggregates
from storage.db import Database
from storage.models import Interaction, Prompt, Response
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


# --- retention (GUIDE §6): raw answers go, the numbers stay ------------------------------------

RETENTION_DAYS = 731  # the smallest allowed: every period icx shows stays complete


def _retaining_company(**policy: object) -> Company:
    return parse_company(
        {**COMPANY, "policy": {**COMPANY["policy"], "retention_days": RETENTION_DAYS, **policy}}
    )


async def _history(
    db: Database,
    created: datetime,
    *,
    answered: datetime | None = None,
    comment: str | None = None,
    status: str | None = None,
) -> tuple[int, str]:
    """One interaction and its prompt created at `created`, answered at `answered` if given,
    written directly and counted into the daily sums as the tap path would have. Returns the
    interaction id and the prompt id."""
    async with db.transaction() as s:
        interaction = Interaction(
            department="finance",
            source="jira",
            reference=uuid.uuid4().hex,
            requester_key=uuid.uuid4().hex,
            provider_ref="slack:U0PROV0001",
            occurred_at=created,
            created_at=created,
        )
        s.add(interaction)
        await s.flush()
        assert interaction.id is not None
        prompt = Prompt(
            id=uuid.uuid4().hex,
            interaction_id=interaction.id,
            department="finance",
            platform="slack",
            recipient_key=interaction.requester_key,
            status=status or ("answered" if answered else "expired"),
            created_at=created,
            sent_at=None if status == "skipped" else created,
            answered_at=answered,
            expires_at=created + timedelta(days=7),
            erased_at=created + timedelta(days=7),
        )
        s.add(prompt)
        if answered is not None:
            s.add(
                Response(
                    prompt_id=prompt.id,
                    department="finance",
                    respondent_key=prompt.recipient_key or "",
                    satisfaction=5 if comment is None else 2,
                    effort=6,
                    comment=comment,
                    answered_at=answered,
                    updated_at=answered,
                )
            )
        await aggregates.count_contributions(s, [prompt.id])
    return interaction.id, prompt.id


async def _ids(db: Database) -> dict[str, set[Any]]:
    async with db.session() as s:
        return {
            "interaction": set((await s.exec(select(Interaction.id))).all()),
            "prompt": set((await s.exec(select(Prompt.id))).all()),
            "response": set((await s.exec(select(Response.prompt_id))).all()),
        }


async def test_raw_answers_past_retention_go_with_their_prompts_and_interactions(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    company = _retaining_company()
    now = clock.now
    cutoff = now - timedelta(days=RETENTION_DAYS)
    old_answer = await _history(
        db, cutoff - timedelta(days=30), answered=cutoff - timedelta(days=29), comment="Old."
    )
    just_too_old = await _history(
        db, cutoff - timedelta(days=1), answered=cutoff - timedelta(seconds=5)
    )
    old_unanswered = await _history(db, cutoff - timedelta(days=20))
    old_skipped = await _history(db, cutoff - timedelta(days=10), status="skipped")
    # Created before the cutoff, answered after it: the answer, and so its prompt and
    # interaction, are still within the limit.
    straddling = await _history(db, cutoff - timedelta(days=2), answered=cutoff + timedelta(days=1))
    recent = await _history(db, now - timedelta(days=3), answered=now - timedelta(days=2))
    recent_unanswered = await _history(db, now - timedelta(days=40))

    async with runtime_on(db, slack, company, clock) as runtime:
        report = await tidy(runtime.icx)

    assert report.deleted == 2
    kept = [straddling, recent, recent_unanswered]
    gone = [old_answer, just_too_old, old_unanswered, old_skipped]
    assert await _ids(db) == {
        "interaction": {i for i, _ in kept},
        "prompt": {p for _, p in kept},
        "response": {straddling[1], recent[1]},
    }
    assert not {p for _, p in gone} & (await _ids(db))["prompt"]
    async with db.session() as s:
        assert "Old." not in repr((await s.exec(select(Response))).all())
    # Nothing left to delete: the next run removes nothing more.
    async with runtime_on(db, slack, company, clock) as runtime:
        assert (await tidy(runtime.icx)).deleted == 0


async def test_scores_keep_their_numbers_when_raw_answers_are_deleted(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    """Every period icx shows lies within the retention limit, so deleting what is older
    changes no score; the daily sums behind them are kept as they were, old days included."""
    company = _retaining_company()
    now = clock.now
    cutoff = now - timedelta(days=RETENTION_DAYS)
    for days in (1, 5, 10, 20, 100, 400, 700):
        await _history(db, now - timedelta(days=days), answered=now - timedelta(days=days))
    for days in (1, 3, 20, 60):
        await _history(db, cutoff - timedelta(days=days), answered=cutoff - timedelta(days=days))
    finance = company.department("finance")
    assert finance is not None

    async def scores() -> list[tuple[str, Any]]:
        async with db.session() as s:
            found = []
            for spec in ("7d", "30d", "90d", "quarter", "731d"):
                (score,) = await department_scores(s, company, [finance], spec, now)
                found.append((spec, score.current))
            return found

    async with db.session() as s:
        sums_before = await aggregates.stored(s)
    before = await scores()
    assert dict(before)["731d"].responses == 7

    async with runtime_on(db, slack, company, clock) as runtime:
        assert (await tidy(runtime.icx)).deleted == 4

    assert await scores() == before
    async with db.session() as s:
        assert await aggregates.stored(s) == sums_before


async def test_without_a_grace_period_the_recipient_goes_at_the_next_tidy(
    db: Database, slack: SlackStandIn, clock: FakeClock
) -> None:
    """erase_recipient_after_hours: 0 erases an answered prompt's recipient at once; an
    unanswered one keeps it until it expires, however long that is."""
    company = _retaining_company(erase_recipient_after_hours=0)
    async with runtime_on(db, slack, company, clock) as runtime:
        answered_id = await scheduled(runtime, "FIN-ANSWERED", REQUESTER)
        waiting_id = await scheduled(runtime, "FIN-WAITING", "U0OTHER001")
        assert await runtime.outbox.drain_once() == 2
        answered = await row(db, answered_id)
        assert (await Answers(runtime.icx).satisfaction(tap_for(answered, REQUESTER), 4)).recorded

        assert await tidy(runtime.icx) == HousekeepingReport(expired=0, erased=1)
        assert_erased(await row(db, answered_id))
        assert_kept(await row(db, waiting_id))

        clock.advance(days=company.policy.expiry_days, seconds=-5)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=0, erased=0)
        assert_kept(await row(db, waiting_id))
        clock.advance(seconds=10)
        assert await tidy(runtime.icx) == HousekeepingReport(expired=1, erased=1)
        assert_erased(await row(db, waiting_id))
