"""Slack's side of the conversation: the requests Slack sends to /slack/events when someone taps a
button or types a slash command, signed exactly as Slack signs them (GUIDE §7).

Plain hmac (bots/slack/signature.py) and aiohttp on purpose: the demo is a client of the server,
like Slack is, so it must not borrow the server's Slack SDK.
"""

import json
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

from bots.slack.signature import signed_headers as sign

TEAM = {"id": "T0ACME001", "domain": "acme"}
APP_ID = "A0ICX00001"


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str


@dataclass(frozen=True)
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackSide:
    def __init__(
        self, http: aiohttp.ClientSession, server_url: str, signing_secret: str, response_url: str
    ) -> None:
        self._http = http
        self._url = f"{server_url}/slack/events"
        self._secret = signing_secret
        self._response_url = response_url
        self._trigger = 0

    async def _post(self, body: bytes) -> Reply:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, self._secret)}
        async with self._http.post(self._url, data=body, headers=headers) as response:
            return Reply(response.status, await response.text())

    def _trigger_id(self) -> str:
        self._trigger += 1
        return f"{int(time.time())}.{self._trigger}.demo"

    async def tap(
        self,
        user: SlackUser,
        button: dict[str, Any],
        block_id: str,
        *,
        channel: str,
        ts: str,
    ) -> Reply:
        """A block_actions payload for a tap on `button` in the message at channel/ts."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {
                "id": user.id,
                "username": user.name,
                "name": user.name,
                "team_id": TEAM["id"],
            },
            "api_app_id": APP_ID,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": self._trigger_id(),
            "team": TEAM,
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "directmessage"},
            "message": {"type": "message", "ts": ts, "text": "", "blocks": []},
            "state": {"values": {}},
            "response_url": self._response_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self._post(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())

    async def slash_command(self, user: SlackUser, command: str, text: str) -> Reply:
        fields = {
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": "C0GENERAL1",
            "channel_name": "general",
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url,
            "trigger_id": self._trigger_id(),
        }
        return await self._post(urllib.parse.urlencode(fields).encode())
