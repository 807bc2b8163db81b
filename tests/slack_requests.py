"""Requests signed exactly as Slack signs them, built from the recorded payloads in fixtures/."""

import copy
import hashlib
import hmac
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "slack"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def sign(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def form_body(payload: dict[str, Any]) -> bytes:
    """Interactivity: a form field `payload` holding JSON."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def button_tap(
    prompt_id: str,
    action_id: str,
    *,
    user: str,
    channel: str,
    ts: str,
    response_url: str,
) -> dict[str, Any]:
    payload = fixture("block_actions_button.json")
    payload["user"].update(id=user)
    payload["container"].update(channel_id=channel, message_ts=ts)
    payload["channel"]["id"] = channel
    payload["message"]["ts"] = ts
    payload["response_url"] = response_url
    action = payload["actions"][0]
    action.update(
        action_id=action_id, value=prompt_id, block_id=f"{action_id.rsplit('_', 1)[0]}:{prompt_id}"
    )
    return payload


def reasons_tap(
    prompt_id: str, keys: list[str], *, user: str, channel: str, ts: str, response_url: str
) -> dict[str, Any]:
    payload = fixture("block_actions_multi_select.json")
    payload["user"].update(id=user)
    payload["container"].update(channel_id=channel, message_ts=ts)
    payload["response_url"] = response_url
    action = payload["actions"][0]
    action["block_id"] = f"icx_reasons:{prompt_id}"
    action["selected_options"] = [
        {"text": {"type": "plain_text", "text": k}, "value": k} for k in keys
    ]
    return payload


def comment_submission(
    prompt_id: str, *, user: str, channel: str, ts: str, comment: str, flags: list[str]
) -> dict[str, Any]:
    payload = fixture("view_submission.json")
    payload["user"].update(id=user)
    view = payload["view"]
    view["private_metadata"] = json.dumps({"prompt_id": prompt_id, "channel": channel, "ts": ts})
    view["state"]["values"]["comment"]["comment"]["value"] = comment
    view["state"]["values"]["flags"]["flags"]["selected_options"] = [
        {"text": {"type": "plain_text", "text": f}, "value": f} for f in flags
    ]
    return payload


def slash_command(text: str, *, user: str, response_url: str) -> bytes:
    fields = dict(urllib.parse.parse_qsl((FIXTURES / "slash_command.txt").read_text().strip()))
    fields.update(text=text, user_id=user, response_url=response_url)
    return urllib.parse.urlencode(fields).encode()
