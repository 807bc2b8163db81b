"""Teams activities as Teams sends them to /api/messages, built from the recorded payloads in
fixtures/teams/.

Every builder gives the activity a fresh `id` and a current `timestamp` (handlers deduplicate on
ids, and some reject stale activities) and puts the test's Connector stand-in in `serviceUrl`
(botbuilder sends every reply there; a signed token's `serviceurl` claim must match it exactly,
trailing slash included).
"""

import copy
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

FIXTURES = Path(__file__).parent / "fixtures" / "teams"

# The ids the fixtures were recorded with.
SERVICE_URL_PLACEHOLDER = "https://smba.trafficmanager.net/emea/"
APP_ID = "6f1c3a52-9d8e-4b7a-a1c2-3d4e5f607182"
BOT_ID = f"28:{APP_ID}"
BOT_NAME = "icx"
TENANT_ID = "5b7c4d2e-8f1a-4e3b-9c6d-2a1f0e9d8c7b"
USER_ID = (
    "29:1Q2w3E4r5T6y7U8i9O0pAsDfGhJkLzXcVbNm-qWeRtYuIoPaSdFgHjKlZxCvBnM_aBcDeFgHiJkLmNoPqRsTuVw"
)
AAD_OBJECT_ID = "0f6c2f7e-5d4b-4a39-8e21-7c6b5a493827"
USER_NAME = "Mia Chen"
PERSONAL_CONVERSATION_ID = (
    "a:1Hk2oP9qRsT4uVwXyZ0aBcDeFgHiJkLmNoPqRsTuVwXyZ-1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZaBcDeFgHiJk"
    "LmNoP_qRsTuV"
)
TEAM_ID = "19:b3f0c2a1d4e54f6a8b7c9d0e1f2a3b4c@thread.tacv2"  # also its General channel's id
TEAM_AAD_GROUP_ID = "c2e8a7d4-3b1f-4e6a-9d5c-8f7e6d5c4b3a"
TEAM_NAME = "Finance Operations"
CHANNEL_ID = "19:4e5f6a7b8c9d40e1a2b3c4d5e6f7a8b9@thread.tacv2"

_last_message_id = 0


def fixture(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def activity_headers(token: str | None = None) -> dict[str, str]:
    """Headers of Teams' POST to the bot; pass a token from BotConnectorStandIn.sign_token."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def new_message_id() -> str:
    """A Teams message id: epoch milliseconds, strictly increasing within the test run."""
    global _last_message_id
    _last_message_id = max(_last_message_id + 1, int(time.time() * 1000))
    return str(_last_message_id)


def new_event_id() -> str:
    """Event and invoke activity ids look like `f:<guid>`."""
    return f"f:{uuid.uuid4()}"


def _stamp(activity: dict[str, Any], service_url: str, activity_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    activity["id"] = activity_id
    activity["serviceUrl"] = service_url
    activity["timestamp"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if "localTimestamp" in activity:
        zone = activity.get("localTimezone") or _client_info(activity).get("timezone") or "UTC"
        activity["localTimestamp"] = now.astimezone(ZoneInfo(zone)).isoformat(
            timespec="milliseconds"
        )
    return activity


def _client_info(activity: dict[str, Any]) -> dict[str, Any]:
    return next((e for e in activity.get("entities", []) if e.get("type") == "clientInfo"), {})


def _set_user(
    activity: dict[str, Any], user_id: str, aad_object_id: str, name: str | None = None
) -> None:
    activity["from"].update(id=user_id, aadObjectId=aad_object_id)
    if name is not None:
        activity["from"]["name"] = name


def _set_tenant(activity: dict[str, Any], tenant_id: str) -> None:
    activity["conversation"]["tenantId"] = tenant_id
    activity["channelData"]["tenant"]["id"] = tenant_id


def _set_locale(activity: dict[str, Any], locale: str) -> None:
    activity["locale"] = locale
    info = _client_info(activity)
    if info:
        info["locale"] = locale
        if "-" in locale:
            info["country"] = locale.rpartition("-")[2].upper()


def _personal_event(
    name: str,
    service_url: str,
    *,
    aad_object_id: str,
    user_id: str,
    conversation_id: str,
    locale: str,
    tenant_id: str,
) -> dict[str, Any]:
    activity = fixture(name)
    _set_user(activity, user_id, aad_object_id)
    activity["conversation"]["id"] = conversation_id
    _set_tenant(activity, tenant_id)
    _set_locale(activity, locale)
    return _stamp(activity, service_url, new_event_id())


def installed(
    service_url: str,
    *,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    conversation_id: str = PERSONAL_CONVERSATION_ID,
    locale: str = "en-US",
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """A user installed the app for themselves (personal scope)."""
    return _personal_event(
        "installation_update_add_personal.json",
        service_url,
        aad_object_id=aad_object_id,
        user_id=user_id,
        conversation_id=conversation_id,
        locale=locale,
        tenant_id=tenant_id,
    )


def uninstalled(
    service_url: str,
    *,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    conversation_id: str = PERSONAL_CONVERSATION_ID,
    locale: str = "en-US",
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """The user removed the app; from now on, sends to the conversation answer 403."""
    return _personal_event(
        "installation_update_remove_personal.json",
        service_url,
        aad_object_id=aad_object_id,
        user_id=user_id,
        conversation_id=conversation_id,
        locale=locale,
        tenant_id=tenant_id,
    )


def personal_conversation_started(
    service_url: str,
    *,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    conversation_id: str = PERSONAL_CONVERSATION_ID,
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """The conversationUpdate (bot in membersAdded) Teams sends next to `installed`."""
    activity = fixture("conversation_update_personal.json")
    _set_user(activity, user_id, aad_object_id)
    activity["conversation"]["id"] = conversation_id
    _set_tenant(activity, tenant_id)
    return _stamp(activity, service_url, new_event_id())


def _team_event(
    name: str,
    service_url: str,
    *,
    team_id: str,
    channel_id: str,
    team_name: str,
    aad_group_id: str,
    aad_object_id: str,
    user_id: str,
    tenant_id: str,
) -> dict[str, Any]:
    activity = fixture(name)
    _set_user(activity, user_id, aad_object_id)
    activity["conversation"]["id"] = channel_id
    _set_tenant(activity, tenant_id)
    data = activity["channelData"]
    data["team"].update(id=team_id, name=team_name, aadGroupId=aad_group_id)
    if "settings" in data:
        data["settings"]["selectedChannel"]["id"] = channel_id
    return _stamp(activity, service_url, new_event_id())


def team_added(
    service_url: str,
    *,
    team_id: str = TEAM_ID,
    channel_id: str = TEAM_ID,
    team_name: str = TEAM_NAME,
    aad_group_id: str = TEAM_AAD_GROUP_ID,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """Someone added the bot to a team; the conversation is the channel picked at install
    (the General channel, whose id is the team's id, unless told otherwise)."""
    return _team_event(
        "conversation_update_team_added.json",
        service_url,
        team_id=team_id,
        channel_id=channel_id,
        team_name=team_name,
        aad_group_id=aad_group_id,
        aad_object_id=aad_object_id,
        user_id=user_id,
        tenant_id=tenant_id,
    )


def team_removed(
    service_url: str,
    *,
    team_id: str = TEAM_ID,
    channel_id: str = TEAM_ID,
    team_name: str = TEAM_NAME,
    aad_group_id: str = TEAM_AAD_GROUP_ID,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """Someone removed the bot from a team (the bot is in membersRemoved)."""
    return _team_event(
        "conversation_update_team_removed.json",
        service_url,
        team_id=team_id,
        channel_id=channel_id,
        team_name=team_name,
        aad_group_id=aad_group_id,
        aad_object_id=aad_object_id,
        user_id=user_id,
        tenant_id=tenant_id,
    )


def message(
    service_url: str,
    text: str,
    *,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    conversation_id: str = PERSONAL_CONVERSATION_ID,
    locale: str = "en-US",
    name: str | None = None,
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """A message in the user's personal chat with the bot."""
    activity = fixture("message_personal.json")
    activity["text"] = text
    activity["attachments"][0]["content"] = f"<p>{_html(text)}</p>"
    _set_user(activity, user_id, aad_object_id, name)
    activity["conversation"]["id"] = conversation_id
    _set_tenant(activity, tenant_id)
    _set_locale(activity, locale)
    return _stamp(activity, service_url, new_message_id())


def channel_mention(
    service_url: str,
    text: str,
    *,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    locale: str = "en-US",
    name: str | None = None,
    tenant_id: str = TENANT_ID,
    bot_name: str = BOT_NAME,
) -> dict[str, Any]:
    """A new post in a team channel that @mentions the bot; `text` is what follows the mention.

    A top-level post is its own thread: the conversation id is `{channel};messageid={its id}`.
    """
    activity = fixture("message_channel_mention.json")
    mention = f"<at>{bot_name}</at>"
    activity["text"] = f"{mention} {text}"
    activity["attachments"][0]["content"] = (
        '<div><div><span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">'
        f"{_html(bot_name)}</span>&nbsp;{_html(text)}</div>\n</div>"
    )
    for entity in activity["entities"]:
        if entity["type"] == "mention":
            entity["mentioned"]["name"] = bot_name
            entity["text"] = mention
    _set_user(activity, user_id, aad_object_id, name)
    message_id = new_message_id()
    activity["conversation"]["id"] = f"{channel_id};messageid={message_id}"
    data = activity["channelData"]
    data.update(teamsChannelId=channel_id, teamsTeamId=team_id)
    data["channel"]["id"] = channel_id
    data["team"]["id"] = team_id
    _set_tenant(activity, tenant_id)
    _set_locale(activity, locale)
    return _stamp(activity, service_url, message_id)


def card_action(
    service_url: str,
    verb: str,
    data: dict[str, Any],
    *,
    aad_object_id: str = AAD_OBJECT_ID,
    user_id: str = USER_ID,
    conversation_id: str = PERSONAL_CONVERSATION_ID,
    reply_to_id: str,
    locale: str = "en-US",
    name: str | None = None,
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """A tap on an Action.Execute button: an `adaptiveCard/action` invoke whose replyToId is
    the id of the message carrying the card. Teams waits for the card in the HTTP response."""
    activity = fixture("invoke_adaptive_card_action.json")
    action = activity["value"]["action"]
    action.update(verb=verb, data=copy.deepcopy(data))
    activity["replyToId"] = reply_to_id
    _set_user(activity, user_id, aad_object_id, name)
    activity["conversation"]["id"] = conversation_id
    _set_tenant(activity, tenant_id)
    _set_locale(activity, locale)
    return _stamp(activity, service_url, new_event_id())


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- asking for feedback where the service happened ---------------------------------------------


def author_person(aad_object_id: str, name: str, identity_type: str = "aadUser") -> dict[str, Any]:
    """`messagePayload.from` of a message a person wrote."""
    user = {"userIdentityType": identity_type, "id": aad_object_id, "displayName": name}
    return {"device": None, "conversation": None, "user": user, "application": None}


def author_app(name: str, app_id: str = "b8c1c68c-e290-4bdd-81c3-266f310751dc") -> dict[str, Any]:
    """`messagePayload.from` of a message a bot, workflow or webhook posted."""
    application = {"applicationIdentityType": "bot", "id": app_id, "displayName": name}
    return {"device": None, "conversation": None, "user": None, "application": application}


def ask_action(
    service_url: str,
    step: str,
    *,
    author: dict[str, Any],
    aad_object_id: str,
    user_id: str,
    data: dict[str, Any] | None = None,
    message_id: str | None = None,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    locale: str = "en-US",
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """ "Ask for feedback" on a top-level channel post by `author`: step "fetch" is the
    composeExtension/fetchTask invoke that opens the dialog, "submit" the submitAction that
    carries the dialog's inputs (`data`). Teams waits for the answer in the HTTP response."""
    name = {
        "fetch": "compose_extension_fetch_task.json",
        "submit": "compose_extension_submit_action.json",
    }
    activity = fixture(name[step])
    _set_user(activity, user_id, aad_object_id)
    message_id = message_id or new_message_id()
    activity["conversation"]["id"] = f"{channel_id};messageid={message_id}"
    channel = activity["channelData"]
    channel["channel"]["id"] = channel_id
    channel["team"]["id"] = team_id
    _set_tenant(activity, tenant_id)
    _set_locale(activity, locale)
    payload = activity["value"]["messagePayload"]
    payload.update(
        id=message_id,
        linkToMessage=f"https://teams.microsoft.com/l/message/{channel_id}/{message_id}",
        **{"from": copy.deepcopy(author)},
    )
    if step == "submit" and data is not None:
        activity["value"]["data"] = {**copy.deepcopy(data), "icx": "ask"}
    return _stamp(activity, service_url, new_event_id())


def ask_in_channel(
    service_url: str,
    rest: str,
    *,
    person: tuple[str, str] | None,
    aad_object_id: str,
    user_id: str,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    locale: str = "en-US",
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    """`@icx icx-ask @person rest` posted in a channel; `person` is the mentioned (Teams id,
    name), or None for no mention."""
    activity = fixture("message_icx_ask.json")
    bot, mentioned, info = activity["entities"]
    words = ["<at>icx</at>", "icx-ask"]
    html_words = [
        '<span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">icx</span>&nbsp;'
        "icx-ask"
    ]
    if person is not None:
        mentioned["mentioned"] = {"id": person[0], "name": person[1]}
        mentioned["text"] = f"<at>{person[1]}</at>"
        words.append(mentioned["text"])
        html_words.append(
            '<span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="1">'
            f"{_html(person[1])}</span>"
        )
        activity["entities"] = [bot, mentioned, info]
    else:
        activity["entities"] = [bot, info]
    activity["text"] = " ".join([*words, rest]).strip()
    activity["attachments"][0]["content"] = (
        f"<div><div>{' '.join([*html_words, _html(rest)]).strip()}</div>\n</div>"
    )
    _set_user(activity, user_id, aad_object_id)
    message_id = new_message_id()
    activity["conversation"]["id"] = f"{channel_id};messageid={message_id}"
    data = activity["channelData"]
    data.update(teamsChannelId=channel_id, teamsTeamId=team_id)
    data["channel"]["id"] = channel_id
    data["team"]["id"] = team_id
    _set_tenant(activity, tenant_id)
    _set_locale(activity, locale)
    return _stamp(activity, service_url, message_id)
