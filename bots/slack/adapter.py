"""Slack over HTTP: verify the signature, parse, hand to Bolt, translate the answer (aiohttp)."""

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

MAX_BODY = 256 * 1024


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def handle_slack_request(
    request: web.Request, app: AsyncApp, verifier: SignatureVerifier
) -> web.Response:
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    # Checked before parsing, so an unsigned request learns nothing about what we accept.
    if not verifier.is_valid_request(raw, dict(request.headers)):
        return _error(401, "invalid or stale Slack signature")
    try:
        bolt_request = AsyncBoltRequest(
            body=raw.decode("utf-8"), query=request.query_string, headers=dict(request.headers)
        )
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        return _error(400, "malformed Slack payload")
    return await to_aiohttp_response(await app.async_dispatch(bolt_request))
