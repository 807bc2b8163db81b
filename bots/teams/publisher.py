"""Posting digests and alerts (core.posts.Post) to a Teams channel as an Adaptive Card, the chart
inline as a data URI (Teams shows those in cards; a bot has nowhere else to put an image)."""

import base64
import json
import logging
from typing import Any

from bots.teams import cards
from bots.teams.messenger import TeamsMessenger
from core.ports import MessageRef
from core.posts import Contact, Image, Post

log = logging.getLogger(__name__)

# Teams refuses bigger messages (413); cards should stay near 28 KB where they can.
CARD_MAX_BYTES = 40_000


class TeamsPublisher:
    platform = "teams"

    def __init__(self, messenger: TeamsMessenger) -> None:
        self._messenger = messenger

    async def publish(self, channel: str, post: Post) -> MessageRef:
        contact, mentions = await self._contact(post.contact)
        card = post_card(post, contact, mentions)
        return await self._messenger.post_card(channel, card, post.summary)

    async def _contact(self, contact: Contact | None) -> tuple[cards.Element | None, list[Any]]:
        """teams:<object id> becomes an @mention of someone who installed the app; an email is
        shown as it is; anything else (a Slack person, a stranger) is left out."""
        if contact is None:
            return None, []
        shown, mentions = await self._messenger.mention_for(contact.address)
        if shown is None:
            # Someone Teams cannot mention: the core's fallback line.
            return (cards._literal(contact.fallback), []) if contact.fallback else (None, [])
        label = f"{contact.label} " if contact.label else ""
        if mentions:
            # Mentions work in a TextBlock only; the label is the core's words, not a person's.
            return cards._text(f"{label}{shown}"), mentions
        return cards._literal(f"{label}{shown}"), []


def post_card(
    post: Post, contact: cards.Element | None = None, mentions: list[Any] | None = None
) -> cards.Card:
    """The card: title, sections (heading bold, each line as written: a RichTextBlock renders no
    markdown, so a comment's [x](https://…) stays text), the chart, the contact, the footnote."""
    body: list[cards.Element] = []
    if post.title:
        body.append(cards._literal(post.title, size="Medium", weight="Bolder"))
    for section in post.sections:
        if section.heading:
            body.append(cards._literal(section.heading, weight="Bolder"))
        body += [cards._literal(line) for line in section.lines if line]
    tail: list[cards.Element] = []
    if contact is not None:
        tail.append(contact)
    if post.footnote:
        tail.append(cards._literal(post.footnote, isSubtle=True, size="Small"))
    extra = {"msteams": {"entities": mentions}} if mentions else {}
    if post.image is not None:
        with_image = cards.card([*body, _image(post.image), *tail], **extra)
        size = len(json.dumps(with_image, ensure_ascii=False).encode())
        if size <= CARD_MAX_BYTES:
            return with_image
        log.warning(
            "chart %s left out of a Teams card: %d bytes of card, at most %d",
            post.image.filename,
            size,
            CARD_MAX_BYTES,
        )
        if post.image is not None and post.image.unavailable:
            body.append(cards._literal(post.image.unavailable, isSubtle=True))
    return cards.card([*body, *tail], **extra)


def _image(image: Image) -> cards.Element:
    data = base64.b64encode(image.png).decode("ascii")
    return {
        "type": "Image",
        "url": f"data:image/png;base64,{data}",
        "altText": image.alt or image.filename,
    }
