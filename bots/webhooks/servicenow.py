"""ServiceNow: a business rule on `incident` or `sc_request` posts the record when it is
resolved or closed (README: Helpdesk webhooks has the script).

The record is in the Table API's shape: a field is a plain value, or `{"value", "display_value"}`
(`sysparm_display_value=all`); a dot-walked field has a dotted name (`caller_id.email`).

ServiceNow has no webhook signature of its own, so the rule signs like Zendesk does, with a
Unix time: `X-Icx-Timestamp: <seconds>` and `X-Icx-Signature: base64(HMAC-SHA256(secret,
timestamp + body))`, computed in the script with `GlideCertificateEncryption.generateMac`.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bots.webhooks import signatures
from bots.webhooks.connector import Connector, PayloadInvalid
from core.helpdesks import Ignored, ResolvedTicket, Tool, field_texts, resolution_stamp

TIMESTAMP = "X-Icx-Timestamp"
SIGNATURE = "X-Icx-Signature"

INCIDENT_RESOLVED = {"6", "7"}  # Resolved, Closed (8 is Canceled: nothing was delivered)
REQUEST_CLOSED_COMPLETE = "3"  # sc_request.state; 4 and 7 are Closed Incomplete / Skipped
REQUESTER = {"incident": "caller_id.email", "sc_request": "requested_for.email"}


def authentic(headers: Mapping[str, str], raw: bytes, secret: str, now: datetime) -> bool:
    sent = headers.get(TIMESTAMP, "").strip()
    if not sent.isdigit() or len(sent) > 12:
        return False
    if not signatures.within_window(datetime.fromtimestamp(int(sent), UTC), now):
        return False
    return signatures.matches_base64(headers.get(SIGNATURE, ""), secret, sent.encode() + raw)


def _value(record: Mapping[str, Any], name: str) -> str | None:
    """The stored value (a sys_id, a choice value), not what the form shows."""
    field = record.get(name)
    if isinstance(field, dict):
        field = field.get("value")
    texts = field_texts(field)
    return texts[0].strip() if texts else None


def _texts(record: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """Value and display value: a mapping may name a group by sys_id or by name."""
    field = record.get(name)
    parts = (
        (field.get("value"), field.get("display_value")) if isinstance(field, dict) else (field,)
    )
    return tuple(dict.fromkeys(t for p in parts for t in field_texts(p)))


def _glide_time(value: str | None) -> datetime | None:
    """GlideDateTime values are UTC, "yyyy-MM-dd HH:mm:ss"."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _resolved(table: str, record: Mapping[str, Any]) -> bool:
    state = _value(record, "state")
    if table == "incident":
        return state in INCIDENT_RESOLVED
    return _value(record, "request_state") == "closed_complete" or state == REQUEST_CLOSED_COMPLETE


def read(body: Any) -> ResolvedTicket | Ignored:
    if not isinstance(body, dict):
        raise PayloadInvalid("(body): send the record as a JSON object")
    number = _value(body, "number")
    table = _value(body, "sys_class_name")
    if not number or len(number) > 100 or not table:
        raise PayloadInvalid("number and sys_class_name are required (see the README's script)")
    if table not in REQUESTER:
        return Ignored(f"{number}: icx takes incident and sc_request records, not {table}")
    if not _resolved(table, body):
        return Ignored(f"{number}: the record is not resolved or closed (complete)")
    # resolved_at stays when a resolved incident is closed, so closing it repeats the same
    # resolution; reopening clears it and resolving again sets a new one.
    resolved_at = _glide_time(_value(body, "resolved_at")) or _glide_time(_value(body, "closed_at"))
    if resolved_at is None:
        raise PayloadInvalid("resolved_at or closed_at is required on a resolved record")
    return ResolvedTicket(
        tool=Tool.SERVICENOW,
        ticket=number,
        resolution=resolution_stamp(resolved_at),
        owners=_texts(body, "assignment_group"),
        requester_email=_value(body, REQUESTER[table]),
        provider_email=_value(body, "assigned_to.email"),
        occurred_at=resolved_at,
        values_of=lambda name: _texts(body, name),
    )


CONNECTOR = Connector(
    tool=Tool.SERVICENOW,
    name="ServiceNow",
    authentic=authentic,
    read=read,
    how_to_sign=f"send {TIMESTAMP}: <Unix seconds, within 300 s> and {SIGNATURE}: "
    "base64(HMAC-SHA256(ICX_SERVICENOW_WEBHOOK_SECRET, timestamp + body)), as the README's "
    "business rule does",
)
