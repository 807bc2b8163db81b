"""Helpdesk webhooks through the real server: Jira, ServiceNow and Zendesk payloads (recorded
shapes in fixtures/helpdesks/), signed as each tool signs them, end in one interaction per
resolution and one prompt on the Slack stand-in; everything else is refused or ignored."""

import base64
import copy
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlmodel import func, select

from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.standin.slack_web_api import SlackStandIn
from bots.webhooks.handler import CONNECTORS
from core.config import Config, ConfigError, load_settings, parse_company
from core.departments import Company
from core.helpdesks import ResolvedTicket, Tool, to_interaction
from core.intake import InteractionIn
from storage.db import Database
from storage.models import Interaction, Prompt
from tests.conftest import PROVIDER, REQUESTER, FakeClock, Icx, settings_for

FIXTURES = Path(__file__).parent / "fixtures" / "helpdesks"
SECRETS = {
    "jira": "jira-webhook-secret-0123456789",
    "servicenow": "servicenow-webhook-secret-0123456789",
    "zendesk": "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==",
}

WEBHOOK_COMPANY: dict[str, Any] = {
    "policy": {"cooldown_days": 14, "weekly_budget": 3, "expiry_days": 7},
    "departments": [
        {
            "key": "it",
            "name": "IT",
            "timezone": "America/New_York",
            "services": [
                {"key": "laptop", "name": "Laptop setup"},
                {"key": "access", "name": "Access request"},
                {"key": "vpn", "name": "VPN"},
            ],
            "helpdesk": {
                "jira": {
                    "projects": ["IT"],
                    "service_field": "components",
                    "services": {"Laptops": "laptop", "Accounts": "access"},
                },
                "servicenow": {
                    "assignment_groups": ["Network"],
                    "service_field": "business_service",
                },
            },
        },
        {
            "key": "people",
            "name": "People",
            "services": [{"key": "onboarding", "name": "Onboarding"}],
            "helpdesk": {"zendesk": {"groups": [360001234567]}},
        },
        {"key": "legal", "name": "Legal"},
    ],
}


@pytest.fixture
def company() -> Company:
    return parse_company(copy.deepcopy(WEBHOOK_COMPANY))


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


# --- signing, exactly as each tool does -----------------------------------------------------


def jira_headers(body: bytes, secret: str = SECRETS["jira"]) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature": f"sha256={digest}"}


def _base64_mac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def servicenow_headers(
    body: bytes, clock: FakeClock, secret: str = SECRETS["servicenow"], age: float = 0
) -> dict[str, str]:
    stamp = str(int((clock.now - timedelta(seconds=age)).timestamp()))
    return {"X-Icx-Timestamp": stamp, "X-Icx-Signature": _base64_mac(secret, stamp.encode() + body)}


def zendesk_headers(
    body: bytes, clock: FakeClock, secret: str = SECRETS["zendesk"], age: float = 0
) -> dict[str, str]:
    stamp = (clock.now - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Signature": _base64_mac(secret, stamp.encode() + body),
    }


def signed(tool: str, body: bytes, clock: FakeClock) -> dict[str, str]:
    if tool == "jira":
        return jira_headers(body)
    if tool == "servicenow":
        return servicenow_headers(body, clock)
    return zendesk_headers(body, clock)


async def post(
    running: Icx,
    tool: str,
    payload: Any,
    headers: dict[str, str] | None = None,
    *,
    content_type: str = "application/json; charset=utf-8",
) -> tuple[int, Any, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    all_headers = {
        "Content-Type": content_type,
        **(signed(tool, body, running.clock) if headers is None else headers),
    }
    async with running.http.post(
        f"{running.url}/api/v1/webhooks/{tool}", data=body, headers=all_headers
    ) as response:
        answer = await response.json(content_type=None)
        return response.status, answer, dict(response.headers)


# --- the server -----------------------------------------------------------------------------


@asynccontextmanager
async def serving(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock, **secrets: str
) -> AsyncIterator[Icx]:
    overrides = {f"icx_{tool}_webhook_secret": SecretStr(s) for tool, s in secrets.items()}
    config = Config(settings_for(db.url, slack, **overrides), company)
    runtime = Runtime(config, RuntimeOptions(clock=clock, housekeeping_every=3600))
    server = await start_server(runtime, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield Icx(server, slack, http, clock)
    finally:
        await server.stop()


@pytest.fixture
async def running(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> AsyncIterator[Icx]:
    async with serving(db, slack, company, clock, **SECRETS) as icx:
        yield icx


async def counts(running: Icx) -> tuple[int, int]:
    async with running.db.session() as s:
        interactions = (await s.exec(select(func.count()).select_from(Interaction))).one()
        prompts = (await s.exec(select(func.count()).select_from(Prompt))).one()
    return interactions, prompts


async def interaction(running: Icx, interaction_id: int) -> Interaction:
    async with running.db.session() as s:
        found = await s.get(Interaction, interaction_id)
    assert found is not None
    return found


async def delivered_to_requester(running: Icx, prompt_id: str) -> None:
    slack = running.slack
    post_call = (await slack.wait_for(lambda: slack.calls_to("chat.postMessage")))[0]
    assert post_call.payload["channel"] == REQUESTER
    assert (await running.sent_prompt(prompt_id)).status == "sent"


# --- a resolution asks its requester, once --------------------------------------------------


async def test_a_resolved_jira_issue_asks_its_reporter(running: Icx) -> None:
    status, answer, _ = await post(running, "jira", fixture("jira_issue_resolved.json"))

    assert status == 201, answer
    assert answer["created"] is True
    assert answer["prompt"]["status"] == "scheduled"
    await delivered_to_requester(running, answer["prompt"]["id"])
    rendered = json.dumps(running.slack.calls_to("chat.postMessage")[0].payload["blocks"])
    assert f"<@{PROVIDER}> from IT" in rendered and "Laptop setup" in rendered
    row = await interaction(running, answer["interaction_id"])
    assert (row.department, row.service, row.source) == ("it", "laptop", "jira")
    assert row.reference == "IT-123@2026-11-20T10:00:00Z"
    assert row.provider_ref == f"slack:{PROVIDER}"


async def test_redelivery_and_later_updates_send_nothing_twice(running: Icx) -> None:
    resolved = fixture("jira_issue_resolved.json")
    status, first, _ = await post(running, "jira", resolved)
    assert status == 201
    await delivered_to_requester(running, first["prompt"]["id"])

    # Jira retries a delivery with the same body.
    status, again, _ = await post(running, "jira", resolved)
    assert status == 200 and again["created"] is False
    assert again["interaction_id"] == first["interaction_id"]
    assert again["prompt"] == {"id": first["prompt"]["id"], "status": "sent"}

    # Later updates: a comment, then Resolved → Closed with the resolution kept.
    status, answer, _ = await post(running, "jira", fixture("jira_issue_commented.json"))
    assert status == 202
    assert answer == {
        "status": "ignored",
        "reason": "IT-123: the update does not resolve the issue",
    }
    closed = copy.deepcopy(resolved)
    closed["changelog"] = {
        "id": "10470",
        "items": [
            {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "10004",
             "fromString": "Resolved", "to": "6", "toString": "Closed"}
        ],
    }  # fmt: skip
    status, answer, _ = await post(running, "jira", closed)
    assert status == 202 and answer["status"] == "ignored"

    assert await counts(running) == (1, 1)
    assert len(running.slack.calls_to("chat.postMessage")) == 1


async def test_a_reopened_and_resolved_again_issue_is_a_new_interaction_under_cooldown(
    running: Icx,
) -> None:
    resolved = fixture("jira_issue_resolved.json")
    status, first, _ = await post(running, "jira", resolved)
    assert status == 201
    await delivered_to_requester(running, first["prompt"]["id"])

    reopened = copy.deepcopy(resolved)
    reopened["issue"]["fields"].update(resolution=None, resolutiondate=None)
    reopened["issue"]["fields"]["status"]["statusCategory"]["key"] = "indeterminate"
    reopened["changelog"] = {
        "id": "10481",
        "items": [
            {"field": "resolution", "fieldtype": "jira", "fieldId": "resolution", "from": "10000",
             "fromString": "Done", "to": None, "toString": None}
        ],
    }  # fmt: skip
    status, answer, _ = await post(running, "jira", reopened)
    assert status == 202 and answer["status"] == "ignored"

    again = copy.deepcopy(resolved)
    again["issue"]["fields"]["resolutiondate"] = "2026-11-23T16:30:00.000+0000"
    again["changelog"]["id"] = "10502"
    status, second, _ = await post(running, "jira", again)

    assert status == 201 and second["created"] is True
    assert second["interaction_id"] != first["interaction_id"]
    # Asked about IT three days ago: the same cooldown as any other interaction.
    assert second["prompt"]["status"] == "skipped" and second["prompt"]["reason"] == "cooldown"
    assert (await interaction(running, second["interaction_id"])).reference == (
        "IT-123@2026-11-23T16:30:00Z"
    )
    assert await counts(running) == (2, 2)
    assert len(running.slack.calls_to("chat.postMessage")) == 1


async def test_a_resolved_servicenow_incident_asks_its_caller_and_closing_it_does_not(
    running: Icx,
) -> None:
    record = fixture("servicenow_incident_resolved.json")
    status, answer, _ = await post(running, "servicenow", record)

    assert status == 201, answer
    await delivered_to_requester(running, answer["prompt"]["id"])
    row = await interaction(running, answer["interaction_id"])
    assert (row.department, row.service, row.source) == ("it", "vpn", "servicenow")
    assert row.reference == "INC0010023@2026-11-20T10:00:00Z"

    # The business rule fires again when the incident is closed: resolved_at is unchanged.
    closed = copy.deepcopy(record)
    closed["state"] = {"value": "7", "display_value": "Closed"}
    closed["closed_at"] = {"value": "2026-11-23 10:00:00", "display_value": "2026-11-23 05:00:00"}
    status, again, _ = await post(running, "servicenow", closed)
    assert status == 200 and again["created"] is False
    assert again["interaction_id"] == answer["interaction_id"]
    assert await counts(running) == (1, 1)
    assert len(running.slack.calls_to("chat.postMessage")) == 1


async def test_a_solved_zendesk_ticket_asks_its_requester(running: Icx) -> None:
    payload = fixture("zendesk_ticket_solved.json")
    status, answer, _ = await post(running, "zendesk", payload)

    assert status == 201, answer
    await delivered_to_requester(running, answer["prompt"]["id"])
    row = await interaction(running, answer["interaction_id"])
    assert (row.department, row.service, row.source) == ("people", "onboarding", "zendesk")
    assert row.reference == "4711@2026-11-20T10:00:00Z"

    # Zendesk retries with a new signature time but the same body.
    running.clock.advance(seconds=90)
    status, again, _ = await post(running, "zendesk", payload)
    assert status == 200 and again["interaction_id"] == answer["interaction_id"]
    assert await counts(running) == (1, 1)


async def test_a_service_value_nobody_mapped_records_the_interaction_without_a_service(
    running: Icx,
) -> None:
    payload = fixture("jira_issue_resolved.json")
    payload["issue"]["fields"]["components"] = [{"id": "10099", "name": "Printers"}]
    status, answer, _ = await post(running, "jira", payload)

    assert status == 201
    assert (await interaction(running, answer["interaction_id"])).service is None


# --- refused: nothing is written ------------------------------------------------------------

FIXTURE_OF = {
    "jira": "jira_issue_resolved.json",
    "servicenow": "servicenow_incident_resolved.json",
    "zendesk": "zendesk_ticket_solved.json",
}


@pytest.mark.parametrize("tool", ["jira", "servicenow", "zendesk"])
@pytest.mark.parametrize("how", ["missing", "wrong secret", "body changed"])
async def test_a_request_not_signed_with_the_secret_is_401_and_writes_nothing(
    running: Icx, tool: str, how: str
) -> None:
    body = json.dumps(fixture(FIXTURE_OF[tool])).encode()
    if how == "missing":
        headers: dict[str, str] = {}
    elif how == "wrong secret":
        other = "not-the-secret-0123456789"
        headers = {
            "jira": lambda: jira_headers(body, other),
            "servicenow": lambda: servicenow_headers(body, running.clock, other),
            "zendesk": lambda: zendesk_headers(body, running.clock, other),
        }[tool]()
    else:
        headers = signed(tool, body, running.clock)
        body = body.replace(b"mia@acme.example", b"omar@acme.example")

    status, answer, _ = await post(running, tool, body, headers)

    assert status == 401 and answer["error"] == "unauthorized"
    assert await counts(running) == (0, 0)
    assert running.slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("tool", ["servicenow", "zendesk"])
@pytest.mark.parametrize("age", [301, -301])
async def test_a_signature_outside_the_five_minute_window_is_401(
    running: Icx, tool: str, age: int
) -> None:
    body = json.dumps(fixture(FIXTURE_OF[tool])).encode()
    make = servicenow_headers if tool == "servicenow" else zendesk_headers
    status, answer, _ = await post(running, tool, body, make(body, running.clock, age=age))

    assert status == 401 and answer["error"] == "unauthorized"
    assert await counts(running) == (0, 0)


def _jira(change: Any) -> dict[str, Any]:
    payload = fixture("jira_issue_resolved.json")
    change(payload)
    return payload


def _servicenow(**fields: Any) -> dict[str, Any]:
    record = fixture("servicenow_incident_resolved.json")
    record.update(fields)
    return record


def _zendesk(**fields: Any) -> dict[str, Any]:
    payload = fixture("zendesk_ticket_solved.json")
    payload["ticket"].update(fields)
    return payload


UNMAPPED = [
    (
        "jira",
        _jira(lambda p: p["issue"]["fields"]["project"].update(key="FAC")),
        "IT-123: no department's helpdesk.jira.projects lists 'FAC'",
    ),
    (
        "jira",
        _jira(lambda p: p.update(webhookEvent="jira:issue_created")),
        "jira:issue_created is not an issue update",
    ),
    (
        "jira",
        _jira(lambda p: p["issue"]["fields"]["reporter"].pop("emailAddress")),
        "Jira leaves it out when the person's profile visibility hides it",
    ),
    (
        "servicenow",
        _servicenow(
            assignment_group={"value": "d625dccec0a8016700a222a0f7900d06",
                              "display_value": "Database"}
        ),
        "no department's helpdesk.servicenow.assignment_groups lists "
        "'d625dccec0a8016700a222a0f7900d06', 'Database'",
    ),
    (
        "servicenow",
        _servicenow(state={"value": "2", "display_value": "In Progress"}),
        "INC0010023: the record is not resolved or closed",
    ),
    (
        "servicenow",
        _servicenow(state={"value": "8", "display_value": "Canceled"}),
        "INC0010023: the record is not resolved or closed",
    ),
    (
        "servicenow",
        _servicenow(sys_class_name={"value": "problem", "display_value": "Problem"}),
        "icx takes incident and sc_request records, not problem",
    ),
    ("zendesk", _zendesk(status="Open"), "4711: the ticket is not solved"),
    ("zendesk", _zendesk(status="Closed"), "closed follows solved"),
    (
        "zendesk",
        _zendesk(group_id="360009999999", group_name="Billing"),
        "no department's helpdesk.zendesk.groups lists '360009999999', 'Billing'",
    ),
    ("zendesk", _zendesk(requester_email=""), "the requester has no email address"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "payload", "reason"), UNMAPPED)
async def test_a_payload_that_maps_to_no_resolution_is_202_with_the_reason_and_writes_nothing(
    running: Icx, tool: str, payload: dict[str, Any], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bots.webhooks"):
        status, answer, _ = await post(running, tool, payload)

    assert status == 202
    assert answer["status"] == "ignored" and reason in answer["reason"]
    assert await counts(running) == (0, 0)
    assert answer["reason"] in caplog.text
    # The log carries no one's address.
    assert "@acme.example" not in caplog.text


@pytest.mark.parametrize(
    ("tool", "body", "content_type", "status", "error"),
    [
        ("jira", b"{}", "text/plain", 415, "unsupported_media_type"),
        ("jira", b"{not json", "application/json", 400, "invalid_json"),
        ("jira", b'{"webhookEvent": "jira:issue_updated"}', "application/json", 400,
         "invalid_payload"),
        ("servicenow", b'["INC0010023"]', "application/json", 400, "invalid_payload"),
        ("zendesk", b'{"ticket": {"status": "Solved"}}', "application/json", 400,
         "invalid_payload"),
        ("jira", b" " * (1024 * 1024 + 1), "application/json", 413, "too_large"),
        ("freshdesk", b"{}", "application/json", 404, "unknown_helpdesk"),
    ],
)  # fmt: skip
async def test_bad_requests_are_refused_and_write_nothing(
    running: Icx, tool: str, body: bytes, content_type: str, status: int, error: str
) -> None:
    headers = {} if tool == "freshdesk" else signed(tool, body, running.clock)
    got, answer, _ = await post(running, tool, body, headers, content_type=content_type)

    assert (got, answer["error"]) == (status, error)
    assert await counts(running) == (0, 0)


async def test_a_tool_without_its_secret_is_404_with_the_variable_to_set(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    async with serving(db, slack, company, clock, jira=SECRETS["jira"]) as running:
        body = json.dumps(fixture("zendesk_ticket_solved.json")).encode()
        status, answer, _ = await post(running, "zendesk", body, zendesk_headers(body, clock))

        assert status == 404 and answer["error"] == "not_configured"
        assert "ICX_ZENDESK_WEBHOOK_SECRET" in answer["message"]
        assert (await post(running, "jira", fixture("jira_issue_resolved.json")))[0] == 201


async def test_when_slack_cannot_be_asked_who_the_requester_is_it_is_503_and_retried(
    running: Icx,
) -> None:
    running.slack.fail_next(1, status=503, method="users.lookupByEmail")
    status, answer, headers = await post(running, "jira", fixture("jira_issue_resolved.json"))

    assert status == 503 and answer["error"] == "platform_unavailable"
    assert headers["Retry-After"] == "30"
    assert await counts(running) == (0, 0)
    # The helpdesk's retry then goes through.
    assert (await post(running, "jira", fixture("jira_issue_resolved.json")))[0] == 201


# --- the mapping in the departments file ----------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "mapping", "payload", "service"),
    [
        # A Jira select list: {"value": "Hardware", "id": …}.
        ("jira", {"projects": ["IT"], "service_field": "customfield_10050",
                  "services": {"hardware": "laptop"}}, "jira_issue_resolved.json", "laptop"),
        # No map: a value equal to a service's key or name (any case) names it.
        ("jira", {"projects": ["IT"], "service_field": "labels"}, "jira_issue_resolved.json",
         "onboarding"),
        ("servicenow", {"assignment_groups": ["287ebd7da9fe198100f92cc8d1d2154e"],
                        "service_field": "business_service"},
         "servicenow_incident_resolved.json", "vpn"),
        ("servicenow", {"assignment_groups": ["Network"], "service_field": "category",
                        "services": {"Network": "vpn"}}, "servicenow_incident_resolved.json",
         "vpn"),
        # A value nobody mapped: no service, the interaction is still recorded.
        ("servicenow", {"assignment_groups": ["network"], "service_field": "cmdb_ci"},
         "servicenow_incident_resolved.json", None),
        ("zendesk", {"groups": ["People Ops"], "service_field": "tags",
                     "services": {"new_starter": "onboarding"}}, "zendesk_ticket_solved.json",
         "onboarding"),
    ],
)  # fmt: skip
def test_the_service_field_and_its_values_choose_the_service(
    tool: str, mapping: dict[str, Any], payload: str, service: str | None
) -> None:
    data = copy.deepcopy(WEBHOOK_COMPANY)
    for department in data["departments"]:
        department.pop("helpdesk", None)
    data["departments"][0]["helpdesk"] = {tool: mapping}
    data["departments"][0]["services"].append({"key": "onboarding", "name": "Onboarding"})
    resolved = CONNECTORS[Tool(tool)].read(fixture(payload))
    assert isinstance(resolved, ResolvedTicket)

    interaction = to_interaction(parse_company(data), resolved)

    assert isinstance(interaction, InteractionIn)
    assert (interaction.department, interaction.service) == ("it", service)
    assert interaction.requester.email == "mia@acme.example"
    assert interaction.provider is not None and interaction.provider.email == "ana@acme.example"


def _with_helpdesk(index: int, helpdesk: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(WEBHOOK_COMPANY)
    data["departments"][index]["helpdesk"] = helpdesk
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _with_helpdesk(
                0, {"jira": {"projects": ["IT"], "service_field": "components",
                             "services": {"Laptops": "laptops"}}}
            ),
            "departments[0] (it): helpdesk.jira.services maps to unknown service key(s) laptops; "
            "the department's services are: access, laptop, vpn",
        ),
        (
            _with_helpdesk(2, {"jira": {"projects": ["it"]}}),
            "helpdesk.jira.projects: 'it' is listed by both it and legal",
        ),
        (
            _with_helpdesk(2, {"zendesk": {"groups": ["360001234567"]}}),
            "helpdesk.zendesk.groups: '360001234567' is listed by both people and legal",
        ),
        (
            _with_helpdesk(0, {"servicenow": {"assignment_groups": ["Network"],
                                              "services": {"VPN": "vpn"}}}),
            "departments[0] (it).helpdesk.servicenow: services maps values of a field: name it "
            "in service_field",
        ),
        (
            _with_helpdesk(0, {"jira": {"projects": []}}),
            "departments[0] (it).helpdesk.jira.projects: needs at least one entry",
        ),
        (
            _with_helpdesk(1, {"zendesk": {"groups": ["1"], "service_field": "custom_field"}}),
            "departments[1] (people).helpdesk.zendesk.service_field: String should match",
        ),
    ],
)  # fmt: skip
def test_a_mapping_mistake_stops_start_up_naming_the_field(
    data: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_company(data)
    assert expected in str(error.value)


def test_a_short_webhook_secret_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, icx_zendesk_webhook_secret="short")
    assert "ICX_ZENDESK_WEBHOOK_SECRET: must be at least 16 characters" in str(error.value)
