"""Which helpdesk tickets belong to which department: the `helpdesk:` part of a department in
the departments YAML (Jira projects, ServiceNow assignment groups, Zendesk groups), which field
names the service, and how values of that field map to the department's services."""

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JiraMapping(_Strict):
    projects: tuple[str, ...] = Field(min_length=1)


class ServiceNowMapping(_Strict):
    assignment_groups: tuple[str, ...] = Field(min_length=1)


class ZendeskMapping(_Strict):
    groups: tuple[str, ...] = Field(min_length=1)


class Helpdesks(_Strict):
    jira: JiraMapping | None = None
    servicenow: ServiceNowMapping | None = None
    zendesk: ZendeskMapping | None = None


def check_unambiguous(departments: list[tuple[str, Helpdesks]]) -> None:
    """Raises ValueError when two departments claim the same project, group or assignment group."""
