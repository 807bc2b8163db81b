"""Slack over HTTP: verify the signature, parse, hand to Bolt, translate the answer (aiohttp)."""

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bots.http_body import BodyTooLarge, read_body
from bots.slack.shape import well_formed
from bots.slack.signature import signed_by_slack

MAX_BODY = 256 * 1024


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def handle_slack_request(request: web.Request, app: AsyncApp, secret: str) -> web.Response:
    try:
        raw = await read_body(request, MAX_BODY)
    except BodyTooLarge:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    headers = request.headers
    # Checked before parsing, so an unsigned request learns nothing about what we accept.
    if not signed_by_slack(
        raw,
        headers.get("X-Slack-Request-Timestamp", ""),
        headers.get("X-Slack-Signature", ""),
        secret,
    ):
        return _error(401, "invalid or stale Slack signature")
    try:
        bolt_request = AsyncBoltRequest(
            body=raw.decode("utf-8"), query=request.query_string, headers=dict(headers)
        )
    # Bolt reads ids out of the payload as it parses it, so a payload of the wrong shape can
    # fail here already; RecursionError: JSON nested deeper than the parser goes.
    except (
        UnicodeDecodeError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        IndexError,
        RecursionError,
    ):
        return _error(400, "malformed Slack payload")
    if not isinstance(bolt_request.body, dict) or not well_formed(bolt_request.body):
        return _error(400, "malformed Slack payload")
    return await to_aiohttp_response(await app.async_dispatch(bolt_request))
