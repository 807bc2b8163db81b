"""What each helpdesk module provides to the shared webhook handler."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from core.helpdesks import Ignored, ResolvedTicket, Tool


class PayloadInvalid(Exception):
    """The body is JSON, but not the payload this tool sends (or the README's template)."""


def invalid(error: ValidationError) -> PayloadInvalid:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
        for e in error.errors(include_url=False)[:5]
    )
    return PayloadInvalid(problems)


@dataclass(frozen=True)
class Connector:
    tool: Tool
    name: str  # as the tool calls itself, for messages: "Jira", "ServiceNow", "Zendesk"
    # True when the request is signed with the secret (and, where the tool sends a time, was
    # sent within the window around `now`).
    authentic: Callable[[Mapping[str, str], bytes, str, datetime], bool]
    # The resolution the payload reports, or why it reports none; raises PayloadInvalid.
    read: Callable[[Any], ResolvedTicket | Ignored]
    # What the operator is told when a request is not authentic.
    how_to_sign: str
