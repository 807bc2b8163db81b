"""The Slack stand-in with the faults these tests need on top: outages that last a while (5xx,
then 429 with Retry-After), slow or hung sends, and a ledger of which prompt was delivered how
many times (a chat.postMessage answered ok is a message the person sees)."""

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bots.standin.slack_web_api import Call, SlackStandIn

PROMPT_BLOCK = "icx_csat:"
PAYLOAD = web.RequestKey("fault_payload", dict)


@dataclass(frozen=True)
class Outage:
    """From `start` to `end` (time.monotonic()), chat.postMessage answers `status`."""

    start: float
    end: float
    status: int
    retry_after: int | None = None


def prompt_of(payload: dict[str, Any]) -> str | None:
    """The prompt a DM asks about: its satisfaction buttons' block carries the id."""
    for block in payload.get("blocks") or []:
        block_id = str(block.get("block_id", "")) if isinstance(block, dict) else ""
        if block_id.startswith(PROMPT_BLOCK):
            return block_id.removeprefix(PROMPT_BLOCK)
    return None


@dataclass
class FaultySlack(SlackStandIn):
    outages: list[Outage] = field(default_factory=list)
    # Seconds every chat.postMessage takes (a slow Slack): sends are in flight for a while.
    post_delay: float = 0.0
    # Posts to these channels hang until released, then fail (a send cut off mid-way).
    hung_channels: set[str] = field(default_factory=set)
    release_hung: asyncio.Event = field(default_factory=asyncio.Event)
    delivered: Counter[str] = field(default_factory=Counter)  # prompt id -> ok posts
    channel_posts: list[dict[str, Any]] = field(default_factory=list)  # ok posts to channels
    refused: int = 0  # posts answered with an outage's error

    def outage(self, seconds_5xx: float, seconds_429: float, retry_after: int = 1) -> None:
        """Starting now: 503 for a while, then rate limited for a while."""
        now = time.monotonic()
        middle = now + seconds_5xx
        self.outages += [
            Outage(now, middle, 503),
            Outage(middle, middle + seconds_429, 429, retry_after),
        ]

    def _active(self) -> Outage | None:
        now = time.monotonic()
        return next((o for o in self.outages if o.start <= now < o.end), None)

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        # Read once per request: a body can be read only once, and both this class and the
        # stand-in look at it.
        if PAYLOAD not in request:
            request[PAYLOAD] = await super()._payload(request)
        return dict(request[PAYLOAD])

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] != "chat.postMessage":
            return await super()._api(request)
        payload = await self._payload(request)
        channel = str(payload.get("channel", ""))
        if channel in self.hung_channels:
            self.calls.append(Call("chat.postMessage", payload))
            await self.release_hung.wait()
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        if self.post_delay:
            await asyncio.sleep(self.post_delay)
        outage = self._active()
        if outage is not None:
            self.calls.append(Call("chat.postMessage", payload))
            self.refused += 1
            headers = {"Retry-After": str(outage.retry_after)} if outage.retry_after else {}
            error = "ratelimited" if outage.status == 429 else "internal_error"
            return web.json_response(
                {"ok": False, "error": error}, status=outage.status, headers=headers
            )
        response = await super()._api(request)
        assert isinstance(response, web.Response) and response.body is not None
        answer = json.loads(bytes(response.body))  # type: ignore[arg-type]
        if answer.get("ok"):
            prompt_id = prompt_of(payload)
            if prompt_id is not None:
                self.delivered[prompt_id] += 1
            elif not channel.startswith(("U", "W")):
                self.channel_posts.append(payload)
        return response

    def posts_to(self, channel: str) -> list[dict[str, Any]]:
        return [p for p in self.channel_posts if p.get("channel") == channel]

    def twice(self) -> dict[str, int]:
        return {prompt: n for prompt, n in self.delivered.items() if n > 1}
