"""The Bot Connector stand-in answers botbuilder's own client the way the service does, fails on
demand, and signs tokens botbuilder's authentication accepts (and forgeries it rejects).

Driven with botbuilder's ConnectorClient on purpose: the routes must match the URLs the SDK
really builds, including its percent-encoding of conversation ids.
"""

from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ErrorResponseException,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials

from bots.standin.bot_connector import BotConnectorStandIn
from tests import teams_activities as teams

CHANNEL_THREAD = f"{teams.CHANNEL_ID};messageid=1763630405771"


@pytest.fixture
async def connector() -> AsyncIterator[BotConnectorStandIn]:
    standin = BotConnectorStandIn(tenant_id=teams.TENANT_ID)
    await standin.start()
    standin.add_member(teams.USER_ID, teams.AAD_OBJECT_ID, teams.USER_NAME, "mia@acme.example")
    yield standin
    await standin.stop()


def client(base_url: str) -> ConnectorClient:
    return ConnectorClient(MicrosoftAppCredentials.empty(), base_url=base_url)


def text(value: str, **fields: Any) -> Activity:
    return Activity(type="message", text=value, **fields)


@pytest.mark.parametrize("slash", [True, False], ids=["service-url-with-slash", "without"])
async def test_activity_routes_answer_like_the_service(
    connector: BotConnectorStandIn, slash: bool
) -> None:
    base = connector.service_url if slash else connector.service_url.rstrip("/")
    async with client(base) as c:
        sent = await c.conversations.send_to_conversation(CHANNEL_THREAD, text("hello"))
        reply = await c.conversations.reply_to_activity(CHANNEL_THREAD, sent.id, text("again"))
        updated = await c.conversations.update_activity(
            CHANNEL_THREAD, sent.id, text("edited", id=sent.id)
        )
        await c.conversations.delete_activity(CHANNEL_THREAD, reply.id)

    assert sent.id != reply.id and updated.id == sent.id
    assert [(call.verb, call.status, call.activity_id) for call in connector.calls] == [
        ("POST", 201, None),
        ("POST", 201, sent.id),
        ("PUT", 200, sent.id),
        ("DELETE", 200, reply.id),
    ]
    first = connector.calls[0]
    # msrest percent-encodes the whole id (":", "@", ";", "="); the stand-in decodes it.
    assert first.path == (
        "/v3/conversations/19%3A4e5f6a7b8c9d40e1a2b3c4d5e6f7a8b9%40thread.tacv2"
        "%3Bmessageid%3D1763630405771/activities"
    )
    assert {call.conversation_id for call in connector.calls} == {CHANNEL_THREAD}
    assert first.authorization is None  # MicrosoftAppCredentials.empty(): auth is off
    assert [a["text"] for a in connector.sent(CHANNEL_THREAD)] == ["hello", "again"]
    assert [a["text"] for a in connector.updated()] == ["edited"]
    assert connector.sent("a:someone-else") == []


async def test_members_are_found_by_user_id_or_aad_object_id(
    connector: BotConnectorStandIn,
) -> None:
    conversation = teams.PERSONAL_CONVERSATION_ID
    async with client(connector.service_url) as c:
        by_user_id = await c.conversations.get_conversation_member(conversation, teams.USER_ID)
        by_aad = await c.conversations.get_conversation_member(conversation, teams.AAD_OBJECT_ID)
        everyone = await c.conversations.get_conversation_members(conversation)
        with pytest.raises(ErrorResponseException) as missing:
            await c.conversations.get_conversation_member(conversation, "29:1nobody")

    assert by_user_id.id == by_aad.id == teams.USER_ID
    assert by_aad.additional_properties["email"] == "mia@acme.example"
    assert by_aad.additional_properties["tenantId"] == teams.TENANT_ID
    assert [m.aad_object_id for m in everyone] == [teams.AAD_OBJECT_ID]
    assert missing.value.response.status_code == 404
    assert missing.value.error.error.code == "MemberNotFoundInConversation"


async def test_create_conversation_answers_a_new_id(connector: BotConnectorStandIn) -> None:
    parameters = ConversationParameters(
        is_group=False,
        bot=ChannelAccount(id=teams.BOT_ID),
        members=[ChannelAccount(id=teams.USER_ID)],
        tenant_id=teams.TENANT_ID,
        activity=text("welcome"),
    )
    async with client(connector.service_url) as c:
        created = await c.conversations.create_conversation(parameters)

    assert created.id.startswith("a:new-conv-")
    assert created.activity_id and created.service_url == connector.service_url
    assert connector.calls[0].body is not None
    assert connector.calls[0].body["members"] == [{"id": teams.USER_ID}]


async def test_faults_are_consumed_in_order(connector: BotConnectorStandIn) -> None:
    connector.fail_next(1, status=502, path_contains="/members")
    connector.fail_next(1, status=502)
    connector.rate_limit_next(1, retry_after=2.5)
    conversation = teams.PERSONAL_CONVERSATION_ID
    outcomes = []
    # Sends are POSTs, which msrest does not retry: each attempt meets one fault.
    async with client(connector.service_url) as c:
        for _ in range(3):
            try:
                await c.conversations.send_to_conversation(conversation, text("hi"))
                outcomes.append(201)
            except ErrorResponseException as error:
                outcomes.append(error.response.status_code)
                if error.response.status_code == 429:
                    assert error.response.headers["Retry-After"] == "2.5"
                    assert error.error.error.code == "TooManyRequests"
        # GET, PUT and DELETE are retried by msrest (urllib3) on 5xx, the first time at once.
        members = await c.conversations.get_conversation_members(conversation)

    assert outcomes == [502, 429, 201]
    assert len(members) == 1
    assert [(call.verb, call.status) for call in connector.calls[3:]] == [
        ("GET", 502),
        ("GET", 200),
    ]
    assert connector.faults == []
    assert len(connector.sent()) == 1  # only the accepted send counts as sent


async def test_a_user_who_removed_the_app_cannot_be_messaged(
    connector: BotConnectorStandIn,
) -> None:
    connector.unreachable_conversation(teams.PERSONAL_CONVERSATION_ID)
    async with client(connector.service_url) as c:
        with pytest.raises(ErrorResponseException) as blocked:
            await c.conversations.send_to_conversation(teams.PERSONAL_CONVERSATION_ID, text("x"))
        await c.conversations.send_to_conversation(CHANNEL_THREAD, text("still fine"))

    assert blocked.value.response.status_code == 403
    assert blocked.value.error.error.code == "ConversationBlockedByUser"
    assert connector.sent(teams.PERSONAL_CONVERSATION_ID) == []


# --- tokens -------------------------------------------------------------------------------


def authentication(connector: BotConnectorStandIn) -> ConfigurationBotFrameworkAuthentication:
    class Configuration:
        APP_ID = teams.APP_ID
        APP_PASSWORD = "not-used-for-inbound-checks"
        APP_TYPE = "MultiTenant"
        APP_TENANTID = None
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = connector.openid_metadata_url
        # Setting any TO_* value makes botbuilder use its "parameterized" authentication, in
        # which every unset value is None: without the issuer, every token is rejected.
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = "https://api.botframework.com"

    return ConfigurationBotFrameworkAuthentication(Configuration())


async def test_botbuilder_accepts_a_token_the_stand_in_signed(
    connector: BotConnectorStandIn,
) -> None:
    activity = Activity().deserialize(teams.message(connector.service_url, "icx-score finance"))
    # Awaited on the test's own loop: the keys are served from a thread, so botbuilder's
    # blocking fetch of them cannot deadlock.
    result = await authentication(connector).authenticate_request(
        activity, "Bearer " + connector.sign_token(teams.APP_ID)
    )

    assert result.claims_identity.is_authenticated
    assert result.claims_identity.claims["aud"] == teams.APP_ID
    assert connector.key_fetches  # it really fetched the published keys


@pytest.mark.parametrize(
    ("token_options", "rejection"),
    [
        ({"key": "foreign"}, jwt.InvalidSignatureError),
        ({"lifetime": -600}, jwt.ExpiredSignatureError),
        ({"service_url": "https://smba.trafficmanager.net/emea/"}, PermissionError),
    ],
    ids=["forged", "expired", "other-service-url"],
)
async def test_botbuilder_rejects_forged_and_stale_tokens(
    connector: BotConnectorStandIn, token_options: dict[str, Any], rejection: type[Exception]
) -> None:
    activity = Activity().deserialize(teams.message(connector.service_url, "hi"))
    token = connector.sign_token(teams.APP_ID, **token_options)

    with pytest.raises(rejection):
        await authentication(connector).authenticate_request(activity, f"Bearer {token}")


# --- the activities -----------------------------------------------------------------------


async def test_builders_give_fresh_activities_botbuilder_understands(
    connector: BotConnectorStandIn,
) -> None:
    url = connector.service_url
    built = [
        teams.installed(url),
        teams.personal_conversation_started(url),
        teams.uninstalled(url),
        teams.team_added(url),
        teams.team_removed(url),
        teams.message(url, "icx-score finance"),
        teams.channel_mention(url, "icx-score finance"),
        teams.card_action(url, "icx.csat", {"prompt": "P1", "value": 5}, reply_to_id="17636"),
    ]
    activities = [Activity().deserialize(payload) for payload in built]

    assert len({a.id for a in activities}) == len(activities)
    assert all(a.service_url == url and a.channel_id == "msteams" for a in activities)
    assert [a.action for a in activities[:3]] == ["add", None, "remove"]
    assert activities[3].members_added[0].id == activities[3].recipient.id == teams.BOT_ID
    mention = activities[6]
    assert mention.conversation.id == f"{teams.CHANNEL_ID};messageid={mention.id}"
    assert mention.text == "<at>icx</at> icx-score finance"
    invoke = activities[7]
    assert invoke.name == "adaptiveCard/action" and invoke.reply_to_id == "17636"
    assert invoke.value["action"]["data"] == {"prompt": "P1", "value": 5}
    assert teams.activity_headers("t") == {
        "Content-Type": "application/json",
        "Authorization": "Bearer t",
    }


def test_botbuilder_remove_recipient_mention_also_eats_the_bot_name_inside_commands() -> None:
    """A botbuilder 4.17 quirk the Teams handler must avoid: it deletes every occurrence of the
    mentioned name (as a regex), so "icx-score" loses its "icx". Strip the mention's own
    `<at>…</at>` text instead."""
    mention = Activity().deserialize(teams.channel_mention("http://x/", "icx-score finance"))

    assert TurnContext.remove_recipient_mention(mention).strip() == "-score finance"
