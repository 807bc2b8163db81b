"""Asking for feedback where the service happened, in Teams: the "Ask for feedback" action on a
message (fetchTask opens the form, submitAction asks the author) and the icx-ask command,
through the real server's /api/messages against the Bot Connector stand-in."""

import copy
import json
import re
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.standin.bot_connector import BotConnectorStandIn
from bots.standin.slack_web_api import SlackStandIn
from bots.teams import cards
from core.config import Config, parse_company
from core.departments import Company
from storage.db import Database
from storage.models import Interaction, Prompt
from tests import teams_activities as ta
from tests.conftest import (
    COMPANY,
    TEAMS_PEOPLE,
    TEAMS_REQUESTER,
    FakeClock,
    Icx,
    install_for,
    settings_for,
)

REQUESTER = TEAMS_REQUESTER  # installed the app in each test that needs them reachable
PROVIDER = TEAMS_PEOPLE[1]  # Finance, listed by Entra object id
TWO_DEPARTMENTS = TEAMS_PEOPLE[2]  # Finance by email, Legal by object id; never installed
OUTSIDER = TEAMS_PEOPLE[4]  # no department's member
NO_APP = TEAMS_PEOPLE[5]  # never installed the app

TASK_MESSAGE = "message"
CJK = re.compile(r"[\u4e00-\u9fff]")
FOREIGN_TENANT = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def company() -> Company:
    """conftest's company with members: object ids in upper case and emails in any case still
    match."""
    data = copy.deepcopy(COMPANY)
    finance, _, legal = data["departments"]
    finance["members"] = {
        "teams_users": [PROVIDER[1].upper()],
        "emails": [TWO_DEPARTMENTS[3].upper()],
    }
    legal["members"] = {"teams_users": [TWO_DEPARTMENTS[1]]}
    legal["services"] = [{"key": "contract-review", "name": "Contract review"}]
    return parse_company(data)


def _author(person: tuple[str, str, str, str]) -> dict[str, Any]:
    return ta.author_person(person[1], person[2])


async def _act(
    running: Icx,
    step: str,
    invoker: tuple[str, str, str, str],
    author: dict[str, Any],
    **options: Any,
) -> dict[str, Any]:
    """The action's invoke as `invoker`; its answer, which must be 200 and JSON."""
    assert running.connector is not None
    user_id, aad, _, _ = invoker
    activity = ta.ask_action(
        running.connector.service_url,
        step,
        author=author,
        aad_object_id=aad,
        user_id=user_id,
        **options,
    )
    status, answer = await running.teams_post(activity)
    assert status == 200 and isinstance(answer, dict), (status, answer)
    return answer


def _said(answer: dict[str, Any]) -> str:
    """The text of a task-module message answer."""
    assert answer["task"]["type"] == TASK_MESSAGE, answer
    return str(answer["task"]["value"])


def _form(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["task"]["type"] == "continue", answer
    attachment = answer["task"]["value"]["card"]
    assert attachment["contentType"] == cards.CARD_TYPE
    return dict(attachment["content"])


def _inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in card["body"] if e["type"].startswith("Input.")}


async def _interactions(running: Icx) -> list[Interaction]:
    async with running.db.session() as session:
        return list((await session.exec(select(Interaction))).all())


async def _prompts(running: Icx) -> list[Prompt]:
    async with running.db.session() as session:
        return list((await session.exec(select(Prompt))).all())


def _card_texts(activity: dict[str, Any]) -> str:
    (attachment,) = activity["attachments"]
    return json.dumps(attachment["content"], ensure_ascii=False)


# --- the message action ------------------------------------------------------------------------


async def test_the_action_opens_a_form_with_the_members_department_and_its_services(
    running_teams: Icx,
) -> None:
    running = running_teams
    answer = await _act(running, "fetch", PROVIDER, _author(REQUESTER))
    assert answer["task"]["value"]["title"] == "Ask for feedback"
    form = _form(answer)
    assert "icx will ask Teams Person 1" in json.dumps(form)
    inputs = _inputs(form)
    assert inputs["department"]["value"] == "finance"
    assert [c["value"] for c in inputs["department"]["choices"]] == ["finance"]
    services = inputs["service"]["choices"]
    assert [c["value"] for c in services] == [
        "",
        "finance/expense-reimbursement",
        "finance/supplier-payment",
    ]
    assert [c["title"] for c in services][1:] == ["Expense reimbursement", "Supplier payment"]
    (submit,) = form["actions"]
    assert submit["type"] == "Action.Submit" and submit["data"] == {"icx": "ask"}
    assert await _interactions(running) == []  # opening the form records nothing

    # A member of two departments, by email (looked up in Teams: they never installed icx)
    # and by object id: both offered, the first preselected, services named by department.
    inputs = _inputs(_form(await _act(running, "fetch", TWO_DEPARTMENTS, _author(REQUESTER))))
    assert [c["value"] for c in inputs["department"]["choices"]] == ["finance", "legal"]
    assert inputs["department"]["value"] == "finance"
    titles = [c["title"] for c in inputs["service"]["choices"]]
    assert "Finance: Expense reimbursement" in titles and "Legal: Contract review" in titles


async def test_submitting_asks_the_author_once_and_tells_the_provider(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    conversation = await install_for(running, REQUESTER)
    message_id = ta.new_message_id()
    data = {"department": "finance", "service": "finance/expense-reimbursement"}

    answer = await _act(
        running, "submit", PROVIDER, _author(REQUESTER), data=data, message_id=message_id
    )
    assert _said(answer) == "Teams Person 1 will be asked for feedback on how Finance helped."
    (interaction,) = await _interactions(running)
    assert (interaction.department, interaction.service) == ("finance", "expense-reimbursement")
    assert interaction.source == "teams-ask"
    assert interaction.reference == f"{ta.CHANNEL_ID}/{message_id}"
    assert interaction.provider_ref == f"teams:{PROVIDER[1]}"

    # The prompt reaches the author's personal chat, naming the provider.
    (sent,) = await connector.wait_for(lambda: connector.sent(conversation))
    assert "Finance recently helped you" in _card_texts(sent)

    # The same message again (a second click, or a colleague): nobody is asked twice.
    answer = await _act(
        running, "submit", TWO_DEPARTMENTS, _author(REQUESTER), data=data, message_id=message_id
    )
    assert "already requested; nobody is asked twice" in _said(answer)
    assert len(await _interactions(running)) == 1 and len(await _prompts(running)) == 1


async def test_non_members_are_refused_and_nothing_is_written(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    await install_for(running, REQUESTER)
    calls = len(connector.calls)
    data = {"department": "finance"}
    for step in ("fetch", "submit"):
        answer = await _act(running, step, OUTSIDER, _author(REQUESTER), data=data)
        assert "not listed as a member of any" in _said(answer)
    # A member submitting for a department that is not theirs is told which ones are.
    answer = await _act(running, "submit", PROVIDER, _author(REQUESTER), data={"department": "it"})
    assert _said(answer).endswith("You are a member of Finance.")
    assert await _interactions(running) == []
    assert connector.sent() == [] and all(c.verb == "GET" for c in connector.calls[calls:])


async def test_asking_for_feedback_on_your_own_message_is_refused(running_teams: Icx) -> None:
    running = running_teams
    await install_for(running, PROVIDER)
    for step in ("fetch", "submit"):
        answer = await _act(
            running, step, PROVIDER, _author(PROVIDER), data={"department": "finance"}
        )
        assert "cannot be requested from yourself" in _said(answer)
    assert await _interactions(running) == []


async def test_an_author_without_the_app_is_reported_unreachable(running_teams: Icx) -> None:
    running = running_teams
    answer = await _act(
        running, "submit", PROVIDER, _author(NO_APP), data={"department": "finance"}
    )
    assert _said(answer) == (
        "Nobody was asked: icx cannot write to Teams Person 6 (they have not installed the app)."
    )
    (prompt,) = await _prompts(running)
    assert (prompt.status, prompt.skip_reason) == ("skipped", "unreachable")


async def test_messages_of_apps_and_of_other_organisations_cannot_be_asked(
    running_teams: Icx,
) -> None:
    running = running_teams
    answer = await _act(running, "fetch", PROVIDER, ta.author_app("Jira Cloud"))
    assert "not written by a person" in _said(answer)
    guest = ta.author_person("7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "Gil Guest", "federatedUser")
    for step in ("fetch", "submit"):
        answer = await _act(running, step, PROVIDER, guest, data={"department": "finance"})
        assert _said(answer) == (
            "Nobody was asked: Gil Guest is not a member of your organisation, so icx cannot "
            "ask them."
        )
    assert await _interactions(running) == []


async def test_a_service_of_another_department_is_refused(running_teams: Icx) -> None:
    running = running_teams
    await install_for(running, REQUESTER)
    refused = {
        "legal/contract-review": "Contract review is not a service of Finance",
        "finance/no-such-service": "finance/no-such-service is not a service of Finance",
    }
    for service, words in refused.items():
        answer = await _act(
            running,
            "submit",
            TWO_DEPARTMENTS,
            _author(REQUESTER),
            data={"department": "finance", "service": service},
        )
        assert words in _said(answer), service
    assert await _interactions(running) == []

    # With no particular service, the department alone.
    answer = await _act(
        running,
        "submit",
        TWO_DEPARTMENTS,
        _author(REQUESTER),
        data={"department": "legal", "service": ""},
    )
    assert _said(answer) == "Teams Person 1 will be asked for feedback on how Legal helped."
    (interaction,) = await _interactions(running)
    assert (interaction.department, interaction.service) == ("legal", None)


async def test_the_action_answers_in_simplified_chinese(running_teams: Icx) -> None:
    running = running_teams
    answer = await _act(running, "fetch", PROVIDER, _author(REQUESTER), locale="zh-CN")
    form = _form(answer)
    inputs = _inputs(form)
    shown = [
        answer["task"]["value"]["title"],
        form["body"][0]["inlines"][0]["text"],
        inputs["department"]["label"],
        inputs["service"]["label"],
        inputs["service"]["choices"][0]["title"],
        form["actions"][0]["title"],
    ]
    assert all(CJK.search(text) and not re.search(r"\b(Ask|the|for)\b", text) for text in shown)
    answer = await _act(running, "fetch", OUTSIDER, _author(REQUESTER), locale="zh-CN")
    assert CJK.search(_said(answer)) and "Only members" not in _said(answer)


async def test_invoke_answers_are_http_200_json(running_teams: Icx) -> None:
    """Regression: botbuilder 4.17's CloudAdapter.process() answers 500 for an invoke with a
    body; /api/messages must return the body as JSON with 200."""
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    user_id, aad, _, _ = PROVIDER
    activity = ta.ask_action(
        connector.service_url,
        "fetch",
        author=_author(REQUESTER),
        aad_object_id=aad,
        user_id=user_id,
    )
    async with running.http.post(
        f"{running.url}/api/messages", json=activity, headers=ta.activity_headers()
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.json()
    assert body["task"]["type"] == "continue"


async def test_another_organisations_invokes_are_ignored(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    company: Company,
    clock: FakeClock,
) -> None:
    settings = settings_for(
        db.url, slack, icx_teams_without_auth=True, icx_teams_tenants=ta.TENANT_ID
    )
    server = await start_server(
        Runtime(Config(settings, company), RuntimeOptions(clock=clock)), "127.0.0.1", 0
    )
    try:
        async with aiohttp.ClientSession() as http:
            running = Icx(server, slack, http, clock, connector)
            await install_for(running, REQUESTER)
            user_id, aad, _, _ = PROVIDER
            for step in ("fetch", "submit"):
                activity = ta.ask_action(
                    connector.service_url,
                    step,
                    author=_author(REQUESTER),
                    aad_object_id=aad,
                    user_id=user_id,
                    data={"department": "finance"},
                    tenant_id=FOREIGN_TENANT,
                )
                status, answer = await running.teams_post(activity)
                assert status == 501 and not answer, (step, answer)  # nobody's: not served
            mention = ta.ask_in_channel(
                connector.service_url,
                "",
                person=(REQUESTER[0], REQUESTER[2]),
                aad_object_id=aad,
                user_id=user_id,
                tenant_id=FOREIGN_TENANT,
            )
            assert (await running.teams_post(mention))[0] == 200
            assert await _interactions(running) == [] and connector.sent() == []
            # The organisation's own people are served.
            activity["channelData"]["tenant"]["id"] = ta.TENANT_ID
            activity["conversation"]["tenantId"] = ta.TENANT_ID
            status, answer = await running.teams_post(activity)
            assert status == 200 and "will be asked" in _said(answer)
    finally:
        await server.stop()


# --- the icx-ask command -----------------------------------------------------------------------


async def _ask_in_channel(
    running: Icx,
    rest: str,
    invoker: tuple[str, str, str, str] = PROVIDER,
    person: tuple[str, str, str, str] | None = REQUESTER,
) -> str:
    """`@icx icx-ask @person rest` in a channel; the text of the card icx answers with."""
    connector = running.connector
    assert connector is not None
    user_id, aad, _, _ = invoker
    activity = ta.ask_in_channel(
        connector.service_url,
        rest,
        person=(person[0], person[2]) if person else None,
        aad_object_id=aad,
        user_id=user_id,
    )
    calls = len(connector.calls)
    status, _ = await running.teams_post(activity)
    assert status == 200
    thread = activity["conversation"]["id"]
    (reply,) = [
        c.body
        for c in connector.calls[calls:]
        if c.verb == "POST" and c.conversation_id == thread and c.body is not None
    ]
    return _card_texts(reply)


async def test_icx_ask_in_a_channel_asks_the_mentioned_colleague(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    conversation = await install_for(running, REQUESTER)
    said = await _ask_in_channel(running, "expense-reimbursement")
    assert "Teams Person 1 will be asked for feedback on how Finance helped." in said
    (interaction,) = await _interactions(running)
    assert (interaction.department, interaction.service) == ("finance", "expense-reimbursement")
    assert interaction.source == "teams-ask"
    assert interaction.reference.startswith(f"{ta.CHANNEL_ID}/")
    (sent,) = await connector.wait_for(lambda: connector.sent(conversation))
    assert "Finance recently helped you" in _card_texts(sent)

    # A second request soon after: the cooldown speaks, without telling why.
    said = await _ask_in_channel(running, "Supplier payment")
    assert "will not be asked this time" in said
    assert len(connector.sent(conversation)) == 1


async def test_icx_ask_by_email_in_a_personal_chat(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    requester = await install_for(running, REQUESTER)
    chat = await install_for(running, PROVIDER)
    user_id, aad, _, _ = PROVIDER
    calls = len(connector.calls)
    status, _ = await running.teams_post(
        ta.message(
            connector.service_url,
            f"icx-ask {REQUESTER[3]} finance",
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=chat,
        )
    )
    assert status == 200
    (reply,) = [c.body for c in connector.calls[calls:] if c.conversation_id == chat and c.body]
    assert f"{REQUESTER[3]} will be asked for feedback on how Finance helped." in _card_texts(reply)
    await connector.wait_for(lambda: connector.sent(requester))


async def test_icx_ask_explains_what_it_needs(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    await install_for(running, REQUESTER)
    said = await _ask_in_channel(running, "", person=None)
    assert "write icx-ask @person" in said and "More actions" in said
    said = await _ask_in_channel(running, "payroll")
    assert "“payroll” is not one of the services of Finance" in said
    assert "Expense reimbursement" in said
    said = await _ask_in_channel(running, "", invoker=TWO_DEPARTMENTS)
    assert "You are a member of" in said and "Legal" in said
    assert "icx-ask @Teams Person 1 finance" in said
    said = await _ask_in_channel(running, "", invoker=OUTSIDER)
    assert "not listed as a member of any" in said
    said = await _ask_in_channel(running, "", person=PROVIDER)
    assert "cannot be requested from yourself" in said
    # Someone the team does not know (a tag, a channel): not found, and nobody is asked.
    stranger = ("29:1not-a-member", "", "Finance Team", "")
    said = await _ask_in_channel(running, "", person=stranger)  # type: ignore[arg-type]
    assert "Nobody was asked: Finance Team could not be found." in said
    assert await _interactions(running) == []

    # A member of two departments names one, or one of its services.
    said = await _ask_in_channel(running, "legal contract-review", invoker=TWO_DEPARTMENTS)
    assert "on how Legal helped" in said
    (interaction,) = await _interactions(running)
    assert (interaction.department, interaction.service) == ("legal", "contract-review")
