"""Shared fixtures: every database test runs on SQLite and on PostgreSQL; Slack's Web API is a
local stand-in; the server is the real aiohttp server on an ephemeral port."""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from bots.runtime import Runtime, RuntimeOptions
from bots.server import RunningServer, start_server
from bots.standin.bot_connector import BotConnectorStandIn
from bots.standin.slack_web_api import SlackStandIn
from core.config import Config, parse_company
from core.departments import Company
from core.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Prompt
from tests import slack_requests, teams_activities

PG_ADMIN = os.environ.get("ICX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
API_TOKEN = "test-intake-token-0123456789"
SECRET_KEY = "test-secret-key-0123456789abcdef"

REQUESTER = "U0REQ00001"
PROVIDER = "U0PROV0001"
LEADER = "U0LEADER01"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No developer's Slack or Teams settings, proxies or .env leak into a test."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(("SLACK_", "MICROSOFT_", "ICX_")) and upper != "ICX_TEST_POSTGRES":
            monkeypatch.delenv(name)
        if upper in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "DATABASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- databases ------------------------------------------------------------------------------


def _postgres_reachable() -> bool:
    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(PG_ADMIN, timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    return asyncio.run(probe())


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    reachable = _postgres_reachable()
    if not reachable and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is unreachable at {PG_ADMIN}; CI requires it")
    return reachable


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Any, postgres_available: bool
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/icx.db"
        return
    if not postgres_available:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN} (start it, or set ICX_TEST_POSTGRES)")
    name = f"icx_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database.engine)
    yield database
    await database.dispose()


# --- configuration --------------------------------------------------------------------------

COMPANY: dict[str, Any] = {
    "policy": {"cooldown_days": 14, "weekly_budget": 3, "expiry_days": 7},
    "directory": {"segments": {"funder": ["U0CFO00001"], "influencer": ["vp@acme.example"]}},
    "departments": [
        {
            "key": "finance",
            "name": "Finance",
            "aliases": ["fin", "accounting"],
            "timezone": "Europe/Berlin",
            "services": [
                {"key": "expense-reimbursement", "name": "Expense reimbursement"},
                {"key": "supplier-payment", "name": "Supplier payment"},
            ],
        },
        {"key": "it", "name": "IT", "aliases": ["helpdesk"], "timezone": "America/New_York"},
        {"key": "legal", "name": "Legal", "timezone": "UTC"},
    ],
}


@pytest.fixture
def company() -> Company:
    return parse_company(COMPANY)


class FakeClock:
    """Time under the test's control; like real time, it moves on a little at every reading."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1000)
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def settings_for(database_url: str, slack: SlackStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": SecretStr("xoxb-test-token"),
        "slack_signing_secret": SecretStr(slack_requests.SIGNING_SECRET),
        "slack_api_url": slack.api_url,
        "icx_api_token": SecretStr(API_TOKEN),
        "icx_secret_key": SecretStr(SECRET_KEY),
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- Slack and the server -------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = SlackStandIn()
    await standin.start()
    standin.add_user(REQUESTER, "Mia Chen", email="mia@acme.example", locale="en-US")
    standin.add_user(PROVIDER, "Ana Silva", email="ana@acme.example")
    standin.add_user(LEADER, "Lena Lead", email="lena@acme.example")
    standin.add_user("U0CFO00001", "Carl Funder", email="cfo@acme.example")
    standin.add_user("U0OTHER001", "Omar Other", email="omar@acme.example")
    standin.add_user("U0ZH000001", "Wang Fang", email="wang@acme.example", locale="zh-CN")
    standin.add_user("U0BOT00001", "Build Bot", is_bot=True)
    yield standin
    await standin.stop()


@dataclass
class Icx:
    """A running icx and the means to talk to it."""

    server: RunningServer
    slack: SlackStandIn
    http: aiohttp.ClientSession
    clock: FakeClock
    connector: BotConnectorStandIn | None = None

    async def teams_post(
        self, activity: Any, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        """POSTs an activity to /api/messages; the JSON answer (an invoke's) or the text."""
        all_headers = headers if headers is not None else teams_activities.activity_headers()
        body = kwargs.pop("data", None)
        post = {"data": body} if body is not None else {"json": activity}
        async with self.http.post(
            f"{self.url}/api/messages", headers=all_headers, **post, **kwargs
        ) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def db(self) -> Database:
        return self.server.runtime.db

    async def intake(self, body: Any, token: str = API_TOKEN, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(
            f"{self.url}/api/v1/interactions", json=body, headers=headers, **kwargs
        ) as r:
            return r.status, await r.json(content_type=None)

    async def slack_post(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        signed: bool = True,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> tuple[int, str]:
        all_headers = {
            "Content-Type": content_type,
            **(slack_requests.sign(body) if signed else {}),
            **(headers or {}),
        }
        async with self.http.post(f"{self.url}/slack/events", data=body, headers=all_headers) as r:
            return r.status, await r.text()

    async def interact(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.slack_post(slack_requests.form_body(payload))

    async def sent_prompt(self, prompt_id: str, within: float = 5.0) -> Prompt:
        """Polls until the outbox has delivered (or given up on) the prompt."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            async with self.db.session() as s:
                prompt = await s.get(Prompt, prompt_id)
            if prompt is not None and prompt.status != "pending":
                return prompt
            await asyncio.sleep(0.01)
        raise AssertionError(f"prompt was not delivered within {within} s")


# --- Teams ----------------------------------------------------------------------------------

# People in the Teams tenant: (Bot Framework user id, Entra object id, name, email, locale).
TEAMS_PEOPLE = [
    (
        f"29:1teams-user-{i:02d}",
        f"0f6c2f7e-5d4b-4a39-8e21-{i:012d}",
        f"Teams Person {i}",
        f"teams{i}@acme.example",
    )
    for i in range(1, 9)
]
TEAMS_REQUESTER = TEAMS_PEOPLE[0]


def personal_conversation(user_id: str) -> str:
    return f"a:1personal-{user_id.removeprefix('29:')}"


@pytest.fixture
async def connector() -> AsyncIterator[BotConnectorStandIn]:
    standin = BotConnectorStandIn()
    await standin.start()
    for user_id, aad, name, email in TEAMS_PEOPLE:
        standin.add_member(user_id, aad, name, email=email)
    yield standin
    await standin.stop()


@pytest.fixture
async def running_teams(
    db: Database,
    slack: SlackStandIn,
    connector: BotConnectorStandIn,
    company: Company,
    clock: FakeClock,
) -> AsyncIterator[Icx]:
    """Slack and Teams on one server; Teams without authentication (MICROSOFT_APP_ID unset)."""
    config = Config(settings_for(db.url, slack, icx_teams_without_auth=True), company)
    runtime = Runtime(config, RuntimeOptions(clock=clock, housekeeping_every=3600))
    server = await start_server(runtime, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as http:
        yield Icx(server, slack, http, clock, connector)
    await server.stop()


async def install_for(running: Icx, person: tuple[str, str, str, str]) -> str:
    """The person installs the app; returns their personal conversation's id."""
    assert running.connector is not None
    user_id, aad, _, _ = person
    conversation = personal_conversation(user_id)
    status, _ = await running.teams_post(
        teams_activities.installed(
            running.connector.service_url,
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=conversation,
        )
    )
    assert status == 200
    return conversation


def intake_body(reference: str = "FIN-1042", **overrides: object) -> dict[str, object]:
    """A valid intake request: Mia asks Finance for an expense reimbursement, Ana helps."""
    body: dict[str, object] = {
        "department": "finance",
        "service": "expense-reimbursement",
        "requester": {"slack_user_id": REQUESTER},
        "provider": {"email": "ana@acme.example"},
        "source": "jira",
        "reference": reference,
        "occurred_at": "2026-11-20T10:00:00Z",
    }
    body.update(overrides)
    return body


@asynccontextmanager
async def runtime_on(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> AsyncIterator[Runtime]:
    """A started Runtime without background loops: the test drives the outbox by hand."""
    runtime = Runtime(
        Config(settings_for(db.url, slack), company), RuntimeOptions(clock=clock, background=False)
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
async def running(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> AsyncIterator[Icx]:
    config = Config(settings_for(db.url, slack), company)
    runtime = Runtime(config, RuntimeOptions(clock=clock, housekeeping_every=3600))
    server = await start_server(runtime, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as http:
        yield Icx(server, slack, http, clock)
    await server.stop()
