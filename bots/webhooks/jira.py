"""Jira Cloud admin webhooks (System → WebHooks), event `jira:issue_updated`.

Signed with the webhook's secret: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
Jira sends no signed time, and retries a failed delivery with the same body later, so there is
no time window; a replayed resolution is answered from the interaction it already created.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bots.webhooks import signatures
from bots.webhooks.connector import Connector, PayloadInvalid, invalid
from core.helpdesks import Ignored, ResolvedTicket, Tool, field_texts, resolution_stamp


class _Lenient(BaseModel):
    # Ids are text here, whether Jira sent "10457" or 10457.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


class _User(_Lenient):
    # Absent when the person's profile visibility hides it.
    email: str | None = Field(default=None, alias="emailAddress")


class _Project(_Lenient):
    key: str = Field(min_length=1, max_length=100)


class _StatusCategory(_Lenient):
    key: str = ""


class _Status(_Lenient):
    category: _StatusCategory = Field(default_factory=_StatusCategory, alias="statusCategory")


class _Fields(_Lenient):
    project: _Project
    reporter: _User | None = None
    assignee: _User | None = None
    status: _Status | None = None
    resolution: dict[str, Any] | None = None
    resolution_date: str | None = Field(default=None, alias="resolutiondate")


class _Issue(_Lenient):
    key: str = Field(min_length=1, max_length=100)
    fields: _Fields


class _Item(_Lenient):
    field: str = ""
    field_id: str | None = Field(default=None, alias="fieldId")
    before: Any = Field(default=None, alias="from")
    after: Any = Field(default=None, alias="to")


class _Changelog(_Lenient):
    id: str = Field(min_length=1, max_length=40)
    items: list[_Item] = Field(default_factory=list)


class _Event(_Lenient):
    webhook_event: str = Field(alias="webhookEvent")
    timestamp: int | None = None
    issue: _Issue | None = None
    changelog: _Changelog | None = None


def authentic(headers: Mapping[str, str], raw: bytes, secret: str, _now: datetime) -> bool:
    scheme, _, given = headers.get("X-Hub-Signature", "").partition("=")
    return scheme == "sha256" and signatures.matches_hex(given, secret, raw)


def _named(item: _Item, name: str) -> bool:
    return name in (item.field_id, item.field.lower())


def _resolves(items: list[_Item], fields: _Fields) -> bool:
    """The update sets a resolution where there was none, or (in a workflow without
    resolutions) moves the issue into a status of the Done category."""
    if any(_named(i, "resolution") and i.after and not i.before for i in items):
        return True
    into_done = fields.status is not None and fields.status.category.key == "done"
    return into_done and fields.resolution is None and any(_named(i, "status") for i in items)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read(body: Any) -> ResolvedTicket | Ignored:
    try:
        event = _Event.model_validate(body)
    except ValidationError as error:
        raise invalid(error) from None
    if event.webhook_event != "jira:issue_updated":
        return Ignored(
            f"{event.webhook_event[:60]} is not an issue update; subscribe the webhook to "
            "Issue: updated only"
        )
    if event.issue is None:
        raise PayloadInvalid("issue: an issue update carries the issue")
    issue = event.issue
    if event.changelog is None or not _resolves(event.changelog.items, issue.fields):
        return Ignored(f"{issue.key}: the update does not resolve the issue")
    resolved_at = _parse_time(issue.fields.resolution_date)
    sent_at = (
        datetime.fromtimestamp(event.timestamp / 1000, UTC) if event.timestamp is not None else None
    )
    # The resolution date stays put when a resolved issue moves on (Done → Closed) and changes
    # when it is reopened and resolved again; without one, the change itself identifies it.
    resolution = resolution_stamp(resolved_at) if resolved_at else f"changelog-{event.changelog.id}"
    # Read from the body as sent: service_field may name any field, declared above or not.
    raw_fields: dict[str, Any] = body["issue"]["fields"]
    return ResolvedTicket(
        tool=Tool.JIRA,
        ticket=issue.key,
        resolution=resolution,
        owners=(issue.fields.project.key,),
        requester_email=issue.fields.reporter.email if issue.fields.reporter else None,
        provider_email=issue.fields.assignee.email if issue.fields.assignee else None,
        occurred_at=resolved_at or sent_at,
        values_of=lambda name: field_texts(raw_fields.get(name)),
    )


CONNECTOR = Connector(
    tool=Tool.JIRA,
    name="Jira",
    authentic=authentic,
    read=read,
    how_to_sign="send X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>, as Jira does for "
    "an admin webhook with a Secret equal to ICX_JIRA_WEBHOOK_SECRET",
)
