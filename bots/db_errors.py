"""What a request hears while the database cannot answer: a quick 503 with Retry-After, on every
path (intake API, webhooks, Teams), instead of a 500 or a hang. Nothing half-written stays
behind: each request's writes are one transaction, rolled back when it fails. Slack's listeners
fail inside Bolt, which answers for itself (bots/slack/failures.py, same words)."""

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from storage.unavailable import is_unavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
MESSAGE = "icx cannot reach its database right now; nothing was saved, try again shortly"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unavailable_response() -> web.Response:
    return web.json_response(
        {"error": "database_unavailable", "message": MESSAGE},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@web.middleware
async def database_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as error:
        if not is_unavailable(error):
            raise
        # One line, no traceback: during an outage every request says the same thing.
        log.warning(
            "%s %s: database unavailable (%s: %s)",
            request.method,
            request.path,
            type(error).__name__,
            first_line(error),
        )
        return unavailable_response()


def first_line(error: BaseException) -> str:
    """What went wrong, without the statement and its parameters (people's answers) that
    SQLAlchemy adds on the lines after."""
    text = str(error)
    return text.splitlines()[0][:200] if text else ""
