"""Classifying Slack Web API failures: retry later, or give up."""

import aiohttp
from slack_sdk.errors import SlackApiError

from core.metrics import rate_limited
from core.ports import DeliveryError

# Errors that will not go away by retrying this particular message.
PERMANENT = {
    "user_not_found",
    "users_not_found",
    "channel_not_found",
    "account_inactive",
    "user_disabled",
    "cannot_dm_bot",
    "is_archived",
    "msg_too_long",
    "invalid_blocks",
    "no_text",
    "not_in_channel",
}


def as_delivery_error(error: Exception) -> DeliveryError:
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        code = str(error.response.get("error", "")) if error.response.data else ""
        if status == 429:
            rate_limited("slack")
            retry_after = _seconds(error.response.headers.get("Retry-After"))
            return DeliveryError(
                f"rate limited (429), retry after {retry_after:g}s", retry_after=retry_after
            )
        if status >= 500:
            return DeliveryError(f"Slack answered HTTP {status}")
        return DeliveryError(f"Slack error: {code or status}", permanent=code in PERMANENT)
    if isinstance(error, aiohttp.ClientError | TimeoutError):
        return DeliveryError(f"cannot reach Slack: {type(error).__name__}")
    raise error


def _seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header or 1))
    except ValueError:
        return 1.0
