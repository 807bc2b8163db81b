"""The Teams bot: which activity calls which core operation, and what is shown after. Card taps
are answered in the invoke response itself, after the core has committed them."""

import html
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ActivityTypes, Attachment

from bots.teams import cards, references
from bots.teams.ask import ASK_COMMAND, FETCH_TASK, SUBMIT_ACTION, TeamsAsk
from bots.teams.directory import TeamsDirectory
from core import prompt_text as words
from core import score_command
from core.answers import Answers, Tap, TapOutcome, TapResult
from core.context import Icx
from core.i18n import Translator, negotiate, translator
from core.leaders import Asker
from core.score_text import ScoreText
from storage.teams_conversations import Conversation, TeamsConversations

log = logging.getLogger(__name__)

COMMAND = "icx-score"
CARD_ACTION = "adaptiveCard/action"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
REMEMBERED = 10_000  # conversations whose stored reference is known to be current
_TAGS = re.compile(r"<[^>]+>")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _choice(value: Any) -> int:
    """A button's value: an integer, or its digits as text; true, 4.7 or 1e999 are not."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 4:
        return int(value)
    raise ValueError(f"not a choice: {value!r}")


def command_text(activity: Activity) -> str:
    """What the person typed, without the bot's @mention and Teams' HTML. (botbuilder's
    remove_recipient_mention deletes the bot's name everywhere: "icx-score" became "-score".)"""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        properties = references.mapping(entity.additional_properties)
        tag = properties.get("text")
        mentioned = references.mapping(properties.get("mentioned"))
        if entity.type == "mention" and mentioned.get("id") == bot_id and isinstance(tag, str):
            text = text.replace(tag, " ", 1)
    return " ".join(html.unescape(_TAGS.sub(" ", text)).split())


class TeamsBot:
    def __init__(
        self, icx: Icx, conversations: TeamsConversations, tenants: frozenset[str] = frozenset()
    ) -> None:
        self.icx = icx
        # Only these Microsoft 365 organisations are served (empty: any, which start-up warns).
        self._tenants = tenants
        self.answers = Answers(icx)
        self._conversations = conversations
        self._remembered: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.asks = TeamsAsk(icx, TeamsDirectory(conversations), self._member_of)
        self._verbs: dict[str, Callable[[Tap, dict[str, Any]], Any]] = {
            cards.CSAT: lambda tap, data: self.answers.satisfaction(tap, _choice(data["value"])),
            cards.CES: lambda tap, data: self.answers.effort(tap, _choice(data["value"])),
            cards.DETAILS: self._details,
            cards.SNOOZE: lambda tap, _: self.answers.snooze(tap),
            cards.CHANGE_CSAT: lambda tap, _: self.answers.current(tap),
            cards.CHANGE_CES: lambda tap, _: self.answers.current(tap),
        }

    async def on_turn(self, context: TurnContext) -> None:
        activity = context.activity
        if not self._serves(activity):
            # Another organisation's user installed a copy of the app: nothing is stored or
            # answered, and their taps are nobody's.
            log.warning("ignored a Teams activity from tenant %s", references.tenant_id(activity))
            if activity.type == ActivityTypes.invoke and activity.name == CARD_ACTION:
                t = translator(negotiate(activity.locale))
                await self._answer_invoke(
                    context, MESSAGE_RESPONSE, words.refusal(TapResult.UNKNOWN, t)
                )
            return
        if activity.type == ActivityTypes.invoke:
            if activity.name == CARD_ACTION:
                await self._on_card_action(context)
            elif activity.name in (FETCH_TASK, SUBMIT_ACTION):
                answer = await self.asks.on_invoke(context)
                if answer is not None:
                    await self._send_invoke_response(context, answer)
            return  # other invokes: the adapter answers 501 Not Implemented
        if activity.type == ActivityTypes.installation_update:
            if activity.action in ("add", "add-upgrade"):
                await self._remember(context, changed=True)
            elif activity.action in ("remove", "remove-upgrade"):
                await self._forget(activity)
        elif activity.type == ActivityTypes.conversation_update:
            await self._on_conversation_update(context)
        elif activity.type == ActivityTypes.message:
            await self._remember(context)
            await self._on_message(context)

    # --- conversation references ---------------------------------------------------------

    def _serves(self, activity: Activity) -> bool:
        tenant = references.tenant_id(activity)
        return not self._tenants or (tenant is not None and tenant.lower() in self._tenants)

    async def _on_conversation_update(self, context: TurnContext) -> None:
        activity = context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        removed = [m.id for m in activity.members_removed or []]
        if bot_id is not None and bot_id in removed:
            await self._forget(activity)
        else:
            await self._remember(context, changed=True)

    async def _remember(self, context: TurnContext, changed: bool = False) -> None:
        """Keeps the conversation's reference current; a failure is logged, and the person's
        message is still answered."""
        try:
            await self._capture(context, changed)
        except Exception:
            log.exception("could not store a Teams conversation reference")

    async def _capture(self, context: TurnContext, changed: bool) -> None:
        activity = context.activity
        channel = references.of_channel(activity)
        if channel is not None:
            await self._store(channel, changed)
        if references.aad_id(activity) is None or not references.is_personal(activity):
            return
        email, name = await self._member_of(context)
        person = references.of_person(activity, email, name)
        assert person is not None
        await self._store(person, changed)

    async def _store(self, conversation: Conversation, changed: bool) -> None:
        """Writes only what changed: a busy person's every message need not touch the database.
        Install and membership events always write (another replica may have forgotten it)."""
        key = (conversation.kind, conversation.key)
        if not changed and self._remembered.get(key) == conversation.__dict__:
            self._remembered.move_to_end(key)
            return
        await self._conversations.remember(conversation, self.icx.clock())
        self._remembered[key] = dict(conversation.__dict__)
        if len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)

    async def _member_of(self, context: TurnContext) -> tuple[str | None, str | None]:
        """Email (so intake can name them by it) and name (to @mention them), asked once per
        person: an install carries neither."""
        key = ("user", references.aad_id(context.activity) or "")
        known = self._remembered.get(key)
        if known is not None and known.get("email"):
            return str(known["email"]), known.get("name")
        try:
            member = await TeamsInfo.get_member(context, context.activity.from_property.id)
        except Exception as error:  # the person is still reachable; only the details are missing
            log.warning("could not look up a Teams member's email: %s", type(error).__name__)
            return None, None
        return member.email or member.user_principal_name, member.name

    async def _forget(self, activity: Activity) -> None:
        team = references.team_id(activity)
        if team is not None:
            await self._conversations.forget_team(team)
            for key in [k for k, v in self._remembered.items() if v.get("team_id") == team]:
                del self._remembered[key]
            return
        person = references.aad_id(activity)
        if person is not None and references.is_personal(activity):
            await self._conversations.forget("user", person)
            self._remembered.pop(("user", person), None)

    # --- card taps --------------------------------------------------------------------------

    async def _on_card_action(self, context: TurnContext) -> None:
        activity = context.activity
        t = translator(negotiate(activity.locale))
        action = (activity.value or {}).get("action") if isinstance(activity.value, dict) else None
        action = action if isinstance(action, dict) else {}
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        verb = str(action.get("verb", ""))
        tap = Tap(
            platform="teams",
            user_id=references.aad_id(activity) or "",
            prompt_id=str(data.get("prompt", "")),
            channel_id=activity.conversation.id if activity.conversation else None,
            message_ts=activity.reply_to_id,
        )
        handler = self._verbs.get(verb)
        if handler is None:
            outcome = TapOutcome(TapResult.UNKNOWN)
        else:
            try:
                outcome = await handler(tap, data)
            except (KeyError, TypeError, ValueError):
                outcome = TapOutcome(TapResult.INVALID)
        if outcome.state is None:
            await self._answer_invoke(context, MESSAGE_RESPONSE, words.refusal(outcome.result, t))
            return
        state = outcome.state
        stage = verb.removeprefix("icx.change_") if verb.startswith("icx.change_") else None
        card = cards.card_for(state, translator(state.locale), stage)
        await self._answer_invoke(context, cards.CARD_TYPE, card)

    async def _details(self, tap: Tap, data: dict[str, Any]) -> TapOutcome:
        reasons = [r for r in str(data.get("reasons") or "").split(",") if r]
        comment = data.get("comment")
        return await self.answers.details(
            tap,
            comment if isinstance(comment, str) else None,
            _truthy(data.get("external_customer")),
            _truthy(data.get("contact_consent")),
            reasons,
        )

    @staticmethod
    async def _answer_invoke(context: TurnContext, kind: str, value: Any) -> None:
        body = {"statusCode": 200, "type": kind, "value": value}
        await TeamsBot._send_invoke_response(context, body)

    @staticmethod
    async def _send_invoke_response(context: TurnContext, body: dict[str, Any]) -> None:
        """The body goes back in the HTTP answer to the invoke (bots/teams/endpoint.py)."""
        await context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body)
            )
        )

    # --- commands ---------------------------------------------------------------------------

    async def _on_message(self, context: TurnContext) -> None:
        activity = context.activity
        t = translator(negotiate(activity.locale))
        typed = command_text(activity)
        first, _, rest = typed.partition(" ")
        word = first.casefold().lstrip("/")
        if word == ASK_COMMAND:
            card = await self.asks.command(context)
        elif word == COMMAND:
            asker = await self._asker(activity)
            answer = await score_command.answer(self.icx, rest, t, command=COMMAND, asker=asker)
            card = cards.score_card(answer)
        else:
            card = cards.score_card(await self._help(t))
        await context.send_activity(
            MessageFactory.attachment(Attachment(content_type=cards.CARD_TYPE, content=card))
        )

    async def _asker(self, activity: Activity) -> Asker:
        """Who typed, as Bot Framework vouches for them (the adapter checked the token), with
        the email stored when they installed the app; and where the answer will be read."""
        person = references.aad_id(activity) or ""
        known = await self._conversations.find("user", person) if person else None
        shared_in = None if references.is_personal(activity) else references.channel_id(activity)
        return Asker("teams", person, known.email if known else None, shared_in)

    async def _help(self, t: Translator) -> ScoreText:
        help_text = await score_command.answer(self.icx, "help", t, command=COMMAND)
        intro = t._(
            "I answer two commands: {ask} @person [service], with which department members ask "
            "a colleague how their department helped them, and {command}:",
            ask=ASK_COMMAND,
            command=COMMAND,
        )
        return ScoreText(help_text.title, [intro, *help_text.lines], help_text.footnote)
