"""Recording a delivered service and deciding whether to prompt its requester.

Every way an interaction arrives (intake API, later help channels and webhooks) ends here, so
policy, idempotency and refusals are the same everywhere.
"""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select, update

from core.context import Icx
from core.domain import PromptStatus, SkipReason
from core.policy import throttle_reason
from core.ports import Person
from storage.inserts import insert_row
from storage.locks import lock_for_transaction
from storage.models import Interaction, Prompt

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$"


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack_user_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,20}$")
    teams_aad_object_id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
    )
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=320)

    @model_validator(mode="after")
    def _exactly_one(self) -> "PersonIn":
        given = [v for v in (self.slack_user_id, self.teams_aad_object_id, self.email) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of slack_user_id, teams_aad_object_id or email")
        return self


class InteractionIn(BaseModel):
    """The public intake contract (README: Intake API)."""

    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=64)
    service: str | None = Field(default=None, min_length=1, max_length=64)
    requester: PersonIn
    provider: PersonIn | None = None
    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    reference: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime | None = None


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class IntakeRejected(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class IntakeOutcome:
    interaction_id: int
    created: bool
    prompt_id: str | None
    status: str  # "scheduled", "skipped", or the prompt's later status on a re-post
    reason: SkipReason | None


def _validate_against_company(icx: Icx, request: InteractionIn) -> None:
    problems: list[FieldProblem] = []
    department = icx.company.department(request.department)
    if department is None:
        known = ", ".join(d.key for d in icx.company.departments)
        problems.append(FieldProblem("department", f"unknown department; known: {known}"))
    elif request.service is not None and department.service(request.service) is None:
        known = ", ".join(s.key for s in department.services) or "(none configured)"
        problems.append(
            FieldProblem("service", f"unknown service of {department.key}; known: {known}")
        )
    for role, person in (("requester", request.requester), ("provider", request.provider)):
        if person is None:
            continue
        if person.slack_user_id and "slack" not in icx.directories:
            problems.append(FieldProblem(f"{role}.slack_user_id", "Slack is not connected"))
        if person.teams_aad_object_id and "teams" not in icx.directories:
            problems.append(
                FieldProblem(f"{role}.teams_aad_object_id", "Microsoft Teams is not connected")
            )
    if problems:
        raise IntakeRejected(problems)


async def resolve(icx: Icx, ref: PersonIn) -> Person | None:
    if ref.slack_user_id:
        return await icx.directories["slack"].by_id(ref.slack_user_id)
    if ref.teams_aad_object_id:
        return await icx.directories["teams"].by_id(ref.teams_aad_object_id)
    for directory in icx.directories.values():
        assert ref.email is not None
        found = await directory.by_email(ref.email)
        if found is not None:
            return found
    return None


def _same_person(
    requester: Person | None, req_ref: PersonIn, provider: Person | None, prov_ref: PersonIn | None
) -> bool:
    if prov_ref is None:
        return False
    if requester is not None and provider is not None and requester.address == provider.address:
        return True
    emails = {
        (e or "").casefold() for e in (req_ref.email, requester.email if requester else None) if e
    }
    provider_emails = {
        e.casefold() for e in (prov_ref.email, provider.email if provider else None) if e
    }
    return bool(emails & provider_emails)


def _provider_ref(provider: Person | None, ref: PersonIn | None) -> str | None:
    if provider is not None:
        return provider.address
    return ref.email if ref is not None else None


_INTERACTION = Interaction.__table__  # type: ignore[attr-defined]
_PROMPT = Prompt.__table__  # type: ignore[attr-defined]
# Asked of every intake: built once.
_EXISTING = (
    sa.select(_INTERACTION.c.id, _PROMPT.c.id, _PROMPT.c.status, _PROMPT.c.skip_reason)
    .join_from(_INTERACTION, _PROMPT, _PROMPT.c.interaction_id == _INTERACTION.c.id)
    .where(
        _INTERACTION.c.source == sa.bindparam("source"),
        _INTERACTION.c.reference == sa.bindparam("reference"),
    )
)


async def _existing(icx: Icx, source: str, reference: str) -> IntakeOutcome | None:
    async with icx.db.engine.connect() as connection:
        found = await connection.execute(_EXISTING, {"source": source, "reference": reference})
        row = found.first()
    if row is None:
        return None
    interaction_id, prompt_id, prompt_status, skip_reason = row
    status = "scheduled" if prompt_status == PromptStatus.PENDING else prompt_status
    reason = SkipReason(skip_reason) if skip_reason else None
    return IntakeOutcome(interaction_id, False, prompt_id, status, reason)


async def record_interaction(
    icx: Icx, request: InteractionIn, *, send_after: datetime | None = None
) -> IntakeOutcome:
    """Records the interaction once per source+reference and schedules its prompt (not before
    `send_after`, when given: a grace period in which the trigger may still be withdrawn)."""
    _validate_against_company(icx, request)
    existing = await _existing(icx, request.source, request.reference)
    if existing is not None:
        return existing

    # Remote look-ups happen before the transaction so no database lock waits on Slack.
    requester = await resolve(icx, request.requester)
    provider = await resolve(icx, request.provider) if request.provider else None
    now = icx.clock()
    try:
        outcome = await _insert(icx, request, requester, provider, now, send_after)
    except IntegrityError:
        # A concurrent post of the same source+reference won the race; answer with its result.
        existing = await _existing(icx, request.source, request.reference)
        if existing is None:
            raise
        return existing
    if outcome.status == "scheduled":
        icx.on_prompt_scheduled()
    return outcome


async def _insert(
    icx: Icx,
    request: InteractionIn,
    requester: Person | None,
    provider: Person | None,
    now: datetime,
    send_after: datetime | None = None,
) -> IntakeOutcome:
    department = icx.company.department(request.department)
    assert department is not None
    policy = icx.company.policy
    key = icx.keyer.key(requester.platform, requester.user_id) if requester else None
    # Two interactions for one person arriving together must not both pass the cooldown and
    # the weekly budget: the check and the insert take turns per person, in this process and
    # (PostgreSQL) across replicas.
    turn = icx.person_locks.hold(key) if key is not None else nullcontext()
    async with turn, icx.db.connection() as connection:
        if key is not None:
            await lock_for_transaction(connection, icx.db.dialect, key)
        reason: SkipReason | None
        if requester is None:
            reason = _not_found_reason(icx, request.requester)
        elif not requester.reachable:
            reason = SkipReason.UNREACHABLE
        elif requester.is_bot:
            reason = SkipReason.BOT
        elif _same_person(requester, request.requester, provider, request.provider):
            reason = SkipReason.REQUESTER_IS_PROVIDER
        else:
            assert key is not None
            reason = await throttle_reason(connection, policy, key, department.key, now)
        interaction = Interaction(
            department=department.key,
            service=request.service,
            source=request.source,
            reference=request.reference,
            requester_key=key,
            provider_ref=_provider_ref(provider, request.provider),
            occurred_at=request.occurred_at or now,
            created_at=now,
        )
        interaction.id = await insert_row(connection, interaction, returning="id")
        scheduled = reason is None and requester is not None
        prompt = Prompt(
            id=uuid.uuid4().hex,
            interaction_id=interaction.id,
            department=department.key,
            service=request.service,
            platform=requester.platform if requester else _platform_of(request.requester),
            recipient_key=key,
            recipient_address=requester.user_id if scheduled and requester else None,
            segment=icx.company.directory.segment_of(
                requester.user_id if requester else None,
                requester.email if requester else None,
                request.requester.email,
            ),
            locale=requester.locale if requester else None,
            status=PromptStatus.PENDING if scheduled else PromptStatus.SKIPPED,
            skip_reason=reason.value if reason else None,
            next_attempt_at=max(now, send_after or now) if scheduled else None,
            created_at=now,
            expires_at=now + policy.expiry,
        )
        await insert_row(connection, prompt)
    assert interaction.id is not None
    return IntakeOutcome(
        interaction.id, True, prompt.id, "scheduled" if scheduled else "skipped", reason
    )


def _not_found_reason(icx: Icx, ref: PersonIn) -> SkipReason:
    # An email none of the directories matched may still be a colleague who simply has not
    # installed the app on a platform that only knows those who did.
    partial = any(not d.knows_everyone for d in icx.directories.values())
    return SkipReason.UNREACHABLE if ref.email and partial else SkipReason.UNKNOWN_USER


def _platform_of(ref: PersonIn) -> str:
    if ref.teams_aad_object_id:
        return "teams"
    return "slack"


async def cancel_unsent(icx: Icx, source: str, reference: str) -> bool:
    """Withdraws the prompt of source+reference if it has not been sent and no sender holds it;
    True when it was withdrawn. A prompt already on its way is left alone: too late."""
    now = icx.clock()
    async with icx.db.transaction() as session:
        interaction_id = (
            await session.exec(
                select(Interaction.id).where(
                    Interaction.source == source, Interaction.reference == reference
                )
            )
        ).first()
        if interaction_id is None:
            return False
        result = await session.exec(
            update(Prompt)
            .where(
                col(Prompt.interaction_id) == interaction_id,
                col(Prompt.status) == PromptStatus.PENDING,
                or_(col(Prompt.lease_until).is_(None), col(Prompt.lease_until) < now),
            )
            .values(
                status=PromptStatus.SKIPPED,
                skip_reason=SkipReason.CANCELLED.value,
                next_attempt_at=None,
                recipient_address=None,
                erased_at=now,
            )
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
