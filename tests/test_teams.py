"""The whole Teams path through the real server: install → intake → proactive card → taps answered
in the invoke response → icx-score, against a local stand-in of the Bot Connector."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlmodel import select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.standin.bot_connector import BotConnectorStandIn
from bots.standin.slack_web_api import SlackStandIn
from bots.teams import cards
from core.config import Config, ConfigError, parse_company
from core.departments import Company
from core.settings import Settings
from storage.db import Database
from storage.models import OptOut, Prompt, Response, TeamsConversation
from tests import teams_activities as ta
from tests.conftest import (
    API_TOKEN,
    SECRET_KEY,
    TEAMS_PEOPLE,
    TEAMS_REQUESTER,
    FakeClock,
    Icx,
    install_for,
    intake_body,
    settings_for,
)

USER_ID, AAD, NAME, EMAIL = TEAMS_REQUESTER


def teams_intake(reference: str = "FIN-2001", **requester: str) -> dict[str, object]:
    return intake_body(reference, requester=requester or {"teams_aad_object_id": AAD})


async def _conversations(running: Icx) -> list[TeamsConversation]:
    async with running.db.session() as session:
        return list((await session.exec(select(TeamsConversation))).all())


async def _response(running: Icx, prompt_id: str) -> Response:
    async with running.db.session() as session:
        row = (await session.exec(select(Response).where(Response.prompt_id == prompt_id))).one()
    return row


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Action.Execute of a card, in order, from action sets and the card's own actions."""
    found = [
        action
        for element in card["body"]
        if element["type"] == "ActionSet"
        for action in element["actions"]
    ]
    return found + card.get("actions", [])


async def tap(
    running: Icx, conversation: str, message_id: str, verb: str, **data: Any
) -> dict[str, Any]:
    assert running.connector is not None
    status, answer = await running.teams_post(
        ta.card_action(
            running.connector.service_url,
            verb,
            data,
            aad_object_id=AAD,
            user_id=USER_ID,
            conversation_id=conversation,
            reply_to_id=message_id,
        )
    )
    assert status == 200, answer
    return answer


async def delivered_prompt(running: Icx, body: dict[str, object]) -> tuple[Prompt, dict[str, Any]]:
    status, answer = await running.intake(body)
    assert status == 201 and answer["prompt"]["status"] == "scheduled", answer
    prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert prompt.status == "sent", prompt.last_error
    connector = running.connector
    assert connector is not None
    sent = connector.sent(prompt.channel_id)
    return prompt, sent[-1]


async def test_install_then_prompt_then_taps_then_score(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    conversation = await install_for(running, TEAMS_REQUESTER)
    (stored,) = await _conversations(running)
    assert (stored.kind, stored.key, stored.email) == ("user", AAD, EMAIL)
    assert stored.reference["conversation"]["id"] == conversation

    prompt, activity = await delivered_prompt(running, teams_intake())
    assert prompt.channel_id == conversation and prompt.message_ts
    (attachment,) = activity["attachments"]
    assert attachment["contentType"] == cards.CARD_TYPE
    card = attachment["content"]
    assert card["version"] == "1.5" and "Finance recently helped you" in str(card)
    buttons = _actions(card)
    assert [b["data"].get("value") for b in buttons if b["verb"] == cards.CSAT] == [1, 2, 3, 4, 5]
    assert all(b["type"] == "Action.Execute" and b["data"]["prompt"] == prompt.id for b in buttons)

    # One tap stores satisfaction and the same HTTP answer carries the effort question.
    answer = await tap(
        running, conversation, prompt.message_ts, cards.CSAT, prompt=prompt.id, value=4
    )
    assert answer["statusCode"] == 200 and answer["type"] == cards.CARD_TYPE
    assert (await _response(running, prompt.id)).satisfaction == 4
    ces = [b["data"]["value"] for b in _actions(answer["value"]) if b["verb"] == cards.CES]
    assert ces == [1, 2, 3, 4, 5, 6, 7]
    assert "Recorded: Satisfied" in str(answer["value"])

    answer = await tap(
        running, conversation, prompt.message_ts, cards.CES, prompt=prompt.id, value=6
    )
    assert (await _response(running, prompt.id)).effort == 6
    thanks = answer["value"]
    inputs = {e["id"]: e for e in thanks["body"] if e["type"].startswith("Input.")}
    assert set(inputs) == {"reasons", "comment", "external_customer", "contact_consent"}
    assert inputs["reasons"]["isMultiSelect"] is True

    # The optional follow-up: Teams merges the inputs' values into the action's data.
    answer = await tap(
        running,
        conversation,
        prompt.message_ts,
        cards.DETAILS,
        prompt=prompt.id,
        reasons="speed,expertise",
        comment="  Quick and friendly  ",
        external_customer="true",
        contact_consent="true",
    )
    response = await _response(running, prompt.id)
    assert response.reasons == ["speed", "expertise"] and response.comment == "Quick and friendly"
    assert response.external_customer and response.contact_consent
    assert response.contact_address == f"teams:{AAD}"
    # The card shows what is recorded, so a second look finds the answers in place.
    redrawn = {e["id"]: e for e in answer["value"]["body"] if e["type"].startswith("Input.")}
    assert redrawn["reasons"]["value"] == "speed,expertise"
    assert redrawn["external_customer"]["value"] == "true"

    # Changing an earlier answer brings back its question with the answer highlighted.
    answer = await tap(
        running, conversation, prompt.message_ts, cards.CHANGE_CSAT, prompt=prompt.id
    )
    chosen = [b for b in _actions(answer["value"]) if b.get("style") == "positive"]
    assert [b["data"]["value"] for b in chosen] == [4]

    answer = await tap(running, conversation, prompt.message_ts, cards.SNOOZE, prompt=prompt.id)
    async with running.db.session() as session:
        assert len((await session.exec(select(OptOut))).all()) == 1
    assert "no feedback requests until" in str(answer["value"])


async def test_refusals_are_messages_and_change_nothing(running_teams: Icx) -> None:
    running = running_teams
    conversation = await install_for(running, TEAMS_REQUESTER)
    prompt, _ = await delivered_prompt(running, teams_intake())
    assert prompt.message_ts is not None

    answer = await tap(
        running, conversation, prompt.message_ts, cards.CES, prompt=prompt.id, value=3
    )
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert "how satisfied you are first" in answer["value"]
    for data in ({"prompt": prompt.id, "value": 9}, {"prompt": prompt.id, "value": "x"}, {}):
        answer = await tap(running, conversation, prompt.message_ts, cards.CSAT, **data)
        assert answer["type"] == "application/vnd.microsoft.activity.message"
    answer = await tap(running, conversation, prompt.message_ts, "icx.launch", prompt=prompt.id)
    assert "no longer available" in answer["value"]
    answer = await tap(
        running, conversation, "1:an-older-copy", cards.CSAT, prompt=prompt.id, value=5
    )
    assert "out of date" in answer["value"]

    # Someone else's tap on the prompt (a forwarded card) is refused.
    other_user, other_aad, _, _ = TEAMS_PEOPLE[1]
    assert running.connector is not None
    status, answer = await running.teams_post(
        ta.card_action(
            running.connector.service_url,
            cards.CSAT,
            {"prompt": prompt.id, "value": 1},
            aad_object_id=other_aad,
            user_id=other_user,
            conversation_id=conversation,
            reply_to_id=prompt.message_ts,
        )
    )
    assert status == 200 and "sent to someone else" in answer["value"]

    running.clock.advance(days=8)
    answer = await tap(
        running, conversation, prompt.message_ts, cards.CSAT, prompt=prompt.id, value=5
    )
    assert "expired" in answer["value"]
    async with running.db.session() as session:
        assert (await session.exec(select(Response))).all() == []


async def test_requesters_without_the_app_are_skipped_as_unreachable(running_teams: Icx) -> None:
    running = running_teams
    status, answer = await running.intake(teams_intake("FIN-3001"))
    assert status == 201
    assert answer["prompt"] == {
        "id": answer["prompt"]["id"],
        "status": "skipped",
        "reason": "unreachable",
    }
    status, answer = await running.intake(teams_intake("FIN-3002", email="nobody@acme.example"))
    assert answer["prompt"]["reason"] == "unreachable"

    # Once installed, the same person is found by object id (any case) and by email.
    await install_for(running, TEAMS_REQUESTER)
    status, answer = await running.intake(teams_intake("FIN-3003", email=EMAIL.upper()))
    assert answer["prompt"]["status"] == "scheduled", answer
    prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert prompt.platform == "teams" and prompt.status == "sent"


async def test_uninstall_forgets_and_a_removed_app_fails_the_prompt(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    conversation = await install_for(running, TEAMS_REQUESTER)
    status, _ = await running.teams_post(
        ta.uninstalled(
            connector.service_url, aad_object_id=AAD, user_id=USER_ID, conversation_id=conversation
        )
    )
    assert status == 200 and await _conversations(running) == []

    # Removed after the prompt was scheduled: Teams refuses, the prompt fails with the reason.
    await install_for(running, TEAMS_REQUESTER)
    connector.unreachable_conversation(conversation)
    status, answer = await running.intake(teams_intake("FIN-4001"))
    prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert prompt.status == "failed" and "403" in (prompt.last_error or "")


async def test_team_channels_are_remembered_and_forgotten(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    status, _ = await running.teams_post(ta.team_added(connector.service_url))
    assert status == 200
    (channel,) = await _conversations(running)
    assert (channel.kind, channel.key, channel.team_id) == ("channel", ta.TEAM_ID, ta.TEAM_ID)

    # A configured channel other than General is reached with the team's service and identity.
    teams = running.server.runtime.teams
    assert teams is not None
    ref = await teams.messenger.post_card(ta.CHANNEL_ID, cards.card([]), "digest")
    assert ref.channel_id == ta.CHANNEL_ID and connector.sent(ta.CHANNEL_ID)

    status, _ = await running.teams_post(ta.team_removed(connector.service_url))
    assert status == 200 and await _conversations(running) == []


@pytest.fixture
async def by_hand(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    company: Company,
    clock: FakeClock,
) -> AsyncIterator[Icx]:
    """Slack and Teams with the outbox driven by the test."""
    config = Config(settings_for(db.url, slack, icx_teams_without_auth=True), company)
    runtime = Runtime(config, RuntimeOptions(clock=clock, background=False))
    server = await start_server(runtime, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as http:
        yield Icx(server, slack, http, clock, connector)
    await server.stop()


async def _status(running: Icx, prompt_id: str) -> Prompt:
    async with running.db.session() as session:
        prompt = await session.get(Prompt, prompt_id)
    assert prompt is not None
    return prompt


@pytest.mark.parametrize("status", [412, 502, 504])
async def test_transient_teams_failures_are_retried(by_hand: Icx, status: int) -> None:
    running, connector = by_hand, by_hand.connector
    assert connector is not None
    outbox = running.server.runtime.outbox
    await install_for(running, TEAMS_REQUESTER)
    _, answer = await running.intake(teams_intake())
    connector.fail_next(1, status=status, path_contains="/activities")
    assert await outbox.drain_once() == 1
    prompt = await _status(running, answer["prompt"]["id"])
    assert prompt.status == "pending" and str(status) in (prompt.last_error or "")
    running.clock.advance(seconds=10)
    assert await outbox.drain_once() == 1
    assert (await _status(running, prompt.id)).status == "sent"


async def test_a_teams_rate_limit_holds_back_that_prompt_only(by_hand: Icx) -> None:
    running, connector = by_hand, by_hand.connector
    assert connector is not None
    outbox = running.server.runtime.outbox
    await install_for(running, TEAMS_REQUESTER)
    _, teams = await running.intake(teams_intake())
    connector.rate_limit_next(1, retry_after=30, path_contains="/activities")
    assert await outbox.drain_once() == 1
    held = await _status(running, teams["prompt"]["id"])
    assert held.status == "pending" and "429" in (held.last_error or "")
    assert held.next_attempt_at is not None
    wait = (held.next_attempt_at - running.clock.now).total_seconds()
    assert 30 <= wait <= 38  # Retry-After plus jitter

    # Teams limits each conversation, so Slack (and other Teams chats) keep going.
    _, slack = await running.intake(intake_body("FIN-5002"))
    assert await outbox.drain_once() == 1
    assert (await _status(running, slack["prompt"]["id"])).status == "sent"
    running.clock.advance(seconds=40)
    assert await outbox.drain_once() == 1
    assert (await _status(running, held.id)).status == "sent"


async def test_a_teams_only_install_runs_without_slack(
    db: Database, connector: BotConnectorStandIn, company: Company, clock: FakeClock
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=db.url,
        icx_api_token=SecretStr(API_TOKEN),
        icx_secret_key=SecretStr(SECRET_KEY),
        icx_teams_without_auth=True,
    )
    runtime = Runtime(Config(settings, company), RuntimeOptions(clock=clock))
    server = await start_server(runtime, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            running = Icx(server, SlackStandIn(), http, clock, connector)
            async with http.post(f"{server.url}/slack/events", data=b"x") as r:
                assert r.status == 404  # no Slack endpoint without Slack
            status, answer = await running.intake(intake_body())
            assert status == 400
            assert answer["problems"][0]["message"] == "Slack is not connected"
            await install_for(running, TEAMS_REQUESTER)
            prompt, _ = await delivered_prompt(running, teams_intake())
            assert prompt.platform == "teams"
    finally:
        await server.stop()


def test_serve_needs_a_platform(company: Company) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, icx_api_token=SecretStr(API_TOKEN), icx_secret_key=SecretStr(SECRET_KEY)
    )
    with pytest.raises(ConfigError) as error:
        Runtime(Config(settings, company))
    assert "MICROSOFT_APP_ID" in str(error.value) and "SLACK_BOT_TOKEN" in str(error.value)


async def test_start_up_names_configured_channels_icx_cannot_reach(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    company = parse_company(
        {"departments": [{"key": "it", "name": "IT", "teams": {"digest_channel": ta.CHANNEL_ID}}]}
    )
    config = Config(settings_for(db.url, slack, icx_teams_without_auth=True), company)
    server = await start_server(Runtime(config, RuntimeOptions(clock=clock)), "127.0.0.1", 0)
    try:
        assert f"Teams channel {ta.CHANNEL_ID} of it is not known to icx yet" in caplog.text
        teams = server.runtime.teams
        assert teams is not None
        async with aiohttp.ClientSession() as http:
            running = Icx(server, slack, http, clock, connector)
            # Joining a team announces its General channel only...
            assert (await running.teams_post(ta.team_added(connector.service_url)))[0] == 200
            assert await teams.messenger.can_post(ta.TEAM_ID)
            assert not await teams.messenger.can_post(ta.CHANNEL_ID)
            # ...another channel becomes known when someone @mentions icx there.
            mention = ta.channel_mention(connector.service_url, "icx-score")
            assert (await running.teams_post(mention))[0] == 200
        assert await teams.messenger.can_post(ta.CHANNEL_ID)
    finally:
        await server.stop()


async def test_other_organisations_are_ignored(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    company: Company,
    clock: FakeClock,
) -> None:
    settings = settings_for(
        db.url, slack, icx_teams_without_auth=True, icx_teams_tenants=ta.TENANT_ID.upper()
    )
    server = await start_server(
        Runtime(Config(settings, company), RuntimeOptions(clock=clock)), "127.0.0.1", 0
    )
    try:
        async with aiohttp.ClientSession() as http:
            running = Icx(server, slack, http, clock, connector)
            user_id, aad, _, _ = TEAMS_PEOPLE[1]
            outsider = ta.installed(
                connector.service_url,
                aad_object_id=aad,
                user_id=user_id,
                conversation_id="a:1outsider",
                tenant_id="11111111-2222-4333-8444-555555555555",
            )
            assert (await running.teams_post(outsider))[0] == 200
            assert await _conversations(running) == []
            score = ta.message(
                connector.service_url,
                "icx-score",
                aad_object_id=aad,
                user_id=user_id,
                conversation_id="a:1outsider",
                tenant_id="11111111-2222-4333-8444-555555555555",
            )
            assert (await running.teams_post(score))[0] == 200
            assert connector.sent() == []  # no scores for another organisation
            # The company's own people (tenant ids in any case) are served.
            await install_for(running, TEAMS_REQUESTER)
            assert [c.key for c in await _conversations(running)] == [AAD]
    finally:
        await server.stop()


async def test_add_upgrade_keeps_and_remove_upgrade_forgets(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    conversation = await install_for(running, TEAMS_REQUESTER)
    upgraded = ta.uninstalled(
        connector.service_url, aad_object_id=AAD, user_id=USER_ID, conversation_id=conversation
    )
    upgraded["action"] = "add-upgrade"
    assert (await running.teams_post(upgraded))[0] == 200
    assert len(await _conversations(running)) == 1
    upgraded["action"] = "remove-upgrade"
    assert (await running.teams_post(upgraded))[0] == 200
    assert await _conversations(running) == []


async def test_a_rate_limit_without_retry_after_backs_off(by_hand: Icx) -> None:
    running, connector = by_hand, by_hand.connector
    assert connector is not None
    await install_for(running, TEAMS_REQUESTER)
    _, answer = await running.intake(teams_intake())
    connector.rate_limit_next(1, retry_after=None, path_contains="/activities")
    assert await running.server.runtime.outbox.drain_once() == 1
    held = await _status(running, answer["prompt"]["id"])
    assert held.status == "pending" and held.next_attempt_at is not None
    # The outbox's exponential backoff (first attempt: 1–2 s), not a fixed second forever.
    assert 0.5 <= (held.next_attempt_at - running.clock.now).total_seconds() <= 2.5


async def test_a_long_display_name_is_kept_short_enough_to_store(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    user_id, aad, _, email = TEAMS_PEOPLE[2]
    connector.add_member(user_id, aad, "N" * 256, email=email)
    await install_for(running, TEAMS_PEOPLE[2])
    (stored,) = await _conversations(running)
    assert stored.name == "N" * 200 and stored.email == email


async def test_one_token_client_serves_every_send() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        microsoft_app_id=ta.APP_ID,
        microsoft_app_password=SecretStr("secret"),
    )
    from bots.teams.app import bot_framework_config
    from bots.teams.credentials import CachedCredentialFactory

    factory = CachedCredentialFactory(bot_framework_config(settings))
    scope, login = (
        "https://api.botframework.com",
        "https://login.microsoftonline.com/botframework.com",
    )
    first = await factory.create_credentials(ta.APP_ID, scope, login, True)
    again = await factory.create_credentials(ta.APP_ID, scope, login, True)
    other = await factory.create_credentials(ta.APP_ID, "https://other.example", login, True)
    assert first is again and first is not other


def test_msrest_retry_policy_is_cheap_and_unchanged() -> None:
    from msrest.universal_http.requests import ClientRetryPolicy

    import bots.teams.app  # noqa: F401  (applies the patch)

    assert isinstance(ClientRetryPolicy.safe_codes, frozenset)
    forcelist = ClientRetryPolicy().policy.status_forcelist
    assert 408 in forcelist and 500 in forcelist and 502 in forcelist
    assert 404 not in forcelist and 501 not in forcelist and 505 not in forcelist
