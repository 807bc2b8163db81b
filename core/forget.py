"""Erasing one person on request (GUIDE §6, `icx forget`).

Respondents are stored only as keyed hashes of their chat identity, so a person is found by
computing those keys again. Everything that points at them goes: their responses (comments
included), the prompts sent to them, the interactions in which they were the requester (a
ticket reference, or the provider named with it, leads back to the person as surely as a user
id), their opt-out, and the Teams conversation reference that lets icx write to them. Where
they were only the provider of someone else's interaction, that interaction is the other
person's feedback: it stays, without the provider reference.
"""

import re
from dataclasses import dataclass, fields

from sqlalchemy import func
from sqlmodel import col, delete, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from core.context import Icx
from core.departments import AAD_OBJECT_ID, EMAIL, SLACK_USER, Company
from core.ports import DirectoryUnavailable
from storage.aggregates import forget_contributions
from storage.models import Dispatch, Interaction, OptOut, Prompt, Response, TeamsConversation
from storage.teams_conversations import USER, TeamsConversations, user_key

# The claim of a low-answer alert names the answer's prompt (core/digester.py).
LOW_ALERT = "low_alert"


class ForgetError(ValueError):
    """The request cannot be carried out as given; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    platform: str  # "slack" or "teams"
    user_id: str  # a Slack user id, or a lowercase Microsoft Entra object id

    @property
    def address(self) -> str:
        # How a provider is stored (core.ports.Person.address).
        return f"{self.platform}:{self.user_id}"


def slack_user(user_id: str) -> Identity:
    if not re.fullmatch(SLACK_USER, user_id):
        raise ForgetError(f"{user_id!r} is not a Slack user id; it looks like U012AB3CD")
    return Identity("slack", user_id)


def teams_user(aad_object_id: str) -> Identity:
    if not re.fullmatch(AAD_OBJECT_ID, aad_object_id):
        raise ForgetError(
            f"{aad_object_id!r} is not a Microsoft Entra object id; it looks like "
            "0f6c2f7e-5d4b-4a39-8e21-000000000001"
        )
    return Identity("teams", user_key(aad_object_id))


def email_address(email: str) -> str:
    if not re.fullmatch(EMAIL, email):
        raise ForgetError(f"{email!r} is not an email address")
    return email.casefold()


@dataclass(frozen=True)
class Resolution:
    """Who an email address is on each platform, and what each directory said."""

    identities: tuple[Identity, ...]
    notes: tuple[str, ...]


async def resolve_email(icx: Icx, email: str) -> Resolution:
    """Asks Slack (users.lookupByEmail) and the stored Teams references. Raises ForgetError when
    a directory cannot be asked now: an erasure must not silently miss a platform."""
    identities: list[Identity] = []
    notes: list[str] = []
    slack = icx.directories.get("slack")
    if slack is None:
        notes.append("Slack: not configured, not asked")
    else:
        try:
            person = await slack.by_email(email)
        except DirectoryUnavailable as error:
            raise ForgetError(
                f"Slack cannot be asked now ({error}); try again, or use --slack-user"
            ) from error
        if person is None:
            # users.lookupByEmail finds no deactivated account: a leaver needs their id.
            notes.append(
                "Slack: no active member with this email (a deactivated account cannot be "
                "looked up by email: use --slack-user U… from the workspace's member list)"
            )
        else:
            identities.append(Identity("slack", person.user_id))
            notes.append(f"Slack: {person.user_id}")
    found = await TeamsConversations(icx.db).user_by_email(email)
    if found is None:
        notes.append(
            "Teams: nobody with this email has installed the icx app (if they answered in "
            "Teams and have since removed it, use --teams-user <Entra object id>)"
        )
    else:
        identities.append(Identity("teams", found.key))
        notes.append(f"Teams: {found.key}")
    return Resolution(tuple(identities), tuple(notes))


@dataclass(frozen=True)
class ForgetReport:
    """How many of each kind were removed (or, in a dry run, would be)."""

    responses: int = 0
    prompts: int = 0
    interactions: int = 0
    opt_outs: int = 0
    teams_conversations: int = 0
    provider_references: int = 0  # cleared on other people's interactions, which stay
    alert_records: int = 0  # claims of low-answer alerts about their answers

    def counts(self) -> list[tuple[str, int]]:
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts())


@dataclass(frozen=True)
class _Found:
    response_ids: list[int]
    prompt_ids: list[str]
    interaction_ids: list[int]


async def _find(session: AsyncSession, keys: list[str]) -> _Found:
    requested = select(Interaction.id).where(col(Interaction.requester_key).in_(keys))
    prompts = (
        await session.exec(
            select(Prompt.id, Prompt.interaction_id).where(
                or_(col(Prompt.recipient_key).in_(keys), col(Prompt.interaction_id).in_(requested))
            )
        )
    ).all()
    prompt_ids = {p for p, _ in prompts}
    answers = (
        await session.exec(
            select(Response.id, Response.prompt_id).where(
                or_(
                    col(Response.respondent_key).in_(keys),
                    col(Response.prompt_id).in_(list(prompt_ids)),
                )
            )
        )
    ).all()
    # A response always belongs to the person's own prompt; the union only makes sure that
    # nothing is left pointing at a deleted row should the keys ever disagree.
    missing = {p for _, p in answers} - prompt_ids
    if missing:
        extra = (
            await session.exec(
                select(Prompt.id, Prompt.interaction_id).where(col(Prompt.id).in_(list(missing)))
            )
        ).all()
        prompts = [*prompts, *extra]
        prompt_ids |= missing
    interaction_ids = set((await session.exec(requested)).all()) | {i for _, i in prompts}
    return _Found(
        sorted(r for r, _ in answers if r is not None),
        sorted(prompt_ids),
        sorted(i for i in interaction_ids if i is not None),
    )


async def _count(session: AsyncSession, query: object) -> int:
    return int((await session.exec(query)).one())  # type: ignore[call-overload]


async def forget(
    icx: Icx, identities: list[Identity], emails: list[str] | None = None, *, dry_run: bool = False
) -> ForgetReport:
    """Removes everything stored about these identities (one person, possibly on both
    platforms), in one transaction; with dry_run only counts."""
    if not identities and not emails:
        raise ForgetError("name the person: --slack-user, --teams-user or --email")
    keys = sorted({icx.keyer.key(i.platform, i.user_id) for i in identities})
    aad_ids = sorted({i.user_id for i in identities if i.platform == "teams"})
    folded = sorted({e.casefold() for e in emails or []})
    # Compared in lower case: intake stores an unresolved provider's email as it was given.
    provider_refs = sorted({i.address.lower() for i in identities} | {e.lower() for e in folded})
    async with icx.db.transaction() as session:
        found = await _find(session, keys)
        theirs = or_(
            (col(TeamsConversation.kind) == USER) & col(TeamsConversation.key).in_(aad_ids),
            (col(TeamsConversation.kind) == USER) & col(TeamsConversation.email).in_(folded),
        )
        provided = (func.lower(col(Interaction.provider_ref)).in_(provider_refs)) & col(
            Interaction.id
        ).not_in(found.interaction_ids)
        alerts = (col(Dispatch.kind) == LOW_ALERT) & col(Dispatch.subject).in_(found.prompt_ids)
        report = ForgetReport(
            responses=len(found.response_ids),
            prompts=len(found.prompt_ids),
            interactions=len(found.interaction_ids),
            opt_outs=await _count(
                session,
                select(func.count())
                .select_from(OptOut)
                .where(col(OptOut.respondent_key).in_(keys)),
            ),
            teams_conversations=await _count(
                session, select(func.count()).select_from(TeamsConversation).where(theirs)
            ),
            provider_references=await _count(
                session, select(func.count()).select_from(Interaction).where(provided)
            ),
            alert_records=await _count(
                session, select(func.count()).select_from(Dispatch).where(alerts)
            ),
        )
        if dry_run:
            return report
        # The daily sums behind the scores lose exactly what these rows added to them, in this
        # transaction: a score never counts an answer that no longer exists. It also locks the
        # prompts, so that no tap adds an answer to them from here on.
        await forget_contributions(session, found.prompt_ids)
        await session.exec(delete(Dispatch).where(alerts))
        # Children before parents: response -> prompt -> interaction. By prompt too: an answer
        # given between the look-up above and the lock goes with its prompt.
        await session.exec(
            delete(Response).where(
                or_(
                    col(Response.id).in_(found.response_ids),
                    col(Response.prompt_id).in_(found.prompt_ids),
                )
            )
        )
        await session.exec(delete(Prompt).where(col(Prompt.id).in_(found.prompt_ids)))
        await session.exec(
            delete(Interaction).where(col(Interaction.id).in_(found.interaction_ids))
        )
        await session.exec(delete(OptOut).where(col(OptOut.respondent_key).in_(keys)))
        await session.exec(delete(TeamsConversation).where(theirs))
        await session.exec(update(Interaction).where(provided).values(provider_ref=None))
    return report


def configured_mentions(
    company: Company, identities: list[Identity], emails: list[str]
) -> list[str]:
    """Where the departments file still names the person: icx cannot edit it, the operator
    must (segments, leaders, members)."""
    wanted = {i.user_id.casefold() for i in identities} | {e.casefold() for e in emails}
    places: list[str] = []
    for segment, people in company.directory.segments.items():
        if wanted & {p.casefold() for p in people}:
            places.append(f"directory.segments.{segment}")
    for department in company.departments:
        if wanted & {p.casefold() for p in department.leaders}:
            places.append(f"departments.{department.key}.leaders")
        members = department.members
        listed = {*members.slack_users, *members.teams_users, *members.emails}
        if wanted & {p.casefold() for p in listed}:
            places.append(f"departments.{department.key}.members")
    return places
