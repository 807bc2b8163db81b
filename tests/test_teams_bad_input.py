"""Bad input to Teams' /api/messages through the real server: every refusal is clear (the right
status, the right words) and changes nothing: no row in any table icx writes, and no call on the
Bot Connector stand-in.

Without authentication (the `running_teams` fixture) the body itself is checked; with an app id
(the `authenticated` fixture below) the Bot Framework token too, signed by the stand-in's keys.
The last test keeps the regression of GUIDE §7: botbuilder's stock `CloudAdapter.process()`
answers 500 to a card tap, /api/messages answers it with the next card."""

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from botframework.connector.auth import ChannelValidation
from pydantic import SecretStr
from sqlmodel import SQLModel, col, select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.standin.bot_connector import BotConnectorStandIn
from bots.standin.slack_web_api import SlackStandIn
from bots.teams import cards
from core import prompt_text
from core.answers import TapResult
from core.config import Config
from core.departments import Company
from core.i18n import translator
from core.identity import Keyer
from storage.db import Database
from storage.models import Interaction, OptOut, Prompt, Response, TeamsConversation
from tests import teams_activities as ta
from tests.conftest import (
    SECRET_KEY,
    TEAMS_REQUESTER,
    FakeClock,
    Icx,
    install_for,
    intake_body,
    personal_conversation,
    settings_for,
)

USER_ID, AAD, _, _ = TEAMS_REQUESTER
MAX_BODY = 256 * 1024
MALFORMED = {"error": "malformed activity: needs type, serviceUrl and conversation.id"}
NOT_JSON = {"error": "activities are JSON (Content-Type: application/json)"}
TOO_LARGE = {"error": f"body larger than {MAX_BODY} bytes"}
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
# The English explanations of a refused tap (core/prompt_text.refusal).
UNKNOWN = "This feedback request is no longer available, so nothing was recorded."
INVALID = "That answer is not one of the choices, so nothing was recorded."
HELP_INTRO = (
    "I answer two commands: icx-ask @person [service], with which department members ask "
    "a colleague how their department helped them, and icx-score:"
)


# --- the database and the connector, before and after ------------------------------------------

# Each table icx writes, with the column that orders its rows.
TABLES: dict[type[SQLModel], Any] = {
    Interaction: Interaction.id,
    Prompt: Prompt.id,
    Response: Response.id,
    OptOut: OptOut.respondent_key,
    TeamsConversation: TeamsConversation.id,
}

Snapshot = dict[str, list[dict[str, Any]]]


async def snapshot(running: Icx) -> Snapshot:
    tables: Snapshot = {}
    async with running.db.session() as s:
        for model, key in TABLES.items():
            rows = (await s.exec(select(model).order_by(col(key)))).all()
            tables[str(model.__tablename__)] = [row.model_dump() for row in rows]
    return tables


def standin(running: Icx) -> BotConnectorStandIn:
    assert running.connector is not None
    return running.connector


async def assert_nothing_changed(running: Icx, before: Snapshot, calls: int, case: str) -> None:
    """No row added, removed or changed, and no call on the Connector since `calls`."""
    await running.server.runtime.tasks.drain(within=5)
    assert standin(running).calls[calls:] == [], f"{case}: the Connector was called"
    after = await snapshot(running)
    for table, rows in before.items():
        assert after[table] == rows, f"{case}: table {table} changed"


async def post_raw(
    running: Icx, body: Any, content_type: str | None = "application/json", **headers: str
) -> tuple[int, Any]:
    """POSTs bytes (or a chunked stream) as they are; the JSON answer, or the text."""
    all_headers = {"Content-Type": content_type} if content_type is not None else {}
    all_headers.update(headers)
    async with running.http.post(
        f"{running.url}/api/messages", data=body, headers=all_headers
    ) as r:
        if r.content_type == "application/json":
            return r.status, await r.json()
        return r.status, await r.text()


def encoded(activity: dict[str, Any]) -> bytes:
    return json.dumps(activity).encode()


def a_message(connector: BotConnectorStandIn, text: str = "icx-score help") -> dict[str, Any]:
    """A message in the requester's personal chat: accepted, it would store the conversation
    and send a reply, so a check that let it through would show."""
    return ta.message(
        connector.service_url,
        text,
        aad_object_id=AAD,
        user_id=USER_ID,
        conversation_id=personal_conversation(USER_ID),
    )


def sent_cards(connector: BotConnectorStandIn, conversation: str, since: int) -> list[Any]:
    return [
        a["content"]
        for c in connector.calls[since:]
        if c.verb == "POST" and c.conversation_id == conversation and c.body
        for a in c.body.get("attachments") or []
        if a.get("contentType") == cards.CARD_TYPE
    ]


# --- a delivered prompt (as in test_teams) -------------------------------------------------------


async def delivered(running: Icx, reference: str = "FIN-T1") -> tuple[str, str, str]:
    """The requester has the app and a prompt in their chat: (prompt id, conversation, message
    id), with every call of the delivery already made."""
    conversation = await install_for(running, TEAMS_REQUESTER)
    status, answer = await running.intake(
        intake_body(reference, requester={"teams_aad_object_id": AAD})
    )
    assert status == 201 and answer["prompt"]["status"] == "scheduled", answer
    prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert prompt.status == "sent" and prompt.message_ts, prompt.last_error
    await running.server.runtime.tasks.drain(within=5)
    return prompt.id, conversation, prompt.message_ts


def tap(
    connector: BotConnectorStandIn,
    conversation: str,
    message_id: str,
    verb: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The requester's tap on a button of the card in `message_id`."""
    return ta.card_action(
        connector.service_url,
        verb,
        data,
        aad_object_id=AAD,
        user_id=USER_ID,
        conversation_id=conversation,
        reply_to_id=message_id,
    )


def refusal(result: TapResult) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "type": MESSAGE_RESPONSE,
        "value": prompt_text.refusal(result, translator("en")),
    }


# --- without authentication: bodies --------------------------------------------------------------


def _without(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(activity: dict[str, Any]) -> None:
        for key in path[:-1]:
            activity = activity[key]
        del activity[path[-1]]

    return change


def _set(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def change(activity: dict[str, Any]) -> None:
        for key in path[:-1]:
            activity = activity[key]
        activity[path[-1]] = value

    return change


# A message with one thing wrong, and why it is not an activity.
MALFORMED_ACTIVITIES: dict[str, Callable[[dict[str, Any]], None]] = {
    "no type": _without("type"),
    "type null": _set(None, "type"),
    "type empty": _set("", "type"),
    "no serviceUrl": _without("serviceUrl"),
    "serviceUrl null": _set(None, "serviceUrl"),
    "serviceUrl empty": _set("", "serviceUrl"),
    "no conversation": _without("conversation"),
    "conversation null": _set(None, "conversation"),
    "conversation a string": _set("a:1personal", "conversation"),
    "no conversation.id": _without("conversation", "id"),
    "conversation.id null": _set(None, "conversation", "id"),
    "conversation.id empty": _set("", "conversation", "id"),
    "from a string": _set(USER_ID, "from"),
    "entities a string": _set("mention", "entities"),
    "timestamp not a date": _set("yesterday", "timestamp"),
}


async def test_anything_but_a_json_object_posted_is_refused_and_changes_nothing(
    running_teams: Icx,
) -> None:
    running, connector = running_teams, standin(running_teams)
    message = encoded(a_message(connector))
    refused: list[tuple[str, Any, str | None, int, Any]] = [
        # (case, body, Content-Type, status, answer)
        ("text/plain", message, "text/plain", 415, NOT_JSON),
        ("form", message, "application/x-www-form-urlencoded", 415, NOT_JSON),
        ("text/json", message, "text/json", 415, NOT_JSON),
        ("no Content-Type", message, None, 415, NOT_JSON),
        ("not JSON", b"{not json", "application/json", 400, MALFORMED),
        ("cut short", message[:-1], "application/json", 400, MALFORMED),
        ("empty", b"", "application/json", 400, MALFORMED),
        ("not UTF-8", b'{"type": "message\xff\xfe"}', "application/json", 400, MALFORMED),
        ("a list", b"[]", "application/json", 400, MALFORMED),
        ("a list of the activity", b"[" + message + b"]", "application/json", 400, MALFORMED),
        ("a string", b'"message"', "application/json", 400, MALFORMED),
        ("a number", b"42", "application/json", 400, MALFORMED),
        ("null", b"null", "application/json", 400, MALFORMED),
        ("true", b"true", "application/json", 400, MALFORMED),
    ]
    before, calls = await snapshot(running), len(connector.calls)

    for case, body, content_type, expected_status, expected in refused:
        status, answer = await post_raw(running, body, content_type)
        assert (status, answer) == (expected_status, expected), case
    # The charset parameter is allowed: the same message is refused for what it is.
    status, answer = await post_raw(running, b"[]", "application/json; charset=utf-8")
    assert (status, answer) == (400, MALFORMED)
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        async with running.http.request(method, f"{running.url}/api/messages") as r:
            assert (r.status, r.headers["Allow"]) == (405, "POST"), method

    await assert_nothing_changed(running, before, calls, "not JSON")


async def test_an_activity_without_type_service_or_conversation_is_refused_with_400(
    running_teams: Icx,
) -> None:
    running, connector = running_teams, standin(running_teams)
    before, calls = await snapshot(running), len(connector.calls)

    for case, change in MALFORMED_ACTIVITIES.items():
        activity = a_message(connector)
        change(activity)
        status, answer = await running.teams_post(activity)
        assert (status, answer) == (400, MALFORMED), case

    # A type of the wrong JSON type: msrest turns any JSON value into a string (123 → "123"),
    # so this is an activity of a type icx does not know, acknowledged and ignored as Bot
    # Framework expects of a bot. (400 would do too; a 500 would make Bot Framework retry.)
    for kind in (123, 1.5, True, {"name": "message"}, ["message"]):
        for activity in (
            a_message(connector),
            tap(connector, personal_conversation(USER_ID), "1", cards.SNOOZE, {"prompt": "x"}),
        ):
            activity["type"] = kind
            status, answer = await running.teams_post(activity)
            assert (status, answer) in ((200, ""), (400, MALFORMED)), (kind, answer)

    await assert_nothing_changed(running, before, calls, "malformed")

    # The control: the same message, whole, is accepted, remembered and answered.
    status, _ = await running.teams_post(a_message(connector))
    assert status == 200
    assert (await snapshot(running))["teams_conversation"] != []
    assert sent_cards(connector, personal_conversation(USER_ID), calls)


def _padded(connector: BotConnectorStandIn, size: int) -> bytes:
    """A valid message whose body is exactly `size` bytes (channelData may carry anything)."""
    activity = a_message(connector)
    activity["channelData"]["padding"] = ""
    activity["channelData"]["padding"] = "x" * (size - len(encoded(activity)))
    body = encoded(activity)
    assert len(body) == size
    return body


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    """The body without a Content-Length, in parts (Transfer-Encoding: chunked)."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


async def test_a_body_over_256_kib_is_refused_with_413(running_teams: Icx) -> None:
    running, connector = running_teams, standin(running_teams)
    before, calls = await snapshot(running), len(connector.calls)

    status, answer = await post_raw(running, _padded(connector, MAX_BODY + 1))
    assert (status, answer) == (413, TOO_LARGE)
    status, answer = await post_raw(running, _chunked(_padded(connector, MAX_BODY + 1)))
    assert (status, answer) == (413, TOO_LARGE), "chunked, without Content-Length"
    await assert_nothing_changed(running, before, calls, "too large")

    # The boundary: exactly 256 KiB is an activity like any other, chunked or not.
    for body in (_padded(connector, MAX_BODY), _chunked(_padded(connector, MAX_BODY))):
        status, answer = await post_raw(running, body)
        assert status == 200, answer
    assert len(sent_cards(connector, personal_conversation(USER_ID), calls)) == 2


# --- without authentication: invokes and card taps ------------------------------------------------


# Invokes icx does not handle. Sent with a valid tap's value, each would record the answer if
# it were taken for a tap.
OTHER_INVOKES = [
    "composeExtension/query",
    "composeExtension/submitAction",
    "task/fetch",
    "signin/verifyState",
    "actionableMessage/executeAction",
    "adaptiveCard/Action",  # names are case-sensitive
    "",
    None,
]


def _tap_value(value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "value")


def _action(value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "value", "action")


def _data(value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "value", "action", "data")


def _verb(value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "value", "action", "verb")


def _answer(value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "value", "action", "data", "value")


def _prompt(value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "value", "action", "data", "prompt")


# A tap on the delivered prompt (verb icx.csat or icx.snooze, data {"prompt": id, "value": 4})
# with one thing wrong, and the refusal it gets.
MALFORMED_TAPS: dict[str, tuple[str, Callable[[dict[str, Any]], None], TapResult]] = {
    "no value": (cards.CSAT, _without("value"), TapResult.UNKNOWN),
    "value null": (cards.CSAT, _tap_value(None), TapResult.UNKNOWN),
    "value a list": (cards.CSAT, _tap_value([4]), TapResult.UNKNOWN),
    "value a string": (cards.CSAT, _tap_value("icx.csat"), TapResult.UNKNOWN),
    "no value.action": (cards.CSAT, _without("value", "action"), TapResult.UNKNOWN),
    "action null": (cards.CSAT, _action(None), TapResult.UNKNOWN),
    "action a string": (cards.CSAT, _action("icx.csat"), TapResult.UNKNOWN),
    "action a list": (cards.CSAT, _action([cards.CSAT]), TapResult.UNKNOWN),
    "no verb": (cards.CSAT, _without("value", "action", "verb"), TapResult.UNKNOWN),
    "verb a number": (cards.CSAT, _verb(4), TapResult.UNKNOWN),
    "verb in capitals": (cards.CSAT, _verb("ICX.CSAT"), TapResult.UNKNOWN),
    # Without data there is neither an answer nor a prompt.
    "no data": (cards.CSAT, _without("value", "action", "data"), TapResult.INVALID),
    "data null": (cards.CSAT, _data(None), TapResult.INVALID),
    "data a string": (cards.CSAT, _data("4"), TapResult.INVALID),
    "data a list": (cards.CSAT, _data([4]), TapResult.INVALID),
    "snooze, data a string": (cards.SNOOZE, _data("prompt"), TapResult.UNKNOWN),
    "snooze, data a list": (cards.SNOOZE, _data([]), TapResult.UNKNOWN),
    # The answer itself.
    "no answer": (cards.CSAT, _without("value", "action", "data", "value"), TapResult.INVALID),
    "answer null": (cards.CSAT, _answer(None), TapResult.INVALID),
    "answer a word": (cards.CSAT, _answer("four"), TapResult.INVALID),
    "answer a list": (cards.CSAT, _answer([4]), TapResult.INVALID),
    "answer an object": (cards.CSAT, _answer({"value": 4}), TapResult.INVALID),
    "answer 0": (cards.CSAT, _answer(0), TapResult.INVALID),
    "answer 10**30": (cards.CSAT, _answer(10**30), TapResult.INVALID),
    "answer true": (cards.CSAT, _answer(True), TapResult.INVALID),
    "answer 4.7": (cards.CSAT, _answer(4.7), TapResult.INVALID),
    "answer a full-width ４": (cards.CSAT, _answer("４"), TapResult.INVALID),
    "effort answer 8": (cards.CES, _answer(8), TapResult.INVALID),
    # The prompt id.
    "prompt an object": (cards.CSAT, _prompt({"id": "x"}), TapResult.UNKNOWN),
    "prompt null": (cards.CSAT, _prompt(None), TapResult.UNKNOWN),
    "snooze, no prompt": (
        cards.SNOOZE,
        _without("value", "action", "data", "prompt"),
        TapResult.UNKNOWN,
    ),
}


async def test_an_unknown_invoke_gets_501_and_a_bad_tap_a_refusal_and_nothing_changes(
    running_teams: Icx,
) -> None:
    running, connector = running_teams, standin(running_teams)
    # A Slack prompt, whose id is no Teams prompt either.
    status, answer = await running.intake(intake_body("FIN-S1"))
    assert status == 201, answer
    slack_prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert slack_prompt.platform == "slack" and slack_prompt.status == "sent"
    prompt_id, conversation, message_id = await delivered(running)
    before, calls = await snapshot(running), len(connector.calls)

    for name in OTHER_INVOKES:
        activity = tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id})
        activity["value"]["action"]["data"]["value"] = 5
        if name is None:
            del activity["name"]
        else:
            activity["name"] = name
        status, _ = await running.teams_post(activity)
        assert status == 501, name

    # A tap, answered in the invoke response with a message: Teams shows it in place of the card.
    for case, (verb, change, result) in MALFORMED_TAPS.items():
        activity = tap(connector, conversation, message_id, verb, {"prompt": prompt_id, "value": 4})
        change(activity)
        status, answer = await running.teams_post(activity)
        assert (status, answer) == (200, refusal(result)), case

    # Well-formed taps for a prompt that does not exist.
    for unknown in (uuid.uuid4().hex, slack_prompt.id, prompt_id.upper(), prompt_id + " ", ""):
        for verb, data in (
            (cards.CSAT, {"prompt": unknown, "value": 4}),
            (cards.SNOOZE, {"prompt": unknown}),
            (cards.CHANGE_CSAT, {"prompt": unknown}),
        ):
            status, answer = await running.teams_post(
                tap(connector, conversation, message_id, verb, data)
            )
            assert (status, answer) == (200, refusal(TapResult.UNKNOWN)), (unknown, verb)

    await assert_nothing_changed(running, before, calls, "bad tap")
    assert prompt_text.refusal(TapResult.UNKNOWN, translator("en")) == UNKNOWN
    assert prompt_text.refusal(TapResult.INVALID, translator("en")) == INVALID

    # The control: the same tap, whole, is recorded and answered with the effort card.
    status, answer = await running.teams_post(
        tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id, "value": 4})
    )
    assert status == 200 and answer["type"] == cards.CARD_TYPE
    assert [r["satisfaction"] for r in (await snapshot(running))["response"]] == [4]


async def test_a_message_without_words_gets_the_help_card(running_teams: Icx) -> None:
    """Nothing to answer is not an error: the person learns what icx understands."""
    running, connector = running_teams, standin(running_teams)
    conversation = personal_conversation(USER_ID)
    for case, text in (("empty", ""), ("blanks", "   "), ("empty HTML", "<p></p>"), ("none", None)):
        calls = len(connector.calls)
        activity = a_message(connector)
        if text is None:
            del activity["text"]
        else:
            activity["text"] = text

        status, answer = await running.teams_post(activity)

        assert (status, answer) == (200, ""), case
        (card,) = sent_cards(connector, conversation, calls)
        assert HELP_INTRO in json.dumps(card), case
    async with running.db.session() as s:
        (stored,) = (await s.exec(select(TeamsConversation))).all()
    assert (stored.kind, stored.key) == ("user", AAD)

    # In a channel, a bare @mention of the bot: the mention is not a word.
    calls = len(connector.calls)
    activity = ta.channel_mention(connector.service_url, "")
    status, _ = await running.teams_post(activity)
    assert status == 200
    (card,) = sent_cards(connector, activity["conversation"]["id"], calls)
    assert HELP_INTRO in json.dumps(card)


# Activities Bot Framework would never send, whose shape the code trusts.
WRONGLY_SHAPED: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "message, channelData.channel a string": ("message", _set("19:x", "channelData", "channel")),
    "message, channelData.tenant a string": (
        "message",
        _set(ta.TENANT_ID, "channelData", "tenant"),
    ),
    "message, a mention whose `mentioned` is a string": (
        "message",
        _set([{"type": "mention", "text": "<at>icx</at>", "mentioned": "icx"}], "entities"),
    ),
    "conversationUpdate, channelData.team a string": (
        "team added",
        _set(ta.TEAM_ID, "channelData", "team"),
    ),
}


async def test_input_whose_shape_the_code_trusts_is_never_a_500(running_teams: Icx) -> None:
    running, connector = running_teams, standin(running_teams)
    prompt_id, conversation, message_id = await delivered(running)
    answers: dict[str, tuple[int, Any]] = {}
    for case, (kind, change) in WRONGLY_SHAPED.items():
        activity = (
            a_message(connector) if kind == "message" else ta.team_added(connector.service_url)
        )
        change(activity)
        answers[case] = await running.teams_post(activity)
    overflow = "a tap whose answer is 1e999 (a float's infinity)"
    activity = tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id})
    body = encoded(activity).replace(b'"prompt": ', b'"value": 1e999, "prompt": ')
    assert b"1e999" in body
    answers[overflow] = await post_raw(running, body)

    assert {case: answer for case, answer in answers.items() if answer[0] >= 500} == {}
    assert answers[overflow] == (200, refusal(TapResult.INVALID))
    assert (await snapshot(running))["response"] == []


# --- with authentication -------------------------------------------------------------------------

OTHER_APP_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture
async def authenticated(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    company: Company,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Icx]:
    """Teams with an app id: only activities with the Bot Framework's token are accepted. The
    channel-token check (botframework/connector/auth/channel_validation.py, the path every
    Teams token takes with a public-cloud configuration) reads its keys from this class
    attribute when set, instead of login.botframework.com: the app's configuration names no
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL, so botbuilder builds its public-cloud
    authentication, whose channel provider is public Azure."""
    monkeypatch.setattr(
        ChannelValidation, "open_id_metadata_endpoint", connector.openid_metadata_url
    )
    settings = settings_for(
        db.url, slack, microsoft_app_id=ta.APP_ID, microsoft_app_password=SecretStr("secret")
    )
    runtime = Runtime(
        Config(settings, company), RuntimeOptions(clock=clock, housekeeping_every=3600)
    )
    server = await start_server(runtime, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as http:
        yield Icx(server, slack, http, clock, connector)
    await server.stop()


async def sent_prompt_row(running: Icx) -> tuple[str, str, str]:
    """A prompt as the outbox leaves it after delivering to the requester's personal chat,
    written directly: delivering with an app id would ask login.microsoftonline.com for a token.
    Returns (prompt id, conversation, message id)."""
    now = running.clock()
    prompt_id = uuid.uuid4().hex
    conversation, message_id = personal_conversation(USER_ID), ta.new_message_id()
    key = Keyer(SECRET_KEY).key("teams", AAD)
    async with running.db.transaction() as s:
        interaction = Interaction(
            department="finance",
            service="expense-reimbursement",
            source="jira",
            reference=f"FIN-{uuid.uuid4().hex[:8]}",
            requester_key=key,
            occurred_at=now,
            created_at=now,
        )
        s.add(interaction)
        await s.flush()
        assert interaction.id is not None
        prompt = Prompt(
            id=prompt_id,
            interaction_id=interaction.id,
            department="finance",
            service="expense-reimbursement",
            platform="teams",
            recipient_key=key,
            recipient_address=AAD,
            channel_id=conversation,
            message_ts=message_id,
            locale="en-US",
            status="sent",
            attempts=1,
            created_at=now,
            sent_at=now,
            expires_at=now + timedelta(days=7),
        )
        s.add(prompt)
    return prompt_id, conversation, message_id


def _bearer(token: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def _unsigned(connector: BotConnectorStandIn) -> str:
    """A token with the published key id but no signature at all (alg "none")."""
    signed = connector.sign_token(ta.APP_ID)
    claims = jwt.decode(signed, options={"verify_signature": False})
    kid = jwt.get_unverified_header(signed)["kid"]
    return jwt.encode(claims, None, algorithm="none", headers={"kid": kid})


# What is sent instead of a valid token, and how the 401 begins.
UNAUTHENTICATED: dict[str, tuple[Callable[[BotConnectorStandIn], dict[str, str]], str]] = {
    "no Authorization header": (lambda c: {"Content-Type": "application/json"}, "not authorized"),
    "empty Authorization header": (
        lambda c: {"Content-Type": "application/json", "Authorization": ""},
        "not authorized",
    ),
    "Bearer garbage": (lambda c: _bearer("garbage"), "not authorized"),
    "Bearer and nothing": (lambda c: _bearer(""), "not authorized"),
    "Basic xyz": (
        lambda c: {"Content-Type": "application/json", "Authorization": "Basic xyz"},
        "not authorized",
    ),
    "the token without its scheme": (
        lambda c: {"Content-Type": "application/json", "Authorization": c.sign_token(ta.APP_ID)},
        "not authorized",
    ),
    "signed with an unpublished key": (
        lambda c: _bearer(c.sign_token(ta.APP_ID, key="foreign")),
        "not authorized",
    ),
    "not signed (alg none)": (lambda c: _bearer(_unsigned(c)), "not authorized"),
    "expired an hour ago": (
        lambda c: _bearer(c.sign_token(ta.APP_ID, lifetime=-3600)),
        "not authorized",
    ),
    "for another app": (lambda c: _bearer(c.sign_token(OTHER_APP_ID)), "not authorized"),
    "from another issuer": (
        lambda c: _bearer(c.sign_token(ta.APP_ID, issuer="https://issuer.example")),
        "not authorized",
    ),
    "for another service URL": (
        lambda c: _bearer(c.sign_token(ta.APP_ID, service_url=ta.SERVICE_URL_PLACEHOLDER)),
        "not authorized",
    ),
    "serviceurl claim without the trailing slash": (
        lambda c: _bearer(c.sign_token(ta.APP_ID, service_url=c.url)),
        "not authorized",
    ),
}


async def test_a_tap_without_a_valid_token_is_refused_with_401_and_changes_nothing(
    authenticated: Icx, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, connector = authenticated, standin(authenticated)
    prompt_id, conversation, message_id = await sent_prompt_row(running)
    before, calls = await snapshot(running), len(connector.calls)

    # Each is a valid tap by the recipient: let through, it would record satisfaction 4.
    for case, (headers, says) in UNAUTHENTICATED.items():
        activity = tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id})
        activity["value"]["action"]["data"]["value"] = 4
        status, answer = await running.teams_post(activity, headers(connector))
        assert status == 401, (case, answer)
        assert answer["error"].startswith(says), (case, answer)

    # A valid token, but for an activity whose serviceUrl is not the one the token names,
    # or from a channel the signing key is not endorsed for.
    token = connector.sign_token(ta.APP_ID)
    for case, field_name, value in (
        ("activity for another service", "serviceUrl", "https://attacker.example/"),
        ("key not endorsed for the channel", "channelId", "webchat"),
    ):
        activity = tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id})
        activity[field_name] = value
        status, answer = await running.teams_post(activity, _bearer(token))
        assert status == 401, (case, answer)

    # A valid token that cannot be checked, because the signing keys cannot be fetched: 503,
    # which Bot Framework retries.
    missing = connector.openid_metadata_url.replace("openidconfiguration", "gone")
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", missing)
    activity = tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id})
    activity["value"]["action"]["data"]["value"] = 4
    status, answer = await running.teams_post(activity, _bearer(token))
    assert (status, answer) == (503, {"error": "Bot Framework signing keys unavailable"})

    await assert_nothing_changed(running, before, calls, "401")


async def test_a_tap_with_a_valid_token_is_answered_and_the_check_blocks_nothing_else(
    authenticated: Icx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the cases above, with keys that provably come from the stand-in. And
    botbuilder fetches them with blocking `requests`: the fetch is held open until /healthz has
    answered, which it can only do if the fetch is off the event loop."""
    running, connector = authenticated, standin(authenticated)
    prompt_id, conversation, message_id = await sent_prompt_row(running)
    calls = len(connector.calls)
    arrived, release = threading.Event(), threading.Event()
    document = connector._openid_document

    def held(base: str) -> dict[str, Any]:  # runs in the stand-in's key-server thread
        arrived.set()
        release.wait(10)
        return document(base)

    monkeypatch.setattr(connector, "_openid_document", held)
    checking = asyncio.create_task(
        running.teams_post(
            tap(connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id, "value": 4}),
            ta.activity_headers(connector.sign_token(ta.APP_ID)),
        )
    )
    try:
        assert await asyncio.to_thread(arrived.wait, 5), "the key fetch did not start"
        async with asyncio.timeout(5):
            async with running.http.get(f"{running.url}/healthz") as r:
                assert (r.status, await r.json()) == (200, {"status": "ok"})
        assert not checking.done()
    finally:
        release.set()
    async with asyncio.timeout(5):
        status, answer = await checking

    assert status == 200, answer
    assert answer["statusCode"] == 200 and answer["type"] == cards.CARD_TYPE
    assert "Recorded: Satisfied" in json.dumps(answer["value"])
    verbs = [
        b["verb"] for s in answer["value"]["body"] if s["type"] == "ActionSet" for b in s["actions"]
    ]
    assert set(verbs) == {cards.CES}
    (response,) = (await snapshot(running))["response"]
    assert (response["prompt_id"], response["satisfaction"]) == (prompt_id, 4)
    assert connector.calls[calls:] == []  # the answer travels in the HTTP response
    assert connector.openid_metadata_url.endswith(connector.key_fetches[0])


# --- the regression of GUIDE §7 ------------------------------------------------------------------


async def test_stock_cloudadapter_process_answers_500_to_a_card_tap_but_api_messages_answers_200(
    running_teams: Icx,
) -> None:
    """botbuilder 4.17's `CloudAdapter.process()` serializes an invoke response's body with
    msrest, which fails on a plain dict (the card): the person sees an error even though the
    tap was recorded. /api/messages answers the same tap with the card. If the stock path ever
    answers 200, the hand-written endpoint (bots/teams/endpoint.py) may no longer be needed."""
    running, connector = running_teams, standin(running_teams)
    teams = running.server.runtime.teams
    assert teams is not None
    prompt_id, conversation, message_id = await delivered(running)
    activity = tap(
        connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id, "value": 4}
    )

    # The same adapter and bot as icx's, behind botbuilder's stock aiohttp entry point.
    async def stock(request: web.Request) -> web.Response:
        response = await teams.adapter.process(request, teams.bot)
        assert response is not None
        return response

    app = web.Application()
    app.router.add_post("/api/messages", stock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        async with running.http.post(f"http://{host}:{port}/api/messages", json=activity) as r:
            stock_status = r.status
    finally:
        await runner.cleanup()
    assert stock_status == 500, (
        f"botbuilder's CloudAdapter.process() answered {stock_status} to a card tap: the "
        "defect of GUIDE §7 may be fixed"
    )
    assert [r["satisfaction"] for r in (await snapshot(running))["response"]] == [4]

    status, answer = await running.teams_post({**activity, "id": ta.new_event_id()})

    assert status == 200
    assert answer["statusCode"] == 200 and answer["type"] == cards.CARD_TYPE
    assert "Recorded: Satisfied" in json.dumps(answer["value"])
