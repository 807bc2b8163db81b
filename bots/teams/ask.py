"""Asking for feedback from Teams, where the service happened: the "Ask for feedback" action on a
message (a messaging-extension action: fetchTask opens the form, submitAction asks its author)
and the icx-ask command with an @mention. The provider is whoever invoked it, and must be a
member of the department; core.asks and the intake decide everything else."""

import hashlib
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity

from bots.teams import cards, references, task_cards
from bots.teams.directory import TeamsDirectory
from bots.teams.package import ASK_ACTION, ASK_COMMAND
from core import ask_help_text as words
from core import ask_text
from core.ask_command import Unclear, choose
from core.ask_text import not_a_member, outcome_text
from core.asks import Ask, ask, departments_of
from core.context import Icx
from core.departments import AAD_OBJECT_ID, EMAIL, Department
from core.i18n import Translator, negotiate, translator
from core.intake import PersonIn
from core.ports import Person

log = logging.getLogger(__name__)

FETCH_TASK = "composeExtension/fetchTask"
SUBMIT_ACTION = "composeExtension/submitAction"
SOURCE = "teams-ask"
REFERENCE_MAX = 200  # the interaction's column
# Identities Teams can prompt: people of the organisation (guests and people of other
# organisations, "anonymousGuest" and "federatedUser", cannot install the app here).
PEOPLE = (None, "aadUser", "onPremiseAadUser")
_TAGS = re.compile(r"<[^>]+>")
_AAD = re.compile(AAD_OBJECT_ID)
_EMAIL = re.compile(EMAIL)

MemberOf = Callable[[TurnContext], Awaitable[tuple[str | None, str | None]]]


@dataclass(frozen=True)
class AskedMessage:
    """The message the action was invoked on: its id and its author, who can be asked when
    `author_id` (their Entra object id, lowercase as Teams writes it) is known."""

    message_id: str
    author_id: str | None
    author_name: str
    by_app: bool = False


def asked_message(value: Any) -> AskedMessage | None:
    """From `value.messagePayload`; None when there is none (not invoked on a message)."""
    payload = references.mapping(references.mapping(value).get("messagePayload"))
    message_id = payload.get("id")
    if not isinstance(message_id, str) or not message_id:
        return None
    sender = references.mapping(payload.get("from"))
    user = references.mapping(sender.get("user"))
    author, name = user.get("id"), user.get("displayName")
    shown = name if isinstance(name, str) and name else ""
    if not user:
        # A bot, a workflow or a webhook posted it (`from.application`).
        return AskedMessage(message_id, None, shown, by_app=True)
    if user.get("userIdentityType") not in PEOPLE or not isinstance(author, str):
        return AskedMessage(message_id, None, shown)
    if not _AAD.fullmatch(author):
        return AskedMessage(message_id, None, shown)
    return AskedMessage(message_id, author.lower(), shown or author)


def reference_for(activity: Activity, message_id: str) -> str:
    """Unique per message: Teams message ids are unique within a conversation. A personal chat's
    id is long, so past the column's length the conversation is shortened to a digest rather
    than cut (which could drop the message id)."""
    conversation = references.channel_id(activity) or ""
    reference = f"{conversation}/{message_id}"
    if len(reference) <= REFERENCE_MAX:
        return reference
    digest = hashlib.sha256(conversation.encode()).hexdigest()[:32]
    return f"{digest}/{message_id}"[:REFERENCE_MAX]


@dataclass(frozen=True)
class Typed:
    """An icx-ask command: whom (an @mention's Teams id and name, or an email) and the rest."""

    mention_id: str | None
    name: str
    email: str | None
    rest: str


def parse_command(activity: Activity) -> Typed:
    """The first @mention that is not the bot names the person; every mention tag is taken out
    of the text, so a name is never read as a service."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    mention: tuple[str, str] | None = None
    for entity in activity.entities or []:
        properties = references.mapping(entity.additional_properties)
        tag, mentioned = properties.get("text"), references.mapping(properties.get("mentioned"))
        if entity.type != "mention" or not isinstance(tag, str):
            continue
        who = mentioned.get("id")
        if who != bot_id and mention is None and isinstance(who, str) and who:
            name = mentioned.get("name")
            mention = (who, name if isinstance(name, str) else "")
        text = text.replace(tag, " ", 1)
    typed = html.unescape(_TAGS.sub(" ", text)).split()[1:]  # the first word is the command
    email = None
    if mention is None and typed and _EMAIL.fullmatch(typed[0]):
        email, typed = typed[0], typed[1:]
    rest = " ".join(typed)
    if mention is not None:
        return Typed(mention[0], mention[1], None, rest)
    return Typed(None, email or "", email, rest)


class TeamsAsk:
    def __init__(self, icx: Icx, directory: TeamsDirectory, member_of: MemberOf) -> None:
        self.icx = icx
        self._directory = directory
        # The bot's own look-up of the sender's email, cached per person.
        self._member_of = member_of

    async def provider(self, context: TurnContext) -> Person | None:
        """The invoker as the core knows people: found by Entra object id, with the email the
        departments file may list them by (asked of Teams when they never installed the app)."""
        aad = references.aad_id(context.activity)
        if aad is None or not _AAD.fullmatch(aad):
            return None
        person = await self._directory.by_id(aad)
        if person is None or person.email:
            return person
        email, _ = await self._member_of(context)
        return replace(person, email=email) if email else person

    async def _departments(self, context: TurnContext) -> tuple[Person | None, list[Department]]:
        person = await self.provider(context)
        if person is None:
            return None, []
        return person, departments_of(self.icx.company, person)

    # --- the message action ------------------------------------------------------------------

    async def on_invoke(self, context: TurnContext) -> dict[str, Any] | None:
        """The answer to fetchTask or submitAction; None for a command icx does not have."""
        activity = context.activity
        value = references.mapping(activity.value)
        if value.get("commandId") != ASK_ACTION:
            return None
        t = translator(negotiate(activity.locale))
        provider, departments = await self._departments(context)
        if provider is None or not departments:
            return task_cards.message(not_a_member([], t))
        asked = asked_message(value)
        if asked is None or asked.by_app:
            return task_cards.message(ask_text.not_a_person(t))
        if asked.author_id is None:
            return task_cards.message(words.not_a_colleague(asked.author_name, t))
        if asked.author_id == provider.user_id:
            # Refused before the form opens, and nothing is recorded.
            return task_cards.message(ask_text.cannot_ask_yourself(t))
        if activity.name == FETCH_TASK:
            form = task_cards.ask_form(departments, asked.author_name, t)
            return task_cards.continue_with(words.action_title(t), form)
        data = references.mapping(value.get("data"))
        answer = await self._submit(activity, data, provider, departments, asked, t)
        return task_cards.message(answer)

    async def _submit(
        self,
        activity: Activity,
        data: dict[str, Any],
        provider: Person,
        departments: list[Department],
        asked: AskedMessage,
        t: Translator,
    ) -> str:
        assert asked.author_id is not None
        department = next(
            (d for d in departments if d.key == data.get(task_cards.DEPARTMENT)), None
        )
        if department is None:
            # Removed from the department since the form opened, or a department never offered.
            return not_a_member([d.display_name(t.locale) for d in departments], t)
        chosen = data.get(task_cards.SERVICE)
        service: str | None = None
        if isinstance(chosen, str) and chosen:
            owner, _, key = chosen.partition(task_cards.SEPARATOR)
            found = department.service(key) if owner == department.key else None
            if found is None:
                return words.service_elsewhere(
                    _service_title(chosen, departments, t), department, t
                )
            service = found.key
        request = Ask(
            department=department,
            service=service,
            requester=PersonIn(teams_aad_object_id=asked.author_id),
            provider=provider,
            source=SOURCE,
            reference=reference_for(activity, asked.message_id),
        )
        outcome = await ask(self.icx, request)
        return outcome_text(outcome, asked.author_name, department, t)

    # --- the command ---------------------------------------------------------------------------

    async def command(self, context: TurnContext) -> cards.Card:
        """The answer to `icx-ask @person [service]`, as a card for the chat."""
        activity = context.activity
        t = translator(negotiate(activity.locale))
        title = words.action_title(t)
        provider, departments = await self._departments(context)
        if provider is None or not departments:
            return task_cards.notice_card(title, [not_a_member([], t)])
        typed = parse_command(activity)
        if typed.mention_id is None and typed.email is None:
            usage = ask_text.usage(ASK_COMMAND, departments[0].key, t)
            return task_cards.notice_card(title, [usage, words.action_hint(title, t)])
        # How to name a department, for a member of several: with the person just mentioned.
        who = f"@{typed.name}" if typed.mention_id else typed.email
        example = f"{ASK_COMMAND} {who} {departments[0].key}"
        chosen = choose(self.icx.company, departments, typed.rest, example, t)
        if isinstance(chosen, Unclear):
            return task_cards.notice_card(title, [chosen.message])
        department, service = chosen.department, chosen.service
        requester, shown = await self._requester(context, typed)
        if requester is None:
            return task_cards.notice_card(title, [words.person_not_found(shown, t)])
        if requester.teams_aad_object_id == provider.user_id:
            return task_cards.notice_card(title, [ask_text.cannot_ask_yourself(t)])
        request = Ask(
            department=department,
            service=service.key if service else None,
            requester=requester,
            provider=provider,
            source=SOURCE,
            reference=reference_for(activity, activity.id or ""),
        )
        outcome = await ask(self.icx, request)
        return task_cards.notice_card(title, [outcome_text(outcome, shown, department, t)])

    async def _requester(self, context: TurnContext, typed: Typed) -> tuple[PersonIn | None, str]:
        """Whom to ask, and how to show them. A mention carries only the Teams id (29:…): the
        Entra object id comes from the conversation's member list."""
        if typed.email is not None:
            return PersonIn(email=typed.email), typed.email
        assert typed.mention_id is not None
        try:
            member = await TeamsInfo.get_member(context, typed.mention_id)
        except Exception as error:  # a tag or a channel mention, or someone not in the team
            log.info("an icx-ask mention is not a member: %s", type(error).__name__)
            return None, typed.name
        aad = member.aad_object_id
        if not isinstance(aad, str) or not _AAD.fullmatch(aad):
            return None, typed.name
        return PersonIn(teams_aad_object_id=aad.lower()), member.name or typed.name


def _service_title(value: str, departments: list[Department], t: Translator) -> str:
    """A submitted service choice as the form showed it; an unknown one as sent."""
    owner, _, key = value.partition(task_cards.SEPARATOR)
    department = next((d for d in departments if d.key == owner), None)
    service = department.service(key) if department else None
    if department is None or service is None:
        return value
    return department.service_name(service, t.locale)
