"""Delivering prompts as Slack DMs and redrawing them after taps."""

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.blocks import Block, satisfaction_blocks
from bots.slack.errors import as_delivery_error
from core import prompt_text as words
from core.i18n import translator
from core.ports import MessageRef, PromptView

log = logging.getLogger(__name__)


class SlackMessenger:
    platform = "slack"
    # chat.postMessage allows about one message a second per channel (GUIDE §7); the outbox
    # spaces one person's prompts this far apart (a margin for the send's own delay), so that
    # they never meet a 429, which would pause every Slack send.
    recipient_interval = 1.1

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._generations: dict[tuple[str, str], int] = {}

    async def deliver_prompt(self, view: PromptView) -> MessageRef:
        t = translator(view.locale)
        blocks = satisfaction_blocks(
            view.prompt_id, view.department, view.service, view.provider, view.snooze_days, t
        )
        fallback = words.satisfaction_question(view.department, view.service, t)
        try:
            # Posting to a user id opens (or reuses) the app's DM with that person.
            response = await self._client.chat_postMessage(
                channel=view.recipient, blocks=blocks, text=fallback, unfurl_links=False
            )
        except Exception as error:
            raise as_delivery_error(error) from error
        return MessageRef(channel_id=response["channel"], message_ts=response["ts"])

    async def redraw(
        self, channel_id: str, message_ts: str, blocks: list[Block], text: str
    ) -> None:
        """Updates a prompt message; a rate limit is waited out a few times before giving up
        (the answer is already committed, only the picture would be stale). A redraw that a
        later one overtook while it waited is dropped, so the message never goes back."""
        key = (channel_id, message_ts)
        generation = self._generations.get(key, 0) + 1
        self._generations[key] = generation
        try:
            for _ in range(3):
                if self._generations[key] != generation:
                    return
                try:
                    await self._client.chat_update(
                        channel=channel_id, ts=message_ts, blocks=blocks, text=text
                    )
                    return
                except Exception as error:
                    failure = as_delivery_error(error)
                    if failure.retry_after is None:
                        log.warning("could not update prompt message: %s", failure)
                        return
                    await asyncio.sleep(min(failure.retry_after, 30))
            log.warning("gave up updating a prompt message after repeated rate limits")
        finally:
            if self._generations.get(key) == generation:
                del self._generations[key]

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> None:
        try:
            await self._client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.warning("could not open the comment form: %s", as_delivery_error(error))
