"""The whole Slack path through the real server: intake → DM → taps → comment → /icx-score."""

import json

from sqlmodel import select

from storage.models import Interaction, Response
from tests import slack_requests as sr
from tests.conftest import LEADER, PROVIDER, REQUESTER, Icx, intake_body


async def test_feedback_from_intake_to_score(running: Icx) -> None:
    slack = running.slack
    status, answer = await running.intake(intake_body())
    assert status == 201
    assert answer["created"] is True and answer["prompt"]["status"] == "scheduled"
    prompt_id = answer["prompt"]["id"]

    # The outbox delivers the DM: who served them, for what, five one-tap buttons.
    post = (await slack.wait_for(lambda: slack.calls_to("chat.postMessage")))[0]
    assert post.payload["channel"] == REQUESTER
    rendered = json.dumps(post.payload["blocks"])
    assert f"<@{PROVIDER}> from Finance" in rendered and "Expense reimbursement" in rendered
    buttons = post.payload["blocks"][2]["elements"]
    assert [b["action_id"] for b in buttons] == [f"icx_csat_{i}" for i in range(1, 6)]
    prompt = await running.sent_prompt(prompt_id)
    assert prompt.status == "sent" and prompt.channel_id == "D0REQ00001"
    where = {"user": REQUESTER, "channel": prompt.channel_id, "ts": prompt.message_ts}

    # Satisfaction tap: committed before the 200, then the message turns into the CES question.
    tap = sr.button_tap(prompt_id, "icx_csat_4", **where, response_url=slack.response_url())
    status, _ = await running.interact(tap)
    assert status == 200
    response = await _response(running, prompt_id)
    assert response.satisfaction == 4 and response.effort is None
    update = (await slack.wait_for(lambda: slack.calls_to("chat.update")))[-1]
    assert update.payload["ts"] == prompt.message_ts
    assert [b["action_id"] for b in update.payload["blocks"][2]["elements"]] == [
        f"icx_ces_{i}" for i in range(1, 8)
    ]
    assert "Recorded: Satisfied" in json.dumps(update.payload["blocks"])

    # Effort tap, then the thank-you with reasons, comment and snooze.
    status, _ = await running.interact(
        sr.button_tap(prompt_id, "icx_ces_6", **where, response_url=slack.response_url())
    )
    assert status == 200
    assert (await _response(running, prompt_id)).effort == 6
    thanks = (
        await slack.wait_for(
            lambda: len(slack.calls_to("chat.update")) >= 2 and slack.calls_to("chat.update")
        )
    )[-1]
    action_ids = json.dumps(thanks.payload["blocks"])
    assert (
        "icx_reasons" in action_ids and "icx_comment" in action_ids and "icx_snooze" in action_ids
    )

    status, _ = await running.interact(
        sr.reasons_tap(
            prompt_id, ["speed", "expertise"], **where, response_url=slack.response_url()
        )
    )
    assert status == 200
    assert (await _response(running, prompt_id)).reasons == ["speed", "expertise"]

    # "Add a comment" opens a modal; submitting it stores comment and flags.
    comment_tap = sr.button_tap(
        prompt_id, "icx_comment", **where, response_url=slack.response_url()
    )
    comment_tap["actions"][0]["action_id"] = "icx_comment"
    status, _ = await running.interact(comment_tap)
    assert status == 200
    modal = (await slack.wait_for(lambda: slack.calls_to("views.open")))[0]
    assert modal.payload["view"]["callback_id"] == "icx_comment_modal"
    assert json.loads(modal.payload["view"]["private_metadata"])["prompt_id"] == prompt_id

    submission = sr.comment_submission(
        prompt_id,
        **where,
        comment="Fast, thank you.",
        flags=["external_customer", "contact_consent"],
    )
    status, body = await running.interact(submission)
    assert status == 200 and body in ("", "{}")
    response = await _response(running, prompt_id)
    assert response.comment == "Fast, thank you."
    assert response.external_customer is True and response.contact_consent is True
    assert response.contact_address == f"slack:{REQUESTER}"
    assert response.respondent_key != REQUESTER and len(response.respondent_key) == 64

    # /icx-score answers ephemerally; one response is below the minimum, so no numbers.
    status, body = await running.slack_post(
        sr.slash_command("finance", user=LEADER, response_url=slack.response_url())
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["response_type"] == "ephemeral"
    text = json.dumps(answer["blocks"])
    assert "Finance" in text and "4 more needed" in text
    assert "%" not in text.split("Satisfied = ")[0] and "Response rate" not in text


async def test_changing_an_answer_updates_the_one_response(running: Icx) -> None:
    prompt_id, where = await _delivered(running)
    for action in ("icx_csat_2", "icx_csat_2", "icx_csat_5"):
        status, _ = await running.interact(
            sr.button_tap(prompt_id, action, **where, response_url=running.slack.response_url())
        )
        assert status == 200
    async with running.db.session() as s:
        rows = (await s.exec(select(Response).where(Response.prompt_id == prompt_id))).all()
    assert len(rows) == 1 and rows[0].satisfaction == 5


async def test_the_thank_you_brings_back_earlier_questions_to_change_them(running: Icx) -> None:
    slack = running.slack
    prompt_id, where = await _delivered(running)

    async def tap(action: str) -> list[dict[str, object]]:
        updates = len(slack.calls_to("chat.update"))
        payload = sr.button_tap(prompt_id, action, **where, response_url=slack.response_url())
        payload["actions"][0]["action_id"] = action
        assert (await running.interact(payload))[0] == 200
        calls = await slack.wait_for(lambda: slack.calls_to("chat.update")[updates:])
        return calls[-1].payload["blocks"]  # type: ignore[no-any-return]

    await tap("icx_csat_4")
    thanks = await tap("icx_ces_6")
    buttons = [e["action_id"] for e in thanks[-1]["elements"]]
    assert buttons == ["icx_comment", "icx_change_csat", "icx_change_ces", "icx_snooze"]

    again = await tap("icx_change_csat")
    chosen = [b for b in again[2]["elements"] if b.get("style") == "primary"]
    assert [b["action_id"] for b in chosen] == ["icx_csat_4"]
    back = await tap("icx_csat_2")
    assert back[-1]["elements"][0]["action_id"] == "icx_comment"  # straight back to thank-you
    ease = await tap("icx_change_ces")
    assert [b["action_id"] for b in ease[2]["elements"] if b.get("style")] == ["icx_ces_6"]
    await tap("icx_ces_3")
    async with running.db.session() as s:
        (response,) = (await s.exec(select(Response))).all()
    assert (response.satisfaction, response.effort) == (2, 3)


async def test_reposting_the_same_reference_sends_nothing_twice(running: Icx) -> None:
    status, first = await running.intake(intake_body())
    assert status == 201
    await running.sent_prompt(first["prompt"]["id"])
    status, again = await running.intake(intake_body())
    assert status == 200 and again["created"] is False
    assert again["interaction_id"] == first["interaction_id"]
    assert again["prompt"] == {"id": first["prompt"]["id"], "status": "sent"}
    async with running.db.session() as s:
        assert len((await s.exec(select(Interaction))).all()) == 1
    assert len(running.slack.calls_to("chat.postMessage")) == 1


async def _delivered(running: Icx, reference: str = "FIN-1") -> tuple[str, dict[str, str]]:
    status, answer = await running.intake(intake_body(reference))
    assert status == 201, answer
    prompt_id = answer["prompt"]["id"]
    prompt = await running.sent_prompt(prompt_id)
    assert prompt.channel_id and prompt.message_ts
    return prompt_id, {"user": REQUESTER, "channel": prompt.channel_id, "ts": prompt.message_ts}


async def _response(running: Icx, prompt_id: str) -> Response:
    async with running.db.session() as s:
        response = (await s.exec(select(Response).where(Response.prompt_id == prompt_id))).first()
    assert response is not None
    return response
