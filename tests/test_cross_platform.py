"""One core behind both platforms: the same answers give the same numbers, whichever platform
they were entered in and whichever platform asks for them; and icx-score in Teams."""

import json
import re
from typing import Any

from bots.teams import cards
from tests import slack_requests as sr
from tests import teams_activities as ta
from tests.conftest import TEAMS_PEOPLE, Icx, install_for, intake_body

# (satisfaction, effort) of six colleagues: enough to pass the reporting minimum of five.
ANSWERS = [(5, 7), (4, 6), (2, 2), (5, 5), (3, 4), (1, 1)]
NUMBER = re.compile(r"\d+(?:[.,]\d+)?%?")


async def _answer_in_slack(running: Icx, department: str) -> None:
    slack = running.slack
    for i, (csat, ces) in enumerate(ANSWERS):
        user = f"U0XP{i:06d}"
        slack.add_user(user, f"Slack Person {i}", email=f"slack{i}@acme.example")
        body = intake_body(
            f"S-{department}-{i}",
            department=department,
            service=None,
            provider=None,
            requester={"slack_user_id": user},
        )
        status, answer = await running.intake(body)
        assert status == 201 and answer["prompt"]["status"] == "scheduled", answer
        prompt = await running.sent_prompt(answer["prompt"]["id"])
        where = {"user": user, "channel": prompt.channel_id, "ts": prompt.message_ts}
        for action in (f"icx_csat_{csat}", f"icx_ces_{ces}"):
            tap = sr.button_tap(prompt.id, action, **where, response_url=slack.response_url())
            assert (await running.interact(tap))[0] == 200


async def _answer_in_teams(running: Icx, department: str) -> None:
    assert running.connector is not None
    for i, (csat, ces) in enumerate(ANSWERS):
        person = TEAMS_PEOPLE[i]
        conversation = await install_for(running, person)
        body = intake_body(
            f"T-{department}-{i}",
            department=department,
            service=None,
            provider=None,
            requester={"teams_aad_object_id": person[1]},
        )
        status, answer = await running.intake(body)
        assert status == 201 and answer["prompt"]["status"] == "scheduled", answer
        prompt = await running.sent_prompt(answer["prompt"]["id"])
        assert prompt.message_ts is not None
        for verb, value in ((cards.CSAT, csat), (cards.CES, ces)):
            activity = ta.card_action(
                running.connector.service_url,
                verb,
                {"prompt": prompt.id, "value": value},
                aad_object_id=person[1],
                user_id=person[0],
                conversation_id=conversation,
                reply_to_id=prompt.message_ts,
            )
            status, reply = await running.teams_post(activity)
            assert status == 200 and reply["type"] == cards.CARD_TYPE, reply


async def _slack_score(running: Icx, text: str) -> list[str]:
    status, body = await running.slack_post(
        sr.slash_command(text, user="U0LEADER01", response_url=running.slack.response_url())
    )
    assert status == 200
    blocks = json.loads(body)["blocks"]
    lines = [blocks[0]["text"]["text"]]
    for block in blocks[1:]:
        texts = [block["text"]["text"]] if "text" in block else []
        texts += [e["text"] for e in block.get("elements", [])]
        for text in texts:
            lines += (
                text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split("\n")
            )
    return lines


async def _teams_score(running: Icx, text: str) -> list[str]:
    assert running.connector is not None
    person = TEAMS_PEOPLE[-1]
    conversation = await install_for(running, person)
    before = len(running.connector.sent(conversation))
    status, _ = await running.teams_post(
        ta.message(
            running.connector.service_url,
            text,
            aad_object_id=person[1],
            user_id=person[0],
            conversation_id=conversation,
        )
    )
    assert status == 200
    replies = await running.connector.wait_for(
        lambda: running.connector.sent(conversation)[before:]  # type: ignore[union-attr]
    )
    return card_lines(replies[-1])


def card_lines(activity: dict[str, Any]) -> list[str]:
    card = activity["attachments"][0]["content"]
    return [run["text"] for element in card["body"] for run in element.get("inlines", [])]


def numbers(lines: list[str]) -> list[str]:
    return [n for line in lines for n in NUMBER.findall(line)]


async def test_the_same_answers_give_the_same_numbers_on_both_platforms(
    running_teams: Icx,
) -> None:
    running = running_teams
    await _answer_in_slack(running, "finance")
    await _answer_in_teams(running, "it")

    entered_in_slack = await _slack_score(running, "finance")
    entered_in_teams = await _slack_score(running, "it")
    assert numbers(entered_in_slack) == numbers(entered_in_teams)
    assert "Satisfied: 50% (95% interval 19%–81%), n = 6." in entered_in_slack

    # And each platform shows exactly what the other shows for the same data.
    for department in ("finance", "it"):
        slack_lines = await _slack_score(running, department)
        teams_lines = await _teams_score(running, f"icx-score {department}")
        assert teams_lines == slack_lines
    overview_slack = await _slack_score(running, "")
    overview_teams = await _teams_score(running, "icx-score")
    assert numbers(overview_teams) == numbers(overview_slack)


async def test_icx_score_in_teams_personal_chat_and_channel(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None

    lines = await _teams_score(running, "icx-score fin 90d")
    assert "Finance" in lines[0] and "90" in lines[0]
    lines = await _teams_score(running, "icx-score help")
    assert lines[0] == "How to use icx-score" and "/icx-score" not in " ".join(lines)
    lines = await _teams_score(running, "hello there")
    assert lines[0] == "How to use icx-score"
    assert lines[1].startswith("I answer two commands: icx-ask @person [service], ")
    assert lines[1].endswith(", and icx-score:")
    lines = await _teams_score(running, "icx-score [click](https://evil.example)")
    assert "There is no department called" in lines[1]

    # @icx icx-score finance in a channel: the answer goes to that thread.
    mention = ta.channel_mention(connector.service_url, "icx-score finance")
    status, _ = await running.teams_post(mention)
    assert status == 200
    thread = mention["conversation"]["id"]
    reply = (await connector.wait_for(lambda: connector.sent(thread)))[-1]
    assert "Finance" in card_lines(reply)[0]
