"""Slack over HTTP: verify the signature, parse, hand to Bolt, translate the answer (aiohttp)."""

import hashlib
import hmac
import time

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bots.http_body import BodyTooLarge, read_body

MAX_BODY = 256 * 1024
MAX_SKEW_SECONDS = 300


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def signed_by_slack(raw: bytes, timestamp: str, signature: str, secret: str) -> bool:
    """v0 = HMAC-SHA256(secret, "v0:{timestamp}:{body}") over the raw bytes, within 5 minutes."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


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
    except (UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError):
        return _error(400, "malformed Slack payload")
    if not isinstance(bolt_request.body, dict):
        return _error(400, "malformed Slack payload")
    return await to_aiohttp_response(await app.async_dispatch(bolt_request))
