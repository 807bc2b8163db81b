"""What Slack hears when a listener fails. Bolt catches a listener's exception itself and answers
500; a database that cannot answer right now gets a 503 with Retry-After instead (the same
answer as every other path, bots/db_errors.py), so Slack shows the person an error at once
and the logs tell an outage from a bug."""

import json
import logging
from typing import Any

from slack_bolt.response import BoltResponse

from bots.db_errors import MESSAGE, RETRY_AFTER_SECONDS, first_line
from storage.unavailable import is_unavailable

log = logging.getLogger(__name__)


async def answer_failure(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
    """Bolt's error handler (app.error): None keeps Bolt's 500."""
    if is_unavailable(error):
        log.warning(
            "Slack %s: database unavailable (%s: %s)",
            body.get("type", "request"),
            type(error).__name__,
            first_line(error),
        )
        return BoltResponse(
            status=503,
            body=json.dumps({"error": "database_unavailable", "message": MESSAGE}),
            headers={
                "content-type": "application/json",
                "retry-after": str(RETRY_AFTER_SECONDS),
            },
        )
    log.error("Slack listener failed", exc_info=(type(error), error, error.__traceback__))
    return None
