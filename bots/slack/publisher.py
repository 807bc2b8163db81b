"""Posting digests and alerts (core.posts.Post) to a Slack channel as Block Kit, with the chart
uploaded through Slack's external upload (files.getUploadURLExternal → POST the bytes →
files.completeUploadExternal) and shown in the message by its file id."""

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bots.slack.blocks import Block, escape
from bots.slack.errors import as_delivery_error
from core import metrics
from core.ports import DeliveryError, MessageRef
from core.posts import Contact, Image, Post, Section

log = logging.getLogger(__name__)

# Block Kit limits.
MAX_BLOCKS = 50
HEADER_MAX = 150
TEXT_MAX = 3000

# Uploaded charts remembered per (channel, bytes) until their message is posted, so that a publish
# retried after a failed chat.postMessage shows the file already shared instead of sharing it
# again.
REMEMBERED_UPLOADS = 64


class SlackPublisher:
    platform = "slack"

    def __init__(
        self, client: AsyncWebClient, processing_waits: Sequence[float] = (1.0, 3.0)
    ) -> None:
        self._client = client
        # Pauses before showing a just-uploaded file again while Slack still processes it.
        self._processing_waits = tuple(processing_waits)
        self._uploaded: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def publish(self, channel: str, post: Post) -> MessageRef:
        file_id = await self._chart(channel, post.image) if post.image is not None else None
        try:
            response = await self._post(channel, post, file_id)
        except Exception as error:
            raise _for_a_channel(as_delivery_error(error)) from error
        if post.image is not None:
            self._uploaded.pop(_upload_key(channel, post.image), None)
        return MessageRef(channel_id=response["channel"], message_ts=response["ts"])

    async def _post(self, channel: str, post: Post, file_id: str | None) -> AsyncSlackResponse:
        """chat.postMessage; while Slack still processes a just-uploaded chart, waits and tries
        again, and in the end posts without it (the upload has shared it in the channel)."""
        for wait in (*self._processing_waits, None):
            try:
                return await self._client.chat_postMessage(
                    channel=channel,
                    blocks=post_blocks(post, file_id),
                    text=post.summary,
                    unfurl_links=False,
                )
            except SlackApiError as error:
                if file_id is None or not _file_not_ready(error):
                    raise
                if wait is None:
                    log.warning("Slack still processes file %s; posting without it", file_id)
                    break
                await asyncio.sleep(wait)
        return await self._client.chat_postMessage(
            channel=channel, blocks=post_blocks(post, None), text=post.summary, unfurl_links=False
        )

    async def _chart(self, channel: str, image: Image) -> str | None:
        """The chart's file id; a failed upload (other than a rate limit, which retries the
        whole post) leaves the chart out rather than holding back the digest's text."""
        try:
            return await self._upload(channel, image)
        except DeliveryError as error:
            if error.retry_after is not None:
                raise
            log.warning("digest chart not uploaded to %s (%s); posting without it", channel, error)
            return None

    async def _upload(self, channel: str, image: Image) -> str:
        """Uploads the chart and shares it in the channel (a file the bot alone can see cannot be
        shown in a message); returns its file id."""
        key = _upload_key(channel, image)
        known = self._uploaded.get(key)
        if known is not None:
            return known
        try:
            started = await self._client.files_getUploadURLExternal(
                filename=image.filename, length=len(image.png), alt_txt=image.alt
            )
            file_id = str(started["file_id"])
            await self._post_bytes(str(started["upload_url"]), image.png)
            await self._client.files_completeUploadExternal(
                files=[{"id": file_id, "title": image.alt or image.filename}], channel_id=channel
            )
        except DeliveryError:
            raise
        except Exception as error:
            raise as_delivery_error(error) from error
        self._uploaded[key] = file_id
        if len(self._uploaded) > REMEMBERED_UPLOADS:
            self._uploaded.popitem(last=False)
        return file_id

    async def _post_bytes(self, url: str, data: bytes) -> None:
        """Step two, as slack_sdk's files_upload_v2 does it: the raw bytes POSTed to the upload
        URL, without the token, on the client's session when it has one."""
        session = self._client.session
        own = session is None or session.closed
        if own:
            session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._client.timeout)
            )
        assert session is not None
        try:
            async with session.post(
                url, data=data, proxy=self._client.proxy, ssl=self._client.ssl
            ) as response:
                status = response.status
                headers = response.headers
                await response.read()
        finally:
            if own:
                await session.close()
        if status == 429:
            metrics.rate_limited("slack")
            retry_after = _seconds(headers.get("Retry-After"))
            raise DeliveryError(
                f"file upload rate limited (429), retry after {retry_after:g}s",
                retry_after=retry_after,
            )
        if status != 200:
            # An expired or refused upload URL: the next attempt asks for a new one.
            raise DeliveryError(f"file upload answered HTTP {status}")


def post_blocks(post: Post, file_id: str | None = None) -> list[Block]:
    """Block Kit for a post: header, sections, the chart, the contact, the footnote. Everything
    but the contact's mention is text people or the core wrote, escaped, and shown verbatim (no
    links made from it)."""
    top: list[Block] = [_header(post.title)] if post.title.strip() else []
    bottom: list[Block] = []
    if post.image is not None and file_id is not None:
        bottom.append(
            {
                "type": "image",
                "slack_file": {"id": file_id},
                "alt_text": (post.image.alt or post.image.filename)[:2000],
            }
        )
    if post.contact is not None:
        contact = _contact(post.contact)
        if contact is not None:
            bottom.append(_markdown(contact))
    if post.footnote:
        bottom.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(escape(post.footnote, mentions=False)),
                        "verbatim": True,
                    }
                ],
            }
        )
    texts = [chunk for section in post.sections for chunk in _section_texts(section)]
    room = MAX_BLOCKS - len(top) - len(bottom)
    if len(texts) > room:
        texts = _packed(texts, room)
    return [*top, *(_markdown(text) for text in texts), *bottom]


def _header(title: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_MAX]}}


def _markdown(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _contact(contact: Contact) -> str | None:
    """slack:U… becomes a mention; an email is shown as it is; anything else (a Teams person)
    cannot be named in Slack and is left out."""
    address = contact.address
    if address.startswith("slack:"):
        shown = f"<@{address.removeprefix('slack:')}>"
    elif ":" not in address and "@" in address:
        shown = escape(address)
    else:
        # Someone Slack cannot mention: the core's fallback line (their email, or where to look).
        return escape(contact.fallback, mentions=False) if contact.fallback else None
    return f"{escape(contact.label)} {shown}" if contact.label else shown


def _section_texts(section: Section) -> list[str]:
    """The section as mrkdwn texts of at most TEXT_MAX characters: the heading bold, then the
    lines; split between lines where possible, inside a line only when it is too long itself."""
    lines = [escape(line, mentions=False) for line in section.lines]
    if section.heading:
        lines.insert(0, f"*{_cut(escape(section.heading), TEXT_MAX - 2)}*")
    texts: list[str] = []
    current = ""
    for line in lines:
        for piece in _pieces(line):
            joined = f"{current}\n{piece}" if current else piece
            if len(joined) <= TEXT_MAX:
                current = joined
            else:
                texts.append(current)
                current = piece
    if current:
        texts.append(current)
    return texts


def _pieces(escaped: str) -> list[str]:
    """An escaped line cut into pieces of at most TEXT_MAX characters, never inside an entity."""
    pieces = []
    while len(escaped) > TEXT_MAX:
        cut = _safe_cut(escaped, TEXT_MAX)
        pieces.append(escaped[:cut])
        escaped = escaped[cut:]
    return [*pieces, escaped] if escaped or not pieces else pieces


def _safe_cut(escaped: str, limit: int) -> int:
    """The last position ≤ limit that is not inside &amp; &lt; &gt; or a <@U…> mention."""
    cut = limit
    entity = escaped.rfind("&", max(0, cut - 4), cut)
    if entity != -1 and escaped.find(";", entity, entity + 5) >= cut:
        cut = entity
    mention = escaped.rfind("<@", max(0, cut - 24), cut)
    if mention != -1 and escaped.find(">", mention) >= cut:
        cut = mention
    return cut or limit


def _cut(escaped: str, limit: int = TEXT_MAX) -> str:
    if len(escaped) <= limit:
        return escaped
    return escaped[: _safe_cut(escaped, limit - 1)] + "…"


def _packed(texts: list[str], room: int) -> list[str]:
    """Fewer texts, joined while they fit in TEXT_MAX; what still does not fit in `room` blocks
    ends with an ellipsis."""
    packed: list[str] = []
    for text in texts:
        if packed and len(packed[-1]) + 2 + len(text) <= TEXT_MAX:
            packed[-1] = f"{packed[-1]}\n\n{text}"
        else:
            packed.append(text)
    if len(packed) > room:
        log.warning("a post has more text than one Slack message holds; the rest is left out")
        packed = packed[: max(room, 1)]
        packed[-1] = _cut(packed[-1], TEXT_MAX - 2) + "\n…"
    return packed


def _upload_key(channel: str, image: Image) -> tuple[str, str]:
    return channel, hashlib.sha256(image.png).hexdigest()


def _file_not_ready(error: SlackApiError) -> bool:
    """Slack processes uploads in the background; until then, a message showing the file is
    refused as invalid_blocks naming its slack_file."""
    data = error.response.data if isinstance(error.response.data, dict) else {}
    return data.get("error") == "invalid_blocks" and any(
        "slack_file" in str(message) for message in data.get("errors", [])
    )


def _seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header or 1))
    except ValueError:
        return 1.0


# The bot is not in the channel (or cannot see it) yet: someone can invite it, so a digest or
# alert is tried again in an hour rather than never.
NOT_YET = {"not_in_channel", "channel_not_found", "is_archived"}
NOT_YET_RETRY = 3600.0


def _for_a_channel(error: DeliveryError) -> DeliveryError:
    if error.permanent and any(code in str(error) for code in NOT_YET):
        return DeliveryError(
            f"{error} (invite the icx app to the channel)",
            retry_after=NOT_YET_RETRY,
            platform_wide=False,
        )
    return error
