"""Proactive messages in Teams: prompts to a person's personal chat and cards to a department's
channel, through the conversation references stored when the bot met them."""

import logging
from typing import Any

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, Attachment, ConversationReference

from bots.teams import cards, references
from bots.teams.errors import as_delivery_error
from bots.teams.pacing import ConversationPacer
from core import prompt_text as words
from core.i18n import translator
from core.ports import DeliveryError, MessageRef, PromptView
from storage.teams_conversations import CHANNEL, USER, TeamsConversations, user_key

log = logging.getLogger(__name__)

UNREACHABLE_CHANNEL_RETRY = 3600.0  # seconds


class TeamsMessenger:
    platform = "teams"

    def __init__(
        self,
        adapter: CloudAdapter,
        app_id: str,
        conversations: TeamsConversations,
        pacer: ConversationPacer | None = None,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._conversations = conversations
        self._pacer = pacer or ConversationPacer()

    async def deliver_prompt(self, view: PromptView) -> MessageRef:
        found = await self._conversations.find(USER, user_key(view.recipient))
        if found is None:
            raise DeliveryError(
                "unreachable: the person has not installed the icx app in Teams (or removed it)",
                permanent=True,
            )
        t = translator(view.locale)
        provider, mentions = await self._provider(view.provider)
        card = cards.satisfaction_card(
            view.prompt_id,
            view.department,
            view.service,
            provider,
            view.snooze_days,
            t,
            mentions=mentions,
        )
        text = words.satisfaction_question(view.department, view.service, t)
        return await self._send(references.deserialize(found.reference), card, text)

    async def post_card(self, channel_id: str, card: cards.Card, text: str) -> MessageRef:
        """A new post in a department's channel (digests, alerts)."""
        stored = await self._conversations.find(CHANNEL, channel_id)
        reference = (
            references.deserialize(stored.reference)
            if stored is not None
            else await self._derived_reference(channel_id)
        )
        if reference is None:
            # Not for good: once someone adds the app to the team, the next try gets through.
            raise DeliveryError(
                f"unreachable: icx has not been added to the team of channel {channel_id}",
                retry_after=UNREACHABLE_CHANNEL_RETRY,
                platform_wide=False,
            )
        try:
            return await self._send(reference, card, text)
        except DeliveryError as error:
            if stored is not None or not error.permanent:
                raise
            # A derived reference Teams refuses: most likely icx is not in that channel's team
            # yet, which someone can change; try again in an hour rather than never.
            raise DeliveryError(
                f"{error} (icx may not be in the team of channel {channel_id})",
                retry_after=UNREACHABLE_CHANNEL_RETRY,
                platform_wide=False,
            ) from error

    async def can_post(self, channel_id: str) -> bool:
        """Known for sure only for channels icx has seen (a team's General channel, or any
        channel where it was mentioned)."""
        return await self._conversations.find(CHANNEL, channel_id) is not None

    async def _derived_reference(self, channel_id: str) -> ConversationReference | None:
        # Teams announces only a team's General channel when the bot joins: other channels are
        # reached with a known team's service and bot identity.
        team = await self._conversations.any_channel()
        return references.elsewhere(team.reference, channel_id) if team else None

    async def mention_for(self, address: str | None) -> tuple[str | None, list[dict[str, Any]]]:
        """How a person's address appears in a card: an <at> tag and its mention entity when the
        person installed the app (their name is known), an email as it is, else nothing."""
        return await self._provider(address)

    async def _provider(self, provider: str | None) -> tuple[str | None, list[dict[str, Any]]]:
        names: dict[str, str] = {}
        if provider and provider.startswith("teams:"):
            found = await self._conversations.find(USER, user_key(provider.removeprefix("teams:")))
            if found is not None and found.name:
                names[provider] = found.name
        return cards.mention_of(provider, names)

    async def _send(
        self, reference: ConversationReference, card: cards.Card, text: str
    ) -> MessageRef:
        conversation_id = reference.conversation.id
        sent: list[str] = []

        async def send(context: TurnContext) -> None:
            activity: Activity = MessageFactory.attachment(
                Attachment(content_type=cards.CARD_TYPE, content=card)
            )
            # The notification and screen-reader text; the card carries the rest.
            activity.summary = text
            response = await context.send_activity(activity)
            sent.append(response.id if response and response.id else "")

        await self._pacer.turn(conversation_id)
        try:
            await self._adapter.continue_conversation(reference, send, bot_app_id=self._app_id)
        except Exception as error:
            raise as_delivery_error(error) from error
        return MessageRef(channel_id=conversation_id, message_ts=sent[0] if sent else "")
