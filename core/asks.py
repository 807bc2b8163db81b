"""Asking a requester for feedback in a department's name, from where the service happened: a
resolution reaction in a help channel, the "Ask for feedback" action on a message, or the
`icx-ask` command. Only the department's members may do it; everything then goes through
core.intake, so policy, idempotency and refusals are those of the intake API."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from core.context import Icx
from core.departments import Company, Department
from core.intake import IntakeOutcome, InteractionIn, PersonIn, record_interaction
from core.ports import Person


def person_ref(person: Person) -> PersonIn:
    if person.platform == "teams":
        return PersonIn(teams_aad_object_id=person.user_id)
    return PersonIn(slack_user_id=person.user_id)


def departments_of(
    company: Company, person: Person, usergroups: Iterable[str] = ()
) -> list[Department]:
    """The departments that list this person as a member (directly, by email, or through one
    of the Slack user groups given, which the platform adapter looked up)."""
    groups = set(usergroups)
    return [
        d
        for d in company.departments
        if d.members.lists(person.platform, person.user_id, person.email)
        or groups & set(d.members.slack_usergroups)
    ]


@dataclass(frozen=True)
class Ask:
    """One request for feedback: `reference` is unique per source (e.g. channel + message ts),
    so asking twice about the same message asks once."""

    department: Department
    service: str | None
    requester: PersonIn
    provider: Person
    source: str
    reference: str


async def ask(icx: Icx, request: Ask, *, send_after: datetime | None = None) -> IntakeOutcome:
    interaction = InteractionIn(
        department=request.department.key,
        service=request.service,
        requester=request.requester,
        provider=person_ref(request.provider),
        source=request.source,
        reference=request.reference[:200],
        occurred_at=icx.clock(),
    )
    return await record_interaction(icx, interaction, send_after=send_after)
