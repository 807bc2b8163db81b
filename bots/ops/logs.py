"""Where log lines go and how they look: JSON lines for log collectors when standard error is
not a terminal, readable text when it is (ICX_LOG_FORMAT forces either), each with the request
id of the request being handled and with secrets and personal identifiers blanked out."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bots.ops.redaction import RedactingFilter, Redactor
from core.settings import LogFormat, Settings

# Libraries whose lower levels carry what must not be logged, and the least level they get
# whatever ICX_LOG_LEVEL says (DEBUG is for icx's own loggers): the SDKs' and aiosqlite's DEBUG
# lines hold whole payloads and query parameters (message text, comments, user ids),
# SQLAlchemy's INFO lines every statement with its parameters; APScheduler's INFO is two lines
# per job run.
FLOORS = {
    "slack_bolt": logging.INFO,
    "slack_sdk": logging.INFO,
    "botbuilder": logging.INFO,
    "botframework": logging.INFO,
    "msrest": logging.INFO,
    "msal": logging.INFO,
    "aiohttp": logging.INFO,
    "asyncio": logging.INFO,
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "sqlalchemy": logging.WARNING,
    "apscheduler": logging.WARNING,
}

# One per process: the command line adds the configured secrets' values to it.
redactor = Redactor()
# Set by the HTTP server while it handles a request (bots/ops/request_ids.py); here, so that
# commands that serve nothing do not load the web framework to log.
current_request_id: ContextVar[str | None] = ContextVar("icx_request_id", default=None)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


def json_wanted(fmt: LogFormat, stream: TextIO) -> bool:
    if fmt is LogFormat.AUTO:
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return fmt is LogFormat.JSON


def handler_for(stream: TextIO, fmt: LogFormat = LogFormat.AUTO) -> logging.Handler:
    """A handler that writes icx's log lines to `stream`: request id, redaction, format."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if json_wanted(fmt, stream) else TextFormatter())
    return handler


def configure(
    level: int,
    fmt: LogFormat = LogFormat.AUTO,
    stream: TextIO | None = None,
    *,
    force: bool = False,
) -> None:
    """Sends log lines to standard error (or `stream`). Like logging.basicConfig, it leaves
    alone a root logger that something else set up (a test runner, a program embedding icx),
    unless `force`."""
    root = logging.getLogger()
    if root.handlers and not force:
        return
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler_for(stream or sys.stderr, fmt))
    root.setLevel(level)
    for name, floor in FLOORS.items():
        logging.getLogger(name).setLevel(max(level, floor))


def remember_secrets(settings: Settings) -> None:
    """Blanks out the exact values of every configured secret too, whatever their shape."""
    values = [
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    try:
        password = make_url(settings.database_url).password
    except ArgumentError:  # not a URL at all: the database layer says so when it is used
        password = None
    redactor.remember([*values, *([password] if password else [])])
