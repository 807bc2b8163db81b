"""One id per HTTP request: taken from X-Request-Id when a proxy sent a sane one, else made up;
echoed in the response and attached to every log line written while the request is handled
(including work it spawns: asyncio tasks copy the context they are created in)."""

import logging
import re
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from bots.ops.logs import current_request_id
from bots.ops.redaction import Redactor
from bots.ops.routing import route_of

HEADER = "X-Request-Id"
# Proxies send hex, UUIDs or base64; anything else (spaces, quotes, kilobytes) is replaced.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}")
# Envoy and many proxies send UUIDs, which redaction would take for Entra object ids.
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_KEY = web.RequestKey("request_id", str)
_SHAPES = Redactor()

log = logging.getLogger(__name__)


def choose(given: str | None) -> str:
    """The caller's id if it is sane and carries nothing the logs would have to blank out (a
    token, an email…): it is logged as it is."""
    if given and _SANE.fullmatch(given) and (_UUID.fullmatch(given) or _SHAPES(given) == given):
        return given
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = choose(request.headers.get(HEADER))
    request[_KEY] = request_id
    token = current_request_id.set(request_id)
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        # Logged here, where the id is still set, rather than by aiohttp after it is gone.
        log.exception("unhandled error answering %s %s", request.method, route_of(request))
        return web.json_response({"error": "internal_error", "request_id": request_id}, status=500)
    finally:
        current_request_id.reset(token)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer carries the id, errors raised by aiohttp too."""
    request_id = request.get(_KEY)
    if request_id is not None:
        response.headers[HEADER] = request_id


def install(app: web.Application) -> None:
    app.middlewares.append(request_id_middleware)
    app.on_response_prepare.append(echo_request_id)
