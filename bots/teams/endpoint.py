"""Teams over HTTP: `/api/messages`, translated by hand. botbuilder 4.17's CloudAdapter.process()
answers 500 for invoke activities that return a body (GUIDE §7), so the activity is parsed,
authenticated and handed to the adapter here, and the invoke response written as JSON."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticateRequestResult
from msrest.exceptions import DeserializationError

from bots.http_body import BodyTooLarge, read_body

MAX_BODY = 256 * 1024

Authenticate = Callable[[Activity, str], Awaitable[AuthenticateRequestResult]]
Turn = Callable[[TurnContext], Awaitable[None]]


class NotAuthenticated(Exception):
    pass


class CannotAuthenticate(Exception):
    """The request may be genuine, but its token cannot be checked right now."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# Ids and words botbuilder and the bot use, which Bot Framework always sends as JSON strings.
# msrest would turn any other JSON value into a string ("{}", "123") and the reply would go to
# a conversation or activity that does not exist.
_STRINGS = (
    ("type",),
    ("id",),
    ("name",),
    ("action",),
    ("serviceUrl",),
    ("channelId",),
    ("replyToId",),
    ("text",),
    ("locale",),
    ("conversation", "id"),
    ("conversation", "conversationType"),
    ("conversation", "tenantId"),
    ("from", "id"),
    ("from", "aadObjectId"),
    ("recipient", "id"),
)


# Lists whose items botbuilder and the bot read as objects (an entity's type, a member's id).
_LISTS_OF_OBJECTS = ("entities", "attachments", "membersAdded", "membersRemoved")


def _strings_where_expected(data: dict[str, Any]) -> bool:
    for path in _STRINGS:
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, str):
            return False
    for key in _LISTS_OF_OBJECTS:
        items = data.get(key)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, dict) for i in items)
        ):
            return False
    return True


def parse_activity(raw: bytes) -> Activity | None:
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not _strings_where_expected(data):
            return None
        activity = Activity().deserialize(data)
    # RecursionError: JSON nested deeper than the parser (or msrest after it) goes.
    except (ValueError, TypeError, AttributeError, KeyError, DeserializationError, RecursionError):
        return None
    if activity is None or not activity.type or not activity.service_url:
        return None
    if activity.conversation is None or not activity.conversation.id:
        return None
    return activity


async def handle_activity(
    request: web.Request, adapter: CloudAdapter, authenticate: Authenticate, turn: Turn
) -> web.Response:
    if request.content_type != "application/json":
        return _error(415, "activities are JSON (Content-Type: application/json)")
    try:
        raw = await read_body(request, MAX_BODY)
    except BodyTooLarge:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    activity = parse_activity(raw)
    if activity is None:
        return _error(400, "malformed activity: needs type, serviceUrl and conversation.id")
    try:
        auth = await authenticate(activity, request.headers.get("Authorization", ""))
    except NotAuthenticated as error:
        return _error(401, str(error))
    except CannotAuthenticate as error:
        # Bot Framework retries a 503, so the activity is not lost.
        return _error(503, str(error))
    invoke = await adapter.process_activity(auth, activity, turn)
    if invoke is None:
        return web.Response(status=200)
    return web.json_response(invoke.body, status=int(invoke.status))
