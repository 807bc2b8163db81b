"""Defence in depth for logs: tokens, secrets and personal identifiers are blanked out of every
line before it is written. Log calls should not carry them in the first place; this catches
what slips through anyway, such as an SDK's exception text or a payload inside a traceback.
Comments cannot be recognised by their shape: no log call may include one."""

import logging
import re
from collections.abc import Iterable

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8  # shorter configured values would blank out ordinary words

# Order matters where shapes overlap: at one position the first alternative that matches wins.
_SHAPES = {
    # Slack bot, user, refresh and app-level tokens.
    "slack_token": r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+",
    "bearer": r"\b(?i:bearer)\s+[A-Za-z0-9._~+/=-]+",
    # Bot Framework and Entra tokens are JWTs.
    "jwt": r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    # Not a Teams channel id (19:…@thread.tacv2): those name a channel, not a person.
    "email": r"[A-Za-z0-9._%+-]+@(?!thread\.)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    # Entra (AAD) object ids, tenant ids and app ids: GUIDs.
    "guid": r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b",
    # Bot Framework user ids (29:1…) and Teams MRIs (8:orgid:…); long and with a letter, so
    # that the "29:45" of a clock time is left alone.
    "teams_user": r"\b(?:29|8:orgid):(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{10,}",
    # Slack user ids (U…, or W… on Enterprise Grid): capitals and digits, at least one digit,
    # so that a capitalised word such as UNREACHABLE is left alone.
    "slack_user": r"\b[UW](?=[A-Z0-9]*[0-9])[A-Z0-9]{8,}\b",
}


class Redactor:
    """Replaces every recognised shape, and every configured secret value, with [redacted]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern = self._compile()
        self.remember(secrets)

    def remember(self, secrets: Iterable[str]) -> None:
        """Adds exact values to blank out (the signing secret, the API token…), whatever their
        shape."""
        new = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH} - self._secrets
        if new:
            self._secrets |= new
            self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Longest first, so that a secret containing another is removed whole.
        values = sorted(self._secrets, key=len, reverse=True)
        known = [f"(?P<secret>{'|'.join(map(re.escape, values))})"] if values else []
        shapes = [f"(?P<{name}>{shape})" for name, shape in _SHAPES.items()]
        return re.compile("|".join(known + shapes))

    def __call__(self, text: str) -> str:
        return self._pattern.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    # "Bearer [redacted]" still tells a reader which header it was.
    return f"Bearer {REDACTED}" if match.lastgroup == "bearer" else REDACTED


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack text in place, before any handler's
    formatter sees it."""

    _traceback = logging.Formatter()

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call: the handler reports it when it formats
            return True
        record.msg, record.args = self._redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True
