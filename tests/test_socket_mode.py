"""Socket Mode: the same listeners reached over a WebSocket instead of /slack/events."""

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr
from sqlmodel import select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import RunningServer, start_server
from bots.slack.app import SlackSetupError
from bots.standin.slack_web_api import SlackStandIn
from core.config import Config
from core.departments import Company
from storage.db import Database
from storage.models import Prompt, Response
from tests import slack_requests as sr
from tests.conftest import API_TOKEN, LEADER, REQUESTER, FakeClock, intake_body, settings_for


def _config(db: Database, slack: SlackStandIn, company: Company) -> Config:
    settings = settings_for(db.url, slack, slack_app_token=SecretStr("xapp-1-A0ICX-123-abc"))
    return Config(settings, company)


@pytest.fixture
async def socket_server(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> AsyncIterator[RunningServer]:
    runtime = Runtime(_config(db, slack, company), RuntimeOptions(clock=clock))
    server = await start_server(runtime, "127.0.0.1", 0)
    await slack.wait_for(lambda: slack.socket_connected)
    yield server
    await server.stop()


async def test_commands_and_taps_arrive_over_the_socket(
    socket_server: RunningServer, slack: SlackStandIn, db: Database
) -> None:
    body = sr.slash_command("finance", user=LEADER, response_url="").decode()
    command = dict(urllib.parse.parse_qsl(body))
    envelope = await slack.send_envelope("slash_commands", command)
    ack = await slack.wait_for(lambda: slack.ack_for(envelope))
    assert ack["payload"]["response_type"] == "ephemeral"
    assert ack["payload"]["blocks"][0]["text"]["text"] == "Finance — the last 30 days"

    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{socket_server.url}/api/v1/interactions",
            json=intake_body(),
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as reply:
            assert reply.status == 201
            prompt_id = (await reply.json())["prompt"]["id"]
        # Slack reaches icx over the socket only: there is no HTTP endpoint to sign requests for.
        async with http.post(f"{socket_server.url}/slack/events", data=b"{}") as reply:
            assert reply.status in (404, 405)
    post = (await slack.wait_for(lambda: slack.calls_to("chat.postMessage")))[0]
    assert post.payload["channel"] == REQUESTER

    prompt = await _delivered(db, prompt_id)
    tap = sr.button_tap(
        prompt_id,
        "icx_csat_5",
        user=REQUESTER,
        channel=prompt.channel_id or "",
        ts=prompt.message_ts or "",
        response_url=slack.response_url(),
    )
    envelope = await slack.send_envelope("interactive", tap)
    await slack.wait_for(lambda: slack.ack_for(envelope))
    async with db.session() as s:
        (response,) = (await s.exec(select(Response))).all()
    assert response.prompt_id == prompt_id and response.satisfaction == 5
    update = (await slack.wait_for(lambda: slack.calls_to("chat.update")))[-1]
    assert "icx_ces_7" in str(update.payload["blocks"])


async def test_a_rejected_app_token_stops_start_up_with_a_reason(
    db: Database, slack: SlackStandIn, company: Company
) -> None:
    slack.reject_app_token = True
    runtime = Runtime(_config(db, slack, company))
    with pytest.raises(SlackSetupError) as error:
        await start_server(runtime, "127.0.0.1", 0)
    assert "Slack rejected SLACK_APP_TOKEN (invalid_auth)" in str(error.value)
    assert "connections:write" in str(error.value)
    assert not slack.socket_connected


async def _delivered(db: Database, prompt_id: str) -> Prompt:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        async with db.session() as s:
            prompt = await s.get(Prompt, prompt_id)
        if prompt is not None and prompt.status == "sent":
            return prompt
        await asyncio.sleep(0.01)
    raise AssertionError("prompt not delivered within 5 s")
