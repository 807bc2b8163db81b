"""manifest.yml creates an app that can do what the code asks of Slack, and nothing more."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API methods the Slack adapter calls, and the bot scope each needs (None: no scope).
SCOPE_OF = {
    "auth.test": None,
    "apps.connections.open": None,  # the app-level token's connections:write, not a bot scope
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "views.open": None,
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.users.list": "usergroups:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
# Events the Slack adapter listens to, and the bot scope each needs.
EVENT_SCOPE = {"reaction_added": "reactions:read", "reaction_removed": "reactions:read"}
SLACK_SOURCE = "\n".join(p.read_text() for p in (ROOT / "bots" / "slack").glob("*.py"))


def _registered(kind: str) -> set[str]:
    """app.command("/icx-score") → /icx-score, for every module of bots/slack."""
    return set(re.findall(rf'app\.{kind}\("([^"]+)"\)', SLACK_SOURCE))


def _methods_called() -> set[str]:
    """chat_postMessage(…) → chat.postMessage; api_call("users.info", …) → users.info."""
    calls = re.findall(r"client\.(\w+)\(", SLACK_SOURCE)
    sdk = {m.replace("_", ".") for m in calls} - {"api.call"}
    generic = set(
        re.findall(
            r'"((?:users|usergroups|chat|views|auth|apps|conversations)\.[\w.]+)"', SLACK_SOURCE
        )
    )
    return sdk | generic


def test_every_called_method_is_known_and_its_scope_granted() -> None:
    called = _methods_called()
    assert called >= {"chat.postMessage", "chat.update", "users.info", "users.lookupByEmail"}
    unknown = called - set(SCOPE_OF)
    assert not unknown, f"add these methods and their scopes to SCOPE_OF: {unknown}"
    granted = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    events = _registered("event")
    assert events == {"reaction_added", "reaction_removed"}
    needed = ({SCOPE_OF[m] for m in called} | {EVENT_SCOPE[e] for e in events}) - {None}
    assert needed <= granted
    assert granted == needed | {"commands"}, "the manifest asks for scopes nothing uses"


def test_events_shortcuts_and_commands_are_exactly_those_handled() -> None:
    subscriptions = MANIFEST["settings"]["event_subscriptions"]
    assert set(subscriptions["bot_events"]) == _registered("event")
    assert subscriptions["request_url"] == "https://icx.example.com/slack/events"
    shortcuts = MANIFEST["features"]["shortcuts"]
    assert {s["callback_id"] for s in shortcuts} == _registered("message_shortcut")
    assert all(s["type"] == "message" for s in shortcuts)
    assert all(len(s["name"]) <= 24 and len(s["description"]) <= 150 for s in shortcuts)
    # /icx-ask reads a mention as <@U…|name>: only sent that way with escaping on.
    escaping = {c["command"]: c["should_escape"] for c in MANIFEST["features"]["slash_commands"]}
    assert escaping == {"/icx-score": False, "/icx-ask": True}


def test_commands_and_urls_point_at_the_server() -> None:
    commands = MANIFEST["features"]["slash_commands"]
    assert {c["command"] for c in commands} == _registered("command")
    urls = [c["url"] for c in commands] + [MANIFEST["settings"]["interactivity"]["request_url"]]
    assert all(u == "https://icx.example.com/slack/events" for u in urls)
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["app_home"]["messages_tab_enabled"] is True
