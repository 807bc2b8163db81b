"""Digests and alerts (core.posts.Post) published to a Slack channel and to a Teams channel,
through the real runtime's clients, against the Slack Web API and Bot Connector stand-ins."""

import base64
import io
import json
import random
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image as PillowImage

from bots.slack.publisher import SlackPublisher, post_blocks
from bots.teams.publisher import TeamsPublisher
from core.ports import DeliveryError
from core.posts import Contact, Image, Post, Section
from tests import teams_activities as ta
from tests.conftest import LEADER, TEAMS_PEOPLE, Icx, install_for

SLACK_CHANNEL = "C0FINANCE1"
COMMENT = "Refund took 3 weeks <again> & nobody *answered*: [x](https://evil)"


def chart_png(side: int = 40, seed: int = 7) -> bytes:
    """A PNG of a few KB (noise does not compress)."""
    noise = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    PillowImage.frombytes("RGB", (side, side), noise).save(buffer, format="PNG")
    return buffer.getvalue()


def full_post(contact: str, png: bytes | None = None) -> Post:
    return Post(
        title="Finance: week 47",
        sections=(
            Section("Satisfaction", ("82% satisfied (41 of 50)", "Effort: 3.9 of 5")),
            Section("Comments <low> & *urgent*", (COMMENT, "Fine otherwise")),
        ),
        footnote="Answers from Monday to Sunday, Europe/Berlin",
        image=Image(
            png if png is not None else chart_png(),
            "Satisfaction by week",
            "week.png",
            "The chart is too large to show here.",
        ),
        contact=Contact("Agreed to be contacted:", contact),
    )


def _client(running: Icx) -> Any:
    slack = running.server.runtime.slack
    assert slack is not None
    return slack.client


def _messenger(running: Icx) -> Any:
    teams = running.server.runtime.teams
    assert teams is not None
    return teams.messenger


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    found = []
    for block in blocks:
        if block["type"] == "section":
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found += [element["text"] for element in block["elements"]]
    return found


# --- Slack ----------------------------------------------------------------------------------


async def test_a_post_reaches_slack_with_its_chart_uploaded_first(running_teams: Icx) -> None:
    slack = running_teams.slack
    png = chart_png()
    slack.calls.clear()
    ref = await SlackPublisher(_client(running_teams)).publish(
        SLACK_CHANNEL, full_post(f"slack:{LEADER}", png)
    )

    methods = [c.method for c in slack.calls]
    assert methods == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
        "chat.postMessage",
    ]
    started, upload, completed, posted = slack.calls
    assert started.payload["filename"] == "week.png"
    assert int(started.payload["length"]) == len(png)
    assert started.payload["alt_txt"] == "Satisfaction by week"
    file_id = upload.payload["file_id"]
    assert upload.payload["bytes"] == len(png) and slack.uploads[file_id] == png
    assert completed.payload["channel_id"] == SLACK_CHANNEL
    assert completed.payload["files"] == [{"id": file_id, "title": "Satisfaction by week"}]

    message = posted.payload
    assert message["channel"] == SLACK_CHANNEL and message["text"] == "Finance: week 47"
    assert ref.channel_id == SLACK_CHANNEL and ref.message_ts
    blocks = message["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Finance: week 47"},
    }
    (image,) = [b for b in blocks if b["type"] == "image"]
    assert image == {
        "type": "image",
        "slack_file": {"id": file_id},
        "alt_text": "Satisfaction by week",
    }
    texts = _texts(blocks)
    # People's words are escaped and shown verbatim: no markup, no links made from them.
    assert (
        "*Comments &lt;low&gt; &amp; *urgent**\n"
        + ("Refund took 3 weeks &lt;again&gt; &amp; nobody *answered*: [x](https://evil)")
        in texts[1]
    )
    assert not any("<again>" in t or "<https://evil" in t for t in texts)
    assert all(b["text"]["verbatim"] for b in blocks if b["type"] == "section")
    assert f"Agreed to be contacted: <@{LEADER}>" in texts
    assert blocks[-1]["type"] == "context"
    assert texts[-1] == "Answers from Monday to Sunday, Europe/Berlin"


async def test_a_rate_limited_upload_is_retried_later(running_teams: Icx) -> None:
    slack = running_teams.slack
    publisher = SlackPublisher(_client(running_teams))
    post = full_post("mia@acme.example")

    slack.rate_limit_next(1, retry_after=7, method="upload")
    with pytest.raises(DeliveryError) as raised:
        await publisher.publish(SLACK_CHANNEL, post)
    assert raised.value.retry_after == 7 and not raised.value.permanent
    assert not slack.calls_to("chat.postMessage") and not slack.files

    slack.rate_limit_next(1, retry_after=3, method="files.getUploadURLExternal")
    with pytest.raises(DeliveryError) as raised:
        await publisher.publish(SLACK_CHANNEL, post)
    assert raised.value.retry_after == 3

    await publisher.publish(SLACK_CHANNEL, post)
    (posted,) = slack.calls_to("chat.postMessage")
    assert "Agreed to be contacted: mia@acme.example" in _texts(posted.payload["blocks"])


async def test_a_retry_after_a_failed_message_does_not_share_the_chart_again(
    running_teams: Icx,
) -> None:
    slack = running_teams.slack
    publisher = SlackPublisher(_client(running_teams))
    post = full_post(f"slack:{LEADER}")

    slack.rate_limit_next(1, retry_after=2, method="chat.postMessage")
    with pytest.raises(DeliveryError) as raised:
        await publisher.publish(SLACK_CHANNEL, post)
    assert raised.value.retry_after == 2
    await publisher.publish(SLACK_CHANNEL, post)

    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    first, second = slack.calls_to("chat.postMessage")
    assert first.payload["blocks"] == second.payload["blocks"]


async def test_a_chart_slack_still_processes_is_waited_for_then_left_out(
    running_teams: Icx,
) -> None:
    slack = running_teams.slack
    publisher = SlackPublisher(_client(running_teams), processing_waits=(0.01, 0.01))

    slack.delay_file_processing(1)
    await publisher.publish(SLACK_CHANNEL, full_post(f"slack:{LEADER}"))
    refused, accepted = slack.calls_to("chat.postMessage")
    assert refused.payload["blocks"] == accepted.payload["blocks"]

    slack.calls.clear()
    slack.delay_file_processing(10)
    await publisher.publish(SLACK_CHANNEL, full_post(f"slack:{LEADER}", chart_png(seed=8)))
    *refused_ones, last = slack.calls_to("chat.postMessage")
    assert len(refused_ones) == 3
    assert not any(b["type"] == "image" for b in last.payload["blocks"])


def test_long_posts_fit_block_kit_limits() -> None:
    long_line = "&" * 2999 + "<tail>"  # escapes to far more than one section holds
    sections = tuple(Section(f"Heading {i}", ("x" * 200,) * 20) for i in range(60))
    blocks = post_blocks(
        Post("T" * 200, (Section(None, (long_line,)), *sections), footnote="f"), "F0ICX000001"
    )
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) == 150
    for text in _texts(blocks):
        assert len(text) <= 3000
        assert not text.endswith(("&am", "&a", "&", "&lt")), "cut inside an entity"
    assert _texts(blocks)[0].startswith("&amp;&amp;")


def test_a_teams_contact_in_slack_gets_the_fallback_line() -> None:
    post = full_post(f"teams:{TEAMS_PEOPLE[1][1]}")
    blocks = post_blocks(post)
    assert not any("Agreed to be contacted" in t for t in _texts(blocks))  # no mention
    assert not any(b["type"] == "image" for b in blocks)  # no file id: no image block
    contact = Contact("Agreed:", f"teams:{TEAMS_PEOPLE[1][1]}", "Agreed: <mia@acme.example>")
    texts = _texts(post_blocks(replace(post, contact=contact)))
    assert "Agreed: &lt;mia@acme.example&gt;" in texts  # the core's line, escaped


async def test_a_slack_contact_in_teams_gets_the_fallback_line(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    await running.teams_post(ta.team_added(connector.service_url))
    contact = Contact("Agreed:", f"slack:{LEADER}", "Agreed: mia@acme.example")
    post = replace(full_post(f"slack:{LEADER}"), contact=contact, image=None)
    await TeamsPublisher(_messenger(running)).publish(ta.TEAM_ID, post)
    (sent,) = connector.sent(ta.TEAM_ID)
    runs = [
        run["text"]
        for element in sent["attachments"][0]["content"]["body"]
        for run in element.get("inlines", [])
    ]
    assert "Agreed: mia@acme.example" in runs


# --- Teams ----------------------------------------------------------------------------------


async def test_a_post_reaches_a_teams_channel_as_a_card(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    status, _ = await running.teams_post(ta.team_added(connector.service_url))
    assert status == 200
    user_id, aad, name, _ = TEAMS_PEOPLE[1]
    conversation = await install_for(running, TEAMS_PEOPLE[1])
    publisher = TeamsPublisher(_messenger(running))
    png = chart_png()

    # Teams' installationUpdate carries no name; the member look-up at install supplies it.
    await publisher.publish(ta.CHANNEL_ID, full_post(f"teams:{aad}", png))
    (named,) = connector.sent(ta.CHANNEL_ID)
    card = named["attachments"][0]["content"]
    assert card["msteams"]["entities"][0]["mentioned"] == {"id": aad, "name": name}

    hello = ta.message(
        connector.service_url,
        "hello",
        aad_object_id=aad,
        user_id=user_id,
        conversation_id=conversation,
        name=name,
    )
    assert (await running.teams_post(hello))[0] == 200
    ref = await publisher.publish(ta.CHANNEL_ID, full_post(f"teams:{aad}", png))

    _, activity = connector.sent(ta.CHANNEL_ID)
    assert ref.channel_id == ta.CHANNEL_ID and ref.message_ts
    assert activity["summary"] == "Finance: week 47"
    (attachment,) = activity["attachments"]
    card = attachment["content"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["version"] == "1.5"
    body = card["body"]
    assert body[0] == {
        "type": "RichTextBlock",
        "inlines": [
            {"type": "TextRun", "text": "Finance: week 47", "size": "Medium", "weight": "Bolder"}
        ],
    }
    runs = [e["inlines"][0] for e in body if e["type"] == "RichTextBlock"]
    assert {"type": "TextRun", "text": "Comments <low> & *urgent*", "weight": "Bolder"} in runs
    # The comment is a TextRun exactly as typed: Teams renders no markdown (no link) in it.
    assert {"type": "TextRun", "text": COMMENT} in runs
    assert not any(e["type"] == "TextBlock" and "evil" in e["text"] for e in body)
    assert runs[-1] == {
        "type": "TextRun",
        "text": "Answers from Monday to Sunday, Europe/Berlin",
        "isSubtle": True,
        "size": "Small",
    }

    (image,) = [e for e in body if e["type"] == "Image"]
    assert image["altText"] == "Satisfaction by week"
    prefix = "data:image/png;base64,"
    assert image["url"].startswith(prefix)
    assert base64.b64decode(image["url"].removeprefix(prefix)) == png

    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": aad, "name": name}}
    ]
    (mention,) = [e for e in body if e["type"] == "TextBlock"]
    assert mention["text"] == f"Agreed to be contacted: <at>{name}</at>"
    assert len(json.dumps(card)) < 28_000


async def test_a_chart_too_large_for_teams_is_left_out(
    running_teams: Icx, caplog: pytest.LogCaptureFixture
) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    await running.teams_post(ta.team_added(connector.service_url))

    await TeamsPublisher(_messenger(running)).publish(
        ta.TEAM_ID, full_post("someone@acme.example", chart_png(side=120))
    )

    (activity,) = connector.sent(ta.TEAM_ID)
    card = activity["attachments"][0]["content"]
    assert not any(e["type"] == "Image" for e in card["body"])
    texts = [e["inlines"][0]["text"] for e in card["body"] if e["type"] == "RichTextBlock"]
    assert "The chart is too large to show here." in texts
    assert "Agreed to be contacted: someone@acme.example" in texts  # an email, as it is
    assert "msteams" not in card
    assert "left out of a Teams card" in caplog.text


async def test_an_unreachable_teams_channel_is_retried_hourly_or_fails(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    publisher = TeamsPublisher(_messenger(running))
    post = full_post(f"slack:{LEADER}")

    # icx was not added to a team yet: tried again in an hour, by when someone may have.
    with pytest.raises(DeliveryError) as raised:
        await publisher.publish(ta.CHANNEL_ID, post)
    assert not raised.value.permanent and raised.value.retry_after == 3600
    assert not raised.value.platform_wide and not connector.sent()

    # A team is known, but Teams refuses this other channel: icx is probably not in its team
    # yet; tried again in an hour.
    await running.teams_post(ta.team_added(connector.service_url))
    connector.unreachable_conversation(ta.CHANNEL_ID)
    with pytest.raises(DeliveryError) as raised:
        await publisher.publish(ta.CHANNEL_ID, post)
    assert not raised.value.permanent and raised.value.retry_after == 3600
    assert "403" in str(raised.value)

    # A channel icx has seen itself that refuses it now: the bot was removed, for good.
    connector.unreachable_conversation(ta.TEAM_ID)
    with pytest.raises(DeliveryError) as raised:
        await publisher.publish(ta.TEAM_ID, post)
    assert raised.value.permanent and "403" in str(raised.value)
