"""Asking for feedback where service happens, on Slack, through the real server: resolution
reactions in help channels, the "Ask for feedback" message shortcut and /icx-ask. Requests are
signed as Slack signs them; the Web API and response_url are the stand-in; the test drives the
outbox and the clock, so a prompt is seen to go out exactly when it should, and never else."""

import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.slack import ask_modal, asking, triggers
from bots.standin.slack_web_api import SlackStandIn
from core import ask_text
from core.config import Config, parse_company
from core.departments import Company
from core.i18n import translator
from core.outbox import Outbox
from storage.db import Database
from storage.models import Interaction, Prompt
from tests import slack_requests as sr
from tests.conftest import COMPANY, LEADER, PROVIDER, REQUESTER, FakeClock, Icx, settings_for

HELP = "C0FINHELP1"
GROUPIE = "U0GROUP001"  # in Finance through the Slack user group
OTHER = "U0OTHER001"  # nobody's member
ZH_MEMBER = "U0ZH000001"  # a Finance member whose Slack speaks Chinese
BOT = "U0BOT00001"
IT_ONLY = "U0ITPERS01"  # a member of IT only
MESSAGE_TS = "1700000100.000200"
GRACE = timedelta(minutes=10)


@pytest.fixture
def company() -> Company:
    finance, it, legal = COMPANY["departments"]
    return parse_company(
        {
            **COMPANY,
            "departments": [
                {
                    **finance,
                    "members": {
                        "slack_users": [PROVIDER, ZH_MEMBER],
                        "slack_usergroups": ["S0FINTEAM1"],
                        "emails": ["lena@acme.example"],  # the leader, by email
                    },
                    "help": {"slack_channels": [HELP], "grace_minutes": 10},
                    "translations": {"zh_Hans": {"name": "财务部"}},
                },
                {
                    **it,
                    "members": {"slack_users": [LEADER, IT_ONLY]},
                    "help": {"slack_channels": ["C0ITHELP01"]},
                },
                legal,
            ],
        }
    )


@pytest.fixture(autouse=True)
def no_failed_work(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A handler that crashed after the ack would also "do nothing": that must fail the test."""
    yield
    failed = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert failed == [], [r.getMessage() for r in failed]


@pytest.fixture
async def running(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> AsyncIterator[Icx]:
    """The real server, without the background outbox: the test delivers what is due."""
    slack.add_user(GROUPIE, "Gus Group", email="gus@acme.example")
    slack.add_user(IT_ONLY, "Ines Tech", email="ines@acme.example")
    slack.usergroups["S0FINTEAM1"] = [GROUPIE]
    runtime = Runtime(
        Config(settings_for(db.url, slack), company), RuntimeOptions(clock=clock, background=False)
    )
    server = await start_server(runtime, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as http:
        yield Icx(server, slack, http, clock)
    await server.stop()


# --- sending what Slack sends -----------------------------------------------------------------


def reaction(
    kind: str = "reaction_added",
    *,
    user: str = PROVIDER,
    author: str | None = REQUESTER,
    channel: str = HELP,
    ts: str = MESSAGE_TS,
    name: str = "white_check_mark",
    event_id: str | None = None,
) -> dict[str, Any]:
    body = sr.fixture(f"{kind}.json")
    event = body["event"]
    event.update(user=user, reaction=name)
    event["item"].update(channel=channel, ts=ts)
    if author is None:
        del event["item_user"]  # a message posted by an incoming webhook
    else:
        event["item_user"] = author
    body["event_id"] = event_id or f"Ev{kind[9:12]}{user}{ts.replace('.', '')}{name[:5]}"
    return body


async def send_event(running: Icx, body: dict[str, Any], **headers: str) -> None:
    status, _ = await running.slack_post(
        json.dumps(body).encode(), headers, content_type="application/json"
    )
    assert status == 200
    await settle(running)


async def settle(running: Icx) -> None:
    """Waits for what the request started after its acknowledgement."""
    await running.server.runtime.tasks.drain(within=10)


def outbox(running: Icx) -> Outbox:
    return running.server.runtime.outbox


async def deliver_due(running: Icx) -> int:
    """One pass of the outbox at the test clock's time: how many prompts it sent."""
    return await outbox(running).drain_once()


async def rows(running: Icx) -> list[tuple[Interaction, Prompt]]:
    async with running.db.session() as s:
        found = await s.exec(
            select(Interaction, Prompt).join(Prompt, col(Prompt.interaction_id) == Interaction.id)
        )
        return list(found.all())


async def only_row(running: Icx) -> tuple[Interaction, Prompt]:
    found = await rows(running)
    assert len(found) == 1, found
    return found[0]


def prompts_sent(running: Icx) -> list[str]:
    return [c.payload["channel"] for c in running.slack.calls_to("chat.postMessage")]


async def after_grace(running: Icx) -> None:
    """Nothing goes out a moment before the grace period ends; then it is due."""
    assert await deliver_due(running) == 0
    running.clock.advance(seconds=GRACE.total_seconds() - 5)
    assert await deliver_due(running) == 0
    running.clock.advance(seconds=6)


# --- help channels ----------------------------------------------------------------------------


async def test_a_members_resolution_asks_the_author_after_the_grace_period(running: Icx) -> None:
    await send_event(running, reaction())
    interaction, prompt = await only_row(running)
    assert (interaction.source, interaction.reference) == ("slack-help", f"{HELP}:{MESSAGE_TS}")
    assert interaction.department == "finance" and interaction.service is None
    assert interaction.provider_ref == f"slack:{PROVIDER}"
    assert prompt.status == "pending" and prompt.recipient_address == REQUESTER
    assert prompt.next_attempt_at is not None
    assert prompt.next_attempt_at - prompt.created_at == pytest.approx(
        GRACE, abs=timedelta(seconds=1)
    )

    await after_grace(running)
    assert prompts_sent(running) == []
    assert await deliver_due(running) == 1
    assert prompts_sent(running) == [REQUESTER]
    blocks = json.dumps(running.slack.calls_to("chat.postMessage")[0].payload["blocks"])
    assert f"<@{PROVIDER}> from Finance" in blocks
    assert await deliver_due(running) == 0


async def test_a_member_through_a_user_group_counts_and_the_group_is_asked_once(
    running: Icx,
) -> None:
    await send_event(running, reaction(user=GROUPIE))
    await send_event(running, reaction(user=GROUPIE, ts="1700000111.000100", author=OTHER))
    assert {i.provider_ref for i, _ in await rows(running)} == {f"slack:{GROUPIE}"}
    assert len(await rows(running)) == 2
    looked_up = running.slack.calls_to("usergroups.users.list")
    assert [c.payload["usergroup"] for c in looked_up] == ["S0FINTEAM1"]  # cached after


@pytest.mark.parametrize(
    "why",
    [
        {"user": OTHER},  # not a member of Finance
        {"user": IT_ONLY},  # a member of IT, not of Finance
        {"name": "thumbsup"},  # not the resolution reaction
        {"channel": "C0GENERAL1"},  # not a help channel
        {"channel": "C0ITHELP01"},  # IT's help channel: Ana is not in IT
        {"author": GROUPIE},  # a Finance member's own question
        {"author": PROVIDER},  # marking one's own message
        {"author": BOT},  # a bot's message
        {"author": None},  # an app's message (incoming webhook): no item_user
        {"user": BOT},  # a bot reacting
    ],
)
async def test_anything_else_does_nothing(running: Icx, why: dict[str, Any]) -> None:
    await send_event(running, reaction(**why))
    assert await rows(running) == []
    running.clock.advance(minutes=60)
    assert await deliver_due(running) == 0
    assert prompts_sent(running) == []


async def test_a_skin_tone_is_the_same_mark(running: Icx) -> None:
    await send_event(running, reaction(name="white_check_mark::skin-tone-3"))
    assert len(await rows(running)) == 1


async def test_a_second_reaction_and_a_retried_event_ask_once(running: Icx) -> None:
    first = reaction()
    await send_event(running, first)
    await send_event(
        running, first, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    await send_event(running, reaction(user=GROUPIE))  # another member marks it too
    interaction, _ = await only_row(running)
    assert interaction.provider_ref == f"slack:{PROVIDER}"
    running.clock.advance(minutes=11)
    assert await deliver_due(running) == 1
    running.clock.advance(days=1)
    assert await deliver_due(running) == 0
    assert prompts_sent(running) == [REQUESTER]


async def test_taking_the_reaction_back_within_the_grace_period_withdraws_the_prompt(
    running: Icx,
) -> None:
    await send_event(running, reaction())
    running.clock.advance(minutes=3)
    await send_event(running, reaction("reaction_removed"))
    _, prompt = await only_row(running)
    assert (prompt.status, prompt.skip_reason) == ("skipped", "cancelled")
    assert prompt.recipient_address is None  # nothing kept about whom it was for
    running.clock.advance(minutes=60)
    assert await deliver_due(running) == 0
    assert prompts_sent(running) == []


async def test_a_reaction_taken_back_at_once_is_handled_after_its_addition(running: Icx) -> None:
    """The addition's look-ups take a while; the removal must not overtake it."""
    for body in (reaction(), reaction("reaction_removed")):
        status, _ = await running.slack_post(
            json.dumps(body).encode(), content_type="application/json"
        )
        assert status == 200
    await settle(running)
    _, prompt = await only_row(running)
    assert prompt.skip_reason == "cancelled"


async def test_another_members_reaction_coming_and_going_changes_nothing(running: Icx) -> None:
    await send_event(running, reaction())
    await send_event(running, reaction(user=GROUPIE))
    await send_event(running, reaction("reaction_removed", user=GROUPIE))
    await send_event(running, reaction("reaction_removed", user=OTHER))
    await send_event(running, reaction("reaction_removed", name="thumbsup"))
    _, prompt = await only_row(running)
    assert prompt.status == "pending"
    running.clock.advance(minutes=11)
    assert await deliver_due(running) == 1


async def test_taking_it_back_after_the_prompt_went_out_does_nothing(running: Icx) -> None:
    await send_event(running, reaction())
    running.clock.advance(minutes=11)
    assert await deliver_due(running) == 1
    await send_event(running, reaction("reaction_removed"))
    _, prompt = await only_row(running)
    assert prompt.status == "sent" and prompt.recipient_address == REQUESTER


async def test_putting_the_reaction_back_asks_again(running: Icx) -> None:
    await send_event(running, reaction())
    running.clock.advance(minutes=5)
    await send_event(running, reaction("reaction_removed"))
    running.clock.advance(minutes=5)
    # Another member puts the mark back: the grace period starts again, and it is now theirs.
    await send_event(running, reaction(user=GROUPIE, event_id="Ev0AGAIN01"))
    interaction, prompt = await only_row(running)
    assert prompt.status == "pending" and prompt.recipient_address == REQUESTER
    assert interaction.provider_ref == f"slack:{GROUPIE}"
    await after_grace(running)
    assert await deliver_due(running) == 1
    assert prompts_sent(running) == [REQUESTER]


async def test_a_retried_addition_does_not_undo_a_withdrawal(running: Icx) -> None:
    """Another replica may get Slack's retry of an addition already handled and taken back."""
    await send_event(running, reaction())
    await send_event(running, reaction("reaction_removed"))
    again = reaction(event_id="Ev0RETRYOTHER")  # not seen by this process
    await send_event(running, again, **{"X-Slack-Retry-Num": "2"})
    _, prompt = await only_row(running)
    assert prompt.skip_reason == "cancelled"


async def test_slack_unavailable_for_a_moment_loses_no_reaction(
    running: Icx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(triggers, "RETRY_DELAYS", (0.01, 0.01))
    running.slack.fail_next(2, status=503, method="users.info")
    await send_event(running, reaction())
    _, prompt = await only_row(running)
    assert prompt.status == "pending"


async def test_slack_checks_the_events_url_with_a_signed_challenge(running: Icx) -> None:
    body = {
        "token": "deprecated",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    status, text = await running.slack_post(
        json.dumps(body).encode(), content_type="application/json"
    )
    assert status == 200 and body["challenge"] in text


async def test_a_database_outage_for_a_moment_loses_no_reaction(
    running: Icx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(triggers, "RETRY_DELAYS", (0.01,))
    outage = [OperationalError("INSERT INTO interaction", {}, OSError("connection reset"))]
    real = triggers.marked

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if outage:
            raise outage.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(triggers, "marked", flaky)
    await send_event(running, reaction())
    assert outage == []
    _, prompt = await only_row(running)
    assert prompt.status == "pending"


# --- the message shortcut ---------------------------------------------------------------------


def shortcut(running: Icx, *, by: str = PROVIDER, **message: Any) -> dict[str, Any]:
    payload = sr.fixture("message_action.json")
    payload["user"]["id"] = by
    payload["message"].update(message)
    # An app's message carries a bot_id and no user at all.
    if payload["message"].get("user", "") is None:
        del payload["message"]["user"]
    payload["response_url"] = running.slack.response_url("shortcut")
    return payload


def form_submission(
    running: Icx, view: dict[str, Any], value: str, user: str = PROVIDER
) -> dict[str, Any]:
    payload = sr.fixture("view_submission_ask.json")
    payload["user"]["id"] = user
    payload["view"]["private_metadata"] = view["private_metadata"]
    chosen = payload["view"]["state"]["values"]["service"]["service"]["selected_option"]
    chosen["value"] = value
    return payload


async def told(running: Icx, mark: int = 0) -> list[str]:
    """The ephemeral answers posted to response_url since call number `mark`."""
    await settle(running)
    answers = [c.payload for c in running.slack.calls[mark:] if c.method == "response_url"]
    assert all(
        a["response_type"] == "ephemeral" and a["replace_original"] is False for a in answers
    )
    return [a["text"] for a in answers]


async def open_form(running: Icx, payload: dict[str, Any]) -> dict[str, Any]:
    status, _ = await running.interact(payload)
    assert status == 200
    await settle(running)
    (opened,) = running.slack.calls_to("views.open")
    assert opened.payload["trigger_id"] == payload["trigger_id"]
    return opened.payload["view"]  # type: ignore[no-any-return]


def select_of(view: dict[str, Any]) -> dict[str, Any]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == "service"]
    return block["element"]  # type: ignore[no-any-return]


async def test_the_shortcut_opens_the_form_and_asks_the_author(running: Icx) -> None:
    view = await open_form(running, shortcut(running))
    assert view["callback_id"] == "icx_ask_modal"
    assert f"<@{REQUESTER}>" in json.dumps(view["blocks"])
    select = select_of(view)
    assert [o["value"] for o in select["options"]] == [
        "finance/expense-reimbursement",
        "finance/supplier-payment",
        "finance/",
    ]
    assert select["initial_option"]["value"] == "finance/"  # one tap on "Ask" is enough
    assert "Finance" in json.dumps(view["blocks"])
    assert prompts_sent(running) == []

    status, body = await running.interact(
        form_submission(running, view, "finance/expense-reimbursement")
    )
    assert status == 200 and body in ("", "{}")  # the form closes
    assert await told(running) == [
        f"<@{REQUESTER}> will be asked for feedback on how Finance helped."
    ]
    interaction, prompt = await only_row(running)
    assert (interaction.source, interaction.reference) == (
        "slack-message",
        "C0GENERAL1:1700000300.000500",
    )
    assert interaction.service == "expense-reimbursement"
    assert interaction.provider_ref == f"slack:{PROVIDER}"
    assert prompt.status == "pending"
    assert await deliver_due(running) == 1  # no grace period: the provider chose to ask
    assert prompts_sent(running) == [REQUESTER]

    # The same message again: nobody is asked twice.
    mark = len(running.slack.calls)
    await running.interact(form_submission(running, view, "finance/"))
    assert await told(running, mark) == [
        f"Feedback from <@{REQUESTER}> on this was already requested; nobody is asked twice."
    ]
    assert len(await rows(running)) == 1


async def test_a_member_of_several_departments_chooses_in_the_form(running: Icx) -> None:
    view = await open_form(running, shortcut(running, by=LEADER))
    groups = select_of(view)["option_groups"]
    assert [g["label"]["text"] for g in groups] == ["Finance", "IT"]
    assert select_of(view)["initial_option"]["value"] == "finance/"
    await running.interact(form_submission(running, view, "it/", user=LEADER))
    assert await told(running) == [f"<@{REQUESTER}> will be asked for feedback on how IT helped."]
    interaction, _ = await only_row(running)
    assert interaction.department == "it" and interaction.service is None


async def test_the_shortcut_by_a_non_member_explains_and_opens_nothing(running: Icx) -> None:
    status, _ = await running.interact(shortcut(running, by=OTHER))
    assert status == 200
    (text,) = await told(running)
    assert text.startswith("Only members of a department can ask for feedback in its name")
    assert running.slack.calls_to("views.open") == [] and await rows(running) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"user": PROVIDER}, "feedback on your own work cannot be requested from yourself"),
        (
            {"user": None, "bot_id": "B0JIRA0001", "subtype": "bot_message"},
            "not written by a person",
        ),
    ],
)
async def test_the_shortcut_on_ones_own_or_an_apps_message_explains(
    running: Icx, message: dict[str, Any], expected: str
) -> None:
    await running.interact(shortcut(running, **message))
    (text,) = await told(running)
    assert expected in text
    assert running.slack.calls_to("views.open") == [] and await rows(running) == []


async def test_a_submission_for_a_department_one_is_not_in_asks_nobody(running: Icx) -> None:
    view = await open_form(running, shortcut(running))
    await running.interact(form_submission(running, view, "it/"))
    assert await told(running) == [
        "Only members of a department can ask for feedback in its name. You are a member of "
        "Finance."
    ]
    assert await rows(running) == []


async def test_the_outcome_is_told_in_the_providers_language(running: Icx) -> None:
    view = await open_form(running, shortcut(running, by=ZH_MEMBER))
    assert view["title"]["text"] != "Ask for feedback"
    await running.interact(form_submission(running, view, "finance/", user=ZH_MEMBER))
    assert await told(running) == [f"将请 <@{REQUESTER}> 对财务部提供的帮助给出反馈。"]


# --- /icx-ask ---------------------------------------------------------------------------------


def ask_command(running: Icx, text: str, user: str = PROVIDER, trigger: str = "1.2.3") -> bytes:
    fields = dict(
        urllib.parse.parse_qsl((sr.FIXTURES / "slash_command_ask.txt").read_text().strip())
    )
    fields.update(
        text=text, user_id=user, trigger_id=trigger, response_url=running.slack.response_url("ask")
    )
    return urllib.parse.urlencode(fields).encode()


async def icx_ask(running: Icx, text: str, **kwargs: str) -> str:
    mark = len(running.slack.calls)
    status, body = await running.slack_post(ask_command(running, text, **kwargs))
    assert status == 200 and body == ""  # acknowledged; the answer follows on response_url
    (answer,) = await told(running, mark)
    return answer


async def test_the_recorded_command_asks_the_person_mentioned(running: Icx) -> None:
    recorded = (sr.FIXTURES / "slash_command_ask.txt").read_text().strip()
    # As recorded, but the answer goes to the stand-in instead of hooks.slack.com.
    body = recorded.replace(
        urllib.parse.quote("https://hooks.slack.com/commands/T0ACME001/5678/efgh", safe=""),
        urllib.parse.quote(running.slack.response_url("recorded"), safe=""),
    )
    assert body != recorded
    status, _ = await running.slack_post(body.encode())
    assert status == 200
    assert await told(running) == [
        f"<@{REQUESTER}> will be asked for feedback on how Finance helped."
    ]
    interaction, prompt = await only_row(running)
    assert interaction.service == "expense-reimbursement"
    assert interaction.source == "slack-ask"
    assert interaction.reference == "ask:6214728591777.1234567890.9a8b7c6d5e4f30211203f4e5d6c7b8a9"
    assert prompt.recipient_address == REQUESTER
    assert await deliver_due(running) == 1


async def test_icx_ask_by_name_of_the_service(running: Icx) -> None:
    answer = await icx_ask(running, f"<@{REQUESTER}|mia.chen>   supplier PAYMENT ")
    assert answer == f"<@{REQUESTER}> will be asked for feedback on how Finance helped."
    interaction, _ = await only_row(running)
    assert interaction.service == "supplier-payment" and interaction.department == "finance"


async def test_icx_ask_without_a_service(running: Icx) -> None:
    await icx_ask(running, f"<@{REQUESTER}>")
    interaction, _ = await only_row(running)
    assert interaction.service is None


@pytest.mark.parametrize(
    ("text", "user", "expected"),
    [
        (
            f"<@{REQUESTER}|mia> payroll",
            PROVIDER,
            "“payroll” is not one of the services of Finance. Name one of Expense reimbursement "
            "or Supplier payment, or leave it out.",
        ),
        (
            f"<@{REQUESTER}|mia>",
            OTHER,
            "Only members of a department can ask for feedback in its name, and you are not listed",
        ),
        (
            f"<@{REQUESTER}|mia> legal",
            PROVIDER,
            "Only members of a department can ask for feedback in its name. You are a member "
            "of Finance.",
        ),
        (
            f"<@{REQUESTER}|mia>",
            LEADER,
            "You are a member of Finance and IT. Say which one you are asking for, e.g. "
            f"/icx-ask <@{REQUESTER}> finance",
        ),
        (
            "@mia",
            PROVIDER,
            "To ask someone for feedback on how your department helped them, write "
            "/icx-ask @person",
        ),
        ("", PROVIDER, "To ask someone for feedback"),
        ("help", OTHER, "To ask someone for feedback"),
    ],
)
async def test_icx_ask_refusals_ask_nobody(
    running: Icx, text: str, user: str, expected: str
) -> None:
    answer = await icx_ask(running, text, user=user)
    assert answer.startswith(expected), answer
    assert await rows(running) == []


async def test_icx_ask_yourself(running: Icx) -> None:
    answer = await icx_ask(running, f"<@{PROVIDER}|ana.silva>")
    assert (
        answer == "Nobody was asked: feedback on your own work cannot be requested from yourself."
    )
    assert await deliver_due(running) == 0


async def test_icx_ask_names_the_department_for_a_member_of_several(running: Icx) -> None:
    answer = await icx_ask(running, f"<@{REQUESTER}|mia> it", user=LEADER)
    assert answer == f"<@{REQUESTER}> will be asked for feedback on how IT helped."
    answer = await icx_ask(
        running, f"<@{OTHER}|omar> Finance expense-reimbursement", user=LEADER, trigger="4.5.6"
    )
    assert "Finance" in answer
    # A service only one of their departments offers names the department by itself.
    answer = await icx_ask(
        running, f"<@{ZH_MEMBER}> supplier-payment", user=LEADER, trigger="7.8.9"
    )
    assert "Finance" in answer
    assert sorted((i.department, i.service or "") for i, _ in await rows(running)) == [
        ("finance", "expense-reimbursement"),
        ("finance", "supplier-payment"),
        ("it", ""),
    ]


async def test_each_use_of_icx_ask_is_its_own_request(running: Icx) -> None:
    await icx_ask(running, f"<@{REQUESTER}>", trigger="1.1.1")
    answer = await icx_ask(running, f"<@{REQUESTER}>", trigger="2.2.2")
    # Policy, not the reference, keeps Mia from being asked about Finance twice.
    assert answer.startswith(f"<@{REQUESTER}> will not be asked this time")
    assert len(await rows(running)) == 2
    assert await deliver_due(running) == 1


async def test_icx_ask_when_slack_cannot_be_asked_says_to_try_again(running: Icx) -> None:
    running.slack.fail_next(1, status=503, method="users.info")
    answer = await icx_ask(running, f"<@{REQUESTER}>")
    assert answer == (
        "The chat platform could not be reached just now, so nobody was asked. Please try "
        "again in a minute."
    )
    assert await rows(running) == []


async def test_icx_ask_during_a_database_outage_says_to_try_again(
    running: Icx, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_: Any, **__: Any) -> Any:
        raise OperationalError("INSERT INTO interaction", {}, OSError("connection refused"))

    monkeypatch.setattr(asking, "ask", down)
    answer = await icx_ask(running, f"<@{REQUESTER}>", user=ZH_MEMBER)
    assert answer == "icx 暂时无法保存任何内容，因此没有发出请求。请过一分钟再试。"


# --- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "reaction_added",
        "reaction_removed",
        "message_action",
        "view_submission_ask",
        "slash_command_ask",
    ],
)
async def test_unsigned_or_forged_requests_are_refused(running: Icx, kind: str) -> None:
    if kind.startswith("reaction"):
        body, content_type = json.dumps(reaction(kind)).encode(), "application/json"
    elif kind == "slash_command_ask":
        body, content_type = (
            ask_command(running, f"<@{REQUESTER}>"),
            "application/x-www-form-urlencoded",
        )
    else:
        body, content_type = (
            sr.form_body(sr.fixture(f"{kind}.json")),
            "application/x-www-form-urlencoded",
        )
    mark = len(running.slack.calls)
    forged = sr.sign(body, secret="not-the-signing-secret")
    stale = sr.sign(body, timestamp=1_600_000_000)
    for headers, signed in ((None, False), (forged, False), (stale, False)):
        status, text = await running.slack_post(
            body, headers, signed=signed, content_type=content_type
        )
        assert status == 401, text
    await settle(running)
    assert await rows(running) == []
    assert running.slack.calls[mark:] == []


# --- words ------------------------------------------------------------------------------------


def test_every_word_around_asking_is_translated(company: Company) -> None:
    finance = company.departments[0]
    texts = [
        ask_text.not_a_person,
        ask_text.try_again,
        ask_text.cannot_save,
        ask_text.cannot_ask_yourself,
        ask_text.no_particular_service,
        lambda t: ask_text.usage("/icx-ask", "finance", t),
        lambda t: ask_text.which_department(["A", "B"], "/icx-ask @x finance", t),
        lambda t: ask_text.unknown_service("payroll", finance, t),
        lambda t: ask_text.unknown_service("payroll", company.departments[2], t),
        lambda t: json.dumps(ask_modal.ask_view(list(company.departments[:2]), TARGET, t)),
    ]
    english, chinese = translator("en"), translator("zh_Hans")
    for render in texts:
        assert render(chinese) != render(english)
    form = ask_text.ask_form("<@U1>", chinese)
    for english_word in ask_text.ask_form("<@U1>", english).__dict__.values():
        assert english_word not in form.__dict__.values()


TARGET = ask_modal.AskTarget(REQUESTER, "C0GENERAL1", MESSAGE_TS, "https://hooks.example/1")
