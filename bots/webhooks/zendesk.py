"""Zendesk: a webhook connected to a trigger on "status category changed to Solved". A trigger's
webhook body is whatever its JSON template says; icx reads the template in the README:

    {"ticket": {"id", "status", "group_id", "group_name", "requester_email", "assignee_email",
                "service", "tags", "updated_at"}}

Signed by Zendesk: `X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(secret, timestamp +
body))` with `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601), accepted within 300 s.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bots.webhooks import signatures
from bots.webhooks.connector import Connector, PayloadInvalid, invalid
from core.helpdesks import Ignored, ResolvedTicket, Tool, field_texts, resolution_stamp, words

TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
SIGNATURE = "X-Zendesk-Webhook-Signature"


class _Ticket(BaseModel):
    # Placeholders render as text; an empty one (no group, no assignee) as "".
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1, max_length=40)
    status: str = ""
    group_id: str = ""
    group_name: str = ""
    requester_email: str = ""
    assignee_email: str = ""
    service: str = ""
    tags: str = ""
    updated_at: str = ""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ticket: _Ticket


def _time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def authentic(headers: Mapping[str, str], raw: bytes, secret: str, now: datetime) -> bool:
    sent = headers.get(TIMESTAMP, "")
    sent_at = _time(sent) if len(sent) <= 40 else None
    if sent_at is None or not signatures.within_window(sent_at, now):
        return False
    return signatures.matches_base64(headers.get(SIGNATURE, ""), secret, sent.encode() + raw)


def read(body: Any) -> ResolvedTicket | Ignored:
    try:
        ticket = _Body.model_validate(body).ticket
    except ValidationError as error:
        raise invalid(error) from None
    status = ticket.status.strip().casefold()
    if status == "closed":
        return Ignored(f"{ticket.id}: closed follows solved; icx asks when a ticket is solved")
    if status != "solved":
        return Ignored(f"{ticket.id}: the ticket is not solved (status {ticket.status[:20]!r})")
    # The update that solved the ticket: a retry repeats it, solving it again after a reopen
    # is a later one.
    solved_at = _time(ticket.updated_at)
    if solved_at is None:
        raise PayloadInvalid("ticket.updated_at: put {{ticket.updated_at_with_timestamp}} there")
    fields = {"service": field_texts(ticket.service), "tags": words(ticket.tags)}
    return ResolvedTicket(
        tool=Tool.ZENDESK,
        ticket=ticket.id,
        resolution=resolution_stamp(solved_at),
        owners=tuple(o for o in (ticket.group_id.strip(), ticket.group_name.strip()) if o),
        requester_email=ticket.requester_email.strip() or None,
        provider_email=ticket.assignee_email.strip() or None,
        occurred_at=solved_at,
        values_of=lambda name: fields.get(name, ()),
    )


CONNECTOR = Connector(
    tool=Tool.ZENDESK,
    name="Zendesk",
    authentic=authentic,
    read=read,
    how_to_sign=f"icx checks {SIGNATURE} and {TIMESTAMP} (within 300 s) with "
    "ICX_ZENDESK_WEBHOOK_SECRET: copy the webhook's signing secret there",
)
