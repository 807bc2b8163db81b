"""Which helpdesk tickets belong to which department: the `helpdesk:` part of a department in
the departments YAML (Jira projects, ServiceNow assignment groups, Zendesk groups), which field
names the service, and how values of that field map to the department's services.

It also turns one resolution of a ticket, read from any tool's webhook (`ResolvedTicket`), into
the interaction the intake records (`to_interaction`): the tools differ only in how they are
parsed and signed, which stays in `bots/webhooks/`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from core.departments import Company, Department
    from core.intake import InteractionIn

log = logging.getLogger(__name__)

# A field of the tool's ticket: `components`, `customfield_10050`, `business_service`, `tags`.
FIELD_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,99}$"


class Tool(StrEnum):
    """A helpdesk icx takes webhooks from; the value is also the interaction's `source`."""

    JIRA = "jira"
    SERVICENOW = "servicenow"
    ZENDESK = "zendesk"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_strings(value: object) -> object:
    # YAML reads a Zendesk group id or a numeric option value as a number; ids are text here.
    if isinstance(value, list | tuple):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    if isinstance(value, dict):
        return {
            (str(k) if isinstance(k, int) and not isinstance(k, bool) else k): v
            for k, v in value.items()
        }
    return value


class _Mapping(_Strict):
    """What every tool's mapping has: the field that names the service, and its values."""

    # Values of `service_field` → the department's service keys (compared ignoring case). Left
    # out, a value that equals a service's key or name (ignoring case) names that service.
    services: dict[str, str] = Field(default_factory=dict)

    _numbers_as_text = field_validator("services", mode="before")(_as_strings)

    @property
    def service_source(self) -> str | None:
        raise NotImplementedError

    @property
    def claims(self) -> tuple[str, ...]:
        """The projects or groups this department owns in the tool."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _services_need_a_field(self) -> _Mapping:
        if self.services and self.service_source is None:
            raise ValueError("services maps values of a field: name it in service_field")
        return self

    def service_for(self, values: Iterable[str], department: Department) -> str | None:
        """The first value that names one of the department's services; None when none does."""
        if self.services:
            mapped = {k.casefold(): v for k, v in self.services.items()}
            return next((mapped[v.casefold()] for v in values if v.casefold() in mapped), None)
        for value in values:
            wanted = value.casefold()
            for service in department.services:
                if wanted in (service.key.casefold(), service.name.casefold()):
                    return service.key
        return None


class JiraMapping(_Mapping):
    projects: tuple[str, ...] = Field(min_length=1)
    # `components` (their names), `labels`, or a custom field such as `customfield_10050`.
    service_field: str | None = Field(default=None, pattern=FIELD_NAME)

    @property
    def service_source(self) -> str | None:
        return self.service_field

    @property
    def claims(self) -> tuple[str, ...]:
        return self.projects


class ServiceNowMapping(_Mapping):
    # Names or sys_ids of assignment groups.
    assignment_groups: tuple[str, ...] = Field(min_length=1)
    # `category`, `business_service`, `cmdb_ci`, or any other field the business rule sends.
    service_field: str | None = Field(default=None, pattern=FIELD_NAME)

    @property
    def service_source(self) -> str | None:
        return self.service_field

    @property
    def claims(self) -> tuple[str, ...]:
        return self.assignment_groups


class ZendeskMapping(_Mapping):
    # Group ids (preferred: they never change) or names.
    groups: tuple[str, ...] = Field(min_length=1)
    # `service`: the slot of the webhook's JSON body that holds a custom field (see README);
    # `tags`: the ticket's tags.
    service_field: str = Field(default="service", pattern=r"^(service|tags)$")

    _ids_as_text = field_validator("groups", mode="before")(_as_strings)

    @property
    def service_source(self) -> str | None:
        return self.service_field

    @property
    def claims(self) -> tuple[str, ...]:
        return self.groups


class Helpdesks(_Strict):
    jira: JiraMapping | None = None
    servicenow: ServiceNowMapping | None = None
    zendesk: ZendeskMapping | None = None

    def mapping(self, tool: Tool) -> _Mapping | None:
        found: _Mapping | None = getattr(self, tool.value)
        return found

    def check_services(self, known: Collection[str]) -> None:
        """Raises ValueError when a `services` map names a service the department lacks."""
        for tool in Tool:
            mapping = self.mapping(tool)
            if mapping is None:
                continue
            unknown = sorted({key for key in mapping.services.values() if key not in known})
            if unknown:
                listed = ", ".join(sorted(known)) or "(none configured)"
                raise ValueError(
                    f"helpdesk.{tool.value}.services maps to unknown service key(s) "
                    f"{', '.join(unknown)}; the department's services are: {listed}"
                )


_CLAIM_FIELD = {
    Tool.JIRA: "projects",
    Tool.SERVICENOW: "assignment_groups",
    Tool.ZENDESK: "groups",
}


def check_unambiguous(departments: list[tuple[str, Helpdesks]]) -> None:
    """Raises ValueError when two departments claim the same project, group or assignment group."""
    for tool in Tool:
        owner: dict[str, str] = {}
        for key, helpdesks in departments:
            mapping = helpdesks.mapping(tool)
            for claim in mapping.claims if mapping else ():
                earlier = owner.setdefault(claim.casefold(), key)
                if earlier != key:
                    raise ValueError(
                        f"helpdesk.{tool.value}.{_CLAIM_FIELD[tool]}: {claim!r} is listed by both "
                        f"{earlier} and {key}; each ticket must belong to one department"
                    )


# --- one resolution of a ticket -------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedTicket:
    """One resolution of one ticket, as an adapter read it from the tool's webhook."""

    tool: Tool
    ticket: str  # the tool's key or number: IT-123, INC0010023, 4711
    # What tells this resolution apart from a later one of the same ticket (the resolution's
    # timestamp, or the event's id): a re-delivery repeats it, a re-resolution does not.
    resolution: str
    # How the ticket names its owner, most specific first (a group's id before its name).
    owners: tuple[str, ...]
    requester_email: str | None
    provider_email: str | None
    occurred_at: datetime | None
    # The values of one of the ticket's fields, as text (for `service_field`).
    values_of: Callable[[str], tuple[str, ...]]

    @property
    def reference(self) -> str:
        return f"{self.ticket}@{self.resolution}"


def resolution_stamp(moment: datetime) -> str:
    """A resolution time as it goes into a reference: UTC, to the second, one spelling for all
    tools (so a re-delivery that formats the time differently is still the same resolution)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Ignored:
    """Why a webhook creates nothing; shown to the operator, so never an email or a comment."""

    reason: str


_NO_EMAIL = {
    Tool.JIRA: "the reporter has no email address in the payload (Jira leaves it out when the "
    "person's profile visibility hides it)",
    Tool.SERVICENOW: "the caller (or requested_for) has no email address in the payload",
    Tool.ZENDESK: "the requester has no email address in the payload",
}


def department_for(company: Company, ticket: ResolvedTicket) -> Department | None:
    """The department that claims the ticket's owner; ids win over names (checked first)."""
    for owner in ticket.owners:
        wanted = owner.casefold()
        for department in company.departments:
            mapping = department.helpdesk.mapping(ticket.tool)
            if mapping is not None and wanted in {c.casefold() for c in mapping.claims}:
                return department
    return None


def to_interaction(company: Company, ticket: ResolvedTicket) -> InteractionIn | Ignored:
    """The interaction to record for this resolution, or why there is none.

    A service value that maps to none of the department's services is not a reason to drop
    the feedback: the interaction is recorded without a service, and the log says so."""
    # core.intake imports the departments, which import this module: import it when used.
    from core.intake import InteractionIn, PersonIn

    department = department_for(company, ticket)
    if department is None:
        owners = ", ".join(repr(o) for o in ticket.owners) or "(none)"
        return Ignored(
            f"no department's helpdesk.{ticket.tool.value}.{_CLAIM_FIELD[ticket.tool]} "
            f"lists {owners}"
        )
    if not ticket.requester_email:
        return Ignored(_NO_EMAIL[ticket.tool])
    mapping = department.helpdesk.mapping(ticket.tool)
    assert mapping is not None
    field_name = mapping.service_source
    values = ticket.values_of(field_name) if field_name else ()
    service = mapping.service_for(values, department)
    if values and service is None:
        # The values themselves stay out of the log: a free-text field may hold anything.
        log.info(
            "%s %s: its %s maps to none of %s's services; recorded without a service",
            ticket.tool.value,
            ticket.ticket,
            field_name,
            department.key,
        )
    try:
        requester = PersonIn(email=ticket.requester_email)
    except ValidationError:
        return Ignored("the requester's email address is not a valid address")
    try:
        provider = PersonIn(email=ticket.provider_email) if ticket.provider_email else None
    except ValidationError:
        provider = None  # an odd assignee address must not cost the requester's feedback
    return InteractionIn(
        department=department.key,
        service=service,
        requester=requester,
        provider=provider,
        source=ticket.tool.value,
        reference=ticket.reference,
        occurred_at=ticket.occurred_at,
    )


def field_texts(value: Any) -> tuple[str, ...]:
    """A ticket field's value as text: a string, a number, an option (`value` or `name`), or a
    list of these (Jira components, multi-selects, labels)."""
    if value is None or isinstance(value, bool):
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, dict):
        for key in ("value", "name", "display_value"):
            if key in value:
                return field_texts(value[key])
        return ()
    if isinstance(value, list):
        return tuple(text for item in value for text in field_texts(item))
    return ()


def words(value: str) -> tuple[str, ...]:
    """Space-separated tokens, as Zendesk renders `{{ticket.tags}}`."""
    return tuple(value.split())
