"""The live part of the demo: one feedback request end to end over real HTTP against the real
server, with Slack played by the stand-in (Web API) and by SlackSide (signed requests)."""

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlmodel import select

from bots.demo import render
from bots.demo.company import Company
from bots.demo.narrate import heading, paragraph, say
from bots.demo.slack_side import Reply, SlackSide, SlackUser
from bots.server import RunningServer
from bots.standin.slack_web_api import Call, SlackStandIn
from core.clock import utcnow
from core.domain import PromptStatus
from storage.models import Prompt, Response

WAIT = 10.0  # seconds to wait for work the server does after answering a request
Blocks = list[dict[str, Any]]


class DemoFailed(RuntimeError):
    """Something the demo expects from icx did not happen; str() says what."""


@dataclass
class Live:
    server: RunningServer
    standin: SlackStandIn
    slack: SlackSide
    http: aiohttp.ClientSession
    company: Company
    api_token: str

    @property
    def names(self) -> dict[str, str]:
        return {user.id: user.name for user in self.standin.users.values()}

    async def run(self, reference: str) -> None:
        cast = self.company.live
        prompt_id = await self._resolve(reference)
        message, where = await self._prompt(prompt_id)
        heading(f"3. {cast.requester.name} taps “{_label(message, 'icx_csat_4')}”")
        message = await self._tap(message, "icx_csat_4", where)
        heading(f"4. …and answers the optional second question: “{_label(message, 'icx_ces_6')}”")
        message = await self._tap(message, "icx_ces_6", where)
        stored = await self._response(prompt_id)
        paragraph(
            f"Stored: satisfaction {stored.satisfaction}, effort {stored.effort}, segment "
            f"{stored.segment}. The respondent is kept as a keyed hash "
            f"({stored.respondent_key[:12]}…), never as her user id."
        )
        await self._scores()

    # --- the steps ------------------------------------------------------------------------

    async def _resolve(self, reference: str) -> str:
        cast = self.company.live
        heading(
            f"1. A colleague's request is resolved: {cast.provider.name} (Finance) pays out "
            f"{cast.requester.name}'s expense claim"
        )
        say("The ticket tool tells icx through the intake API:")
        body = {
            "department": "finance",
            "service": "expense-reimbursement",
            "requester": {"email": cast.requester.email},
            "provider": {"email": cast.provider.email},
            "source": "jira",
            "reference": reference,
            "occurred_at": (utcnow() - timedelta(minutes=12)).isoformat(timespec="seconds"),
        }
        url = f"{self.server.url}/api/v1/interactions"
        say()
        say(f"  $ curl -X POST {url} \\")
        say(
            '      -H "Authorization: Bearer $ICX_API_TOKEN" -H "Content-Type: application/json" \\'
        )
        say("      -d '" + json.dumps(body, indent=2).replace("\n", "\n        ") + "'")
        headers = {"Authorization": f"Bearer {self.api_token}"}
        async with self.http.post(url, json=body, headers=headers) as response:
            status, answer = response.status, await response.json()
        say(f"  HTTP {status}")
        say(f"  {json.dumps(answer)}")
        if status != 201:
            raise DemoFailed(f"the intake API answered {status}: {answer}")
        return str(answer["prompt"]["id"])

    async def _prompt(self, prompt_id: str) -> tuple[Blocks, dict[str, str]]:
        requester = self.company.live.requester
        heading(f"2. icx asks {requester.name} in Slack: one tap is a complete answer")
        prompt = await self._delivered(prompt_id)
        post = await self._until(
            lambda: _last(self.standin, "chat.postMessage", requester.user_id), "the prompt"
        )
        paragraph(
            f"The outbox delivered it at once with chat.postMessage to {requester.name}'s user "
            "id (Slack opens the direct message). She sees:"
        )
        message: Blocks = post.payload["blocks"]
        say(render.framed(f"icx → {requester.name}", render.blocks(message, self.names)))
        assert prompt.channel_id is not None and prompt.message_ts is not None
        return message, {"channel": prompt.channel_id, "ts": prompt.message_ts}

    async def _tap(self, message: Blocks, action_id: str, where: dict[str, str]) -> Blocks:
        """Sends the signed tap on one button; returns the message as chat.update redrew it."""
        requester = self.company.live.requester
        button, block_id = _button(message, action_id)
        updates = len(self.standin.calls_to("chat.update"))
        started = time.perf_counter()
        user = SlackUser(requester.user_id, requester.name)
        reply = await self.slack.tap(user, button, block_id, **where)
        elapsed = (time.perf_counter() - started) * 1000
        _expect(reply, "the tap")
        paragraph(
            f"Slack POSTs the signed tap to /slack/events: HTTP {reply.status} after "
            f"{elapsed:.0f} ms, the answer already committed. Right after the acknowledgement "
            "icx redraws the message with chat.update:"
        )
        call = await self._until(
            lambda: (
                len(self.standin.calls_to("chat.update")) > updates
                and self.standin.calls_to("chat.update")[-1]
            ),
            "the message update",
        )
        redrawn: Blocks = call.payload["blocks"]
        title = f"icx → {requester.name} (updated)"
        say(render.framed(title, render.blocks(redrawn, self.names)))
        return redrawn

    async def _scores(self) -> None:
        leader = self.company.live.leader
        heading(f"5. {leader.name}, who leads Finance, asks how her department is doing")
        notes = {
            "finance": "Every number carries its n and a 95 % interval; a change is only called "
            "one when it is statistically meaningful.",
            "legal": "Legal had few requests lately. Below the reporting minimum (5 responses) "
            "icx shows no numbers, to protect the few who answered, and says how many more "
            "are needed.",
            "": "Every department side by side, alphabetical: a view, never a ranking. (In this "
            "story People & HR changed its onboarding process a month ago, and Legal has been "
            "quiet since a contract push two months ago.)",
        }
        for text, note in notes.items():
            command = f"/icx-score {text}".rstrip()
            say()
            say(f"  {leader.name} types: {command}")
            user = SlackUser(leader.user_id, leader.name)
            reply = await self.slack.slash_command(user, "/icx-score", text)
            _expect(reply, command)
            blocks = reply.json()["blocks"]
            say(render.framed("Only visible to you", render.blocks(blocks, self.names)))
            paragraph(note)

    # --- waiting and reading ----------------------------------------------------------------

    async def _until(self, check: Callable[[], Any], what: str) -> Any:
        try:
            return await self.standin.wait_for(check, within=WAIT)
        except AssertionError:
            raise DemoFailed(f"{what} did not happen within {WAIT:.0f} s") from None

    async def _delivered(self, prompt_id: str) -> Prompt:
        deadline = time.monotonic() + WAIT
        while True:
            async with self.server.runtime.db.session() as session:
                prompt = await session.get(Prompt, prompt_id)
            if prompt is not None and prompt.status != PromptStatus.PENDING:
                break
            if time.monotonic() > deadline:
                raise DemoFailed(f"the prompt was not delivered within {WAIT:.0f} s")
            await asyncio.sleep(0.02)
        if prompt.status != PromptStatus.SENT:
            raise DemoFailed(f"the prompt ended {prompt.status}: {prompt.last_error}")
        return prompt

    async def _response(self, prompt_id: str) -> Response:
        async with self.server.runtime.db.session() as session:
            found = (
                await session.exec(select(Response).where(Response.prompt_id == prompt_id))
            ).first()
        if found is None:
            raise DemoFailed("the answer was not stored")
        return found


def _last(standin: SlackStandIn, method: str, channel: str) -> Call | None:
    calls = [c for c in standin.calls_to(method) if c.payload.get("channel") == channel]
    return calls[-1] if calls else None


def _button(blocks: Blocks, action_id: str) -> tuple[dict[str, Any], str]:
    """The button a person would tap, and the block it sits in (Slack reports both)."""
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    raise DemoFailed(f"the message has no {action_id} button")


def _label(blocks: Blocks, action_id: str) -> str:
    return str(_button(blocks, action_id)[0]["text"]["text"])


def _expect(reply: Reply, what: str) -> None:
    if reply.status != 200:
        raise DemoFailed(f"{what} was answered {reply.status}: {reply.body}")
