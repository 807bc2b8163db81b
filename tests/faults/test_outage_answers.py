"""While PostgreSQL is down, every path answers at once with the same clear 503 (Slack taps and
commands, the intake API, Teams invokes), the liveness probe stays green, and the same
requests succeed once it is back, without restarting icx (the pool replaces its connections)."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from bots.runtime import Runtime, RuntimeOptions
from bots.server import RunningServer, start_server
from bots.standin.bot_connector import BotConnectorStandIn
from bots.teams import cards
from core.config import Config
from core.departments import Company
from storage.db import Database
from tests import slack_requests, teams_activities
from tests.conftest import API_TOKEN, REQUESTER, intake_body, settings_for
from tests.faults.postgres import Cluster
from tests.faults.slack import FaultySlack

SLACK_DEADLINE = 3.0
Request = Callable[[aiohttp.ClientSession, str], Awaitable[tuple[int, Any, dict[str, str]]]]


@pytest.fixture
async def server(
    cluster: Cluster,
    cluster_db: Database,
    slack: FaultySlack,
    connector: BotConnectorStandIn,
    company: Company,
) -> AsyncIterator[RunningServer]:
    slack.add_user(REQUESTER, "Mia Chen", email="mia@acme.example")
    config = Config(settings_for(cluster.url, slack, icx_teams_without_auth=True), company)
    running = await start_server(Runtime(config, RuntimeOptions()), "127.0.0.1", 0)
    yield running
    await running.stop()


async def _answer(response: aiohttp.ClientResponse) -> tuple[int, Any, dict[str, str]]:
    text = await response.text()
    body = await response.json(content_type=None) if text.startswith("{") else text
    return response.status, body, dict(response.headers)


def requests(slack: FaultySlack, connector: BotConnectorStandIn) -> dict[str, Request]:
    async def intake(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        body = intake_body(f"OUTAGE-{time.monotonic_ns()}")
        async with http.post(f"{url}/api/v1/interactions", json=body, headers=headers) as r:
            return await _answer(r)

    async def slack_post(http: aiohttp.ClientSession, url: str, body: bytes) -> Any:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **slack_requests.sign(body),
        }
        async with http.post(f"{url}/slack/events", data=body, headers=headers) as r:
            return await _answer(r)

    async def tap(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, dict[str, str]]:
        payload = slack_requests.button_tap(
            "0" * 32,
            "icx_csat_4",
            user=REQUESTER,
            channel="D0REQ00001",
            ts="1700000001.000100",
            response_url=slack.response_url(),
        )
        return await slack_post(http, url, slack_requests.form_body(payload))  # type: ignore[no-any-return]

    async def score(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, dict[str, str]]:
        body = slack_requests.slash_command(
            "finance", user=REQUESTER, response_url=slack.response_url()
        )
        return await slack_post(http, url, body)  # type: ignore[no-any-return]

    async def teams(http: aiohttp.ClientSession, url: str) -> tuple[int, Any, dict[str, str]]:
        activity = teams_activities.card_action(
            connector.service_url, cards.CSAT, {"prompt": "0" * 32, "value": 4}, reply_to_id="1"
        )
        headers = teams_activities.activity_headers()
        async with http.post(f"{url}/api/messages", json=activity, headers=headers) as r:
            return await _answer(r)

    return {"intake": intake, "slack tap": tap, "slash command": score, "teams invoke": teams}


async def test_every_path_answers_503_at_once_while_the_database_is_down_and_recovers(
    server: RunningServer, cluster: Cluster, slack: FaultySlack, connector: BotConnectorStandIn
) -> None:
    paths = requests(slack, connector)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        for name, request in paths.items():
            status, body, _ = await request(http, server.url)
            assert status in (200, 201), (name, status, body)

        await asyncio.to_thread(cluster.stop, "fast")
        for name, request in paths.items():
            began = time.monotonic()
            status, body, headers = await request(http, server.url)
            took = time.monotonic() - began
            assert status == 503, (name, status, body)
            assert body["error"] == "database_unavailable", (name, body)
            assert headers["Retry-After"].isdigit(), name
            assert took < SLACK_DEADLINE, (name, took)
        async with http.get(f"{server.url}/healthz") as r:
            assert r.status == 200  # alive: an orchestrator must not restart it for this

        await asyncio.to_thread(cluster.start)
        for name, request in paths.items():
            status, body, _ = await request(http, server.url)
            assert status in (200, 201), (name, status, body)
