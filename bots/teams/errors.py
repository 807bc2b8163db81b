"""Classifying Bot Connector failures: retry later, or give up (GUIDE §7: back off on 429, retry
412, 502 and 504)."""

import aiohttp
from botbuilder.schema import ErrorResponseException
from msrest.exceptions import ClientRequestError

from core.metrics import rate_limited
from core.ports import DeliveryError

# 401: the token went stale or Azure's credentials are being rotated; worth another try.
RETRIED = {401, 408, 412, 429, 500, 502, 503, 504}


def as_delivery_error(error: Exception) -> DeliveryError:
    if isinstance(error, ErrorResponseException):
        # msrest keeps whichever response its HTTP driver produced: aiohttp's or its own.
        response = error.response
        status = int(getattr(response, "status_code", None) or getattr(response, "status", 0))
        code = _code(error)
        if status == 429:
            rate_limited("teams")
            retry_after = _seconds(response.headers.get("Retry-After"))
            # Teams limits each conversation on its own: only this prompt waits. Without a
            # Retry-After the outbox's exponential backoff decides.
            return DeliveryError(
                f"rate limited (429), retry after {retry_after or 'a backoff'}s",
                retry_after=retry_after,
                platform_wide=False,
            )
        # 403/404: the person removed the app or blocked the bot; 400: a card Teams refuses.
        return DeliveryError(
            f"Teams answered HTTP {status}{f' ({code})' if code else ''}",
            permanent=status not in RETRIED,
        )
    if isinstance(error, aiohttp.ClientError | TimeoutError | ClientRequestError):
        return DeliveryError(f"cannot reach Teams: {type(error).__name__}")
    raise error


def _code(error: ErrorResponseException) -> str:
    inner = getattr(getattr(error, "error", None), "error", None)
    return str(getattr(inner, "code", "") or "")


def _seconds(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None
