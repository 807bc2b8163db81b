"""The baselines, each a server process doing the same HTTP work as icx on the same stack
(aiohttp, icx's own request handling) and nothing of icx's core, database or chat work: what is
left of icx's figures after dividing by them is the cost of icx itself.

Each target imports what it runs inside itself (see tests.perf.servers)."""

from __future__ import annotations

import asyncio
import re
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from tests.perf.servers import HOST, Stop, child_logging, serve_until_told

# What the Teams baseline answers to every card tap: a small card of the kind icx sends.
FIXED_CARD: dict[str, Any] = {
    "statusCode": 200,
    "type": "application/vnd.microsoft.card.adaptive",
    "value": {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Thanks for your feedback!", "wrap": True}],
    },
}
# What the intake baseline answers: the shape of icx's answer, with nothing recorded.
FIXED_INTAKE_ANSWER = {
    "interaction_id": 0,
    "created": True,
    "prompt": {"id": "0" * 32, "status": "scheduled"},
}


async def listen(app: web.Application) -> tuple[str, Stop]:
    """Serves the app on an ephemeral loopback port, as icx's server does."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    bound = runner.addresses[0]
    return f"http://{bound[0]}:{bound[1]}", runner.cleanup


def serve_teams(log_file: str, conn: Connection) -> None:
    """aiohttp + botbuilder's CloudAdapter behind icx's own /api/messages handling; a bot that
    answers every card tap with the same card, touching nothing else."""
    from botbuilder.core import InvokeResponse, TurnContext
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import Activity, ActivityTypes

    from bots.teams.endpoint import handle_activity
    from bots.teams.msrest_patch import apply as apply_msrest_patch

    child_logging(log_file)
    # The same botbuilder icx runs, with the same msrest fix.
    apply_msrest_patch()

    async def on_turn(context: TurnContext) -> None:
        activity = context.activity
        if activity.type == ActivityTypes.invoke and activity.name == "adaptiveCard/action":
            answer = InvokeResponse(status=200, body=FIXED_CARD)
            await context.send_activity(Activity(type=ActivityTypes.invoke_response, value=answer))

    async def start() -> tuple[str, Stop]:
        # The attributes botbuilder reads; an empty app id turns authentication off, as for icx.
        config = SimpleNamespace(
            APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID=None
        )
        auth = ConfigurationBotFrameworkAuthentication(config)
        adapter = CloudAdapter(auth)

        async def handle(request: web.Request) -> web.Response:
            return await handle_activity(request, adapter, auth.authenticate_request, on_turn)

        app = web.Application()
        app.router.add_post("/api/messages", handle)
        return await listen(app)

    asyncio.run(serve_until_told(start, conn))


def serve_bolt(log_file: str, signing_secret: str, inline: bool, conn: Connection) -> None:
    """A bare slack-bolt AsyncApp behind icx's own Slack adapter (signature check, parsing):
    its one listener only acknowledges. `inline` is process_before_response=True, where the
    listener runs before the answer; otherwise Bolt's default runner, which polls for ack()."""
    from slack_bolt.app.async_app import AsyncApp
    from slack_bolt.authorization import AuthorizeResult

    from bots.slack.adapter import MAX_BODY, handle_slack_request

    child_logging(log_file)

    # A fixed identity, as icx's own authorize= gives after its one auth.test: no Web API call.
    identity = AuthorizeResult(
        enterprise_id=None, team_id="T0ACME001", bot_user_id="UICXBOT01", bot_token="xoxb-perf"
    )

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return identity

    async def acknowledge(ack: Any) -> None:
        await ack()

    async def start() -> tuple[str, Stop]:
        bolt = AsyncApp(
            signing_secret=signing_secret,
            authorize=authorize,
            process_before_response=inline,
            # As in icx: the adapter has verified the signature before Bolt sees the request.
            request_verification_enabled=False,
        )
        bolt.action(re.compile(r"^icx_csat_[1-5]$"))(acknowledge)

        async def handle(request: web.Request) -> web.Response:
            return await handle_slack_request(request, bolt, signing_secret)

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/slack/events", handle)
        return await listen(app)

    asyncio.run(serve_until_told(start, conn))


def serve_intake(log_file: str, token: str, conn: Connection) -> None:
    """icx's intake handling up to the core (token, body, JSON, the contract's validation),
    answering 201 without looking anyone up or recording anything."""
    from bots.intake_api import parse_intake

    child_logging(log_file)

    async def handle(request: web.Request) -> web.Response:
        parsed = await parse_intake(request, token)
        if isinstance(parsed, web.Response):
            return parsed
        return web.json_response(FIXED_INTAKE_ANSWER, status=201)

    async def start() -> tuple[str, Stop]:
        app = web.Application()
        app.router.add_post("/api/v1/interactions", handle)
        return await listen(app)

    asyncio.run(serve_until_told(start, conn))
