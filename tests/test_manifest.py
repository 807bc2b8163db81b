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
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}


def _methods_called() -> set[str]:
    """chat_postMessage(…) → chat.postMessage; api_call("users.info", …) → users.info."""
    source = "\n".join(p.read_text() for p in (ROOT / "bots" / "slack").glob("*.py"))
    sdk = {m.replace("_", ".") for m in re.findall(r"client\.(\w+)\(", source)} - {"api.call"}
    generic = set(re.findall(r'"((?:users|chat|views|auth|apps|conversations)\.\w+)"', source))
    return sdk | generic


def test_every_called_method_is_known_and_its_scope_granted() -> None:
    called = _methods_called()
    assert called >= {"chat.postMessage", "chat.update", "users.info", "users.lookupByEmail"}
    unknown = called - set(SCOPE_OF)
    assert not unknown, f"add these methods and their scopes to SCOPE_OF: {unknown}"
    granted = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed = {SCOPE_OF[m] for m in called} - {None}
    assert needed <= granted
    assert granted == needed | {"commands"}, "the manifest asks for scopes nothing uses"


def test_commands_and_urls_point_at_the_server() -> None:
    commands = MANIFEST["features"]["slash_commands"]
    registered = set(
        re.findall(r'app\.command\("([^"]+)"\)', (ROOT / "bots/slack/app.py").read_text())
    )
    assert {c["command"] for c in commands} == registered
    urls = [c["url"] for c in commands] + [MANIFEST["settings"]["interactivity"]["request_url"]]
    assert all(u == "https://icx.example.com/slack/events" for u in urls)
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["app_home"]["messages_tab_enabled"] is True
