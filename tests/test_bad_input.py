"""Bad input through the real server: every refusal is clear (the right status, the right words)
and leaves the database exactly as it was: same rows, same contents, in every table.

Each test first brings icx into a known state (usually one delivered prompt), takes a snapshot
of the tables, sends the bad input, waits until icx has finished everything the request started
(its background tasks, the explanation on response_url), and compares."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select

from bots.standin.slack_web_api import Call
from core import prompt_text
from core.answers import TapResult
from core.i18n import translator
from storage.models import Interaction, OptOut, Prompt, Response
from tests import slack_requests as sr
from tests.conftest import API_TOKEN, PROVIDER, REQUESTER, Icx, intake_body

STRANGER = "U0OTHER001"  # a real workspace member (see conftest), just not the recipient

# The English explanations a person reads after a refused tap (core/prompt_text.refusal).
REFUSALS: dict[TapResult, str] = {
    TapResult.EXPIRED: "This feedback request has expired, so nothing was recorded.",
    TapResult.NOT_YOURS: (
        "This feedback request was sent to someone else, so nothing was recorded."
    ),
    TapResult.UNKNOWN: "This feedback request is no longer available, so nothing was recorded.",
    TapResult.SUPERSEDED: (
        "This message is out of date; please answer the latest one. Nothing was recorded."
    ),
    TapResult.NEEDS_SATISFACTION: (
        "Please choose how satisfied you are first. Nothing was recorded."
    ),
    TapResult.INVALID: "That answer is not one of the choices, so nothing was recorded.",
}
MALFORMED_FORM = "The form could not be read, so nothing was recorded. Please try again."
SIGNATURE_ERROR = {"error": "invalid or stale Slack signature"}
MALFORMED = {"error": "malformed Slack payload"}
SLACK_TOO_LARGE = {"error": f"body larger than {256 * 1024} bytes"}
# Calls a refusal may make: the person's locale (users.info) and the ephemeral explanation.
EXPLAINING = {"users.info", "response_url"}


# --- the database, before and after --------------------------------------------------------------

# Each table icx writes, with the column that orders its rows (the primary key).
TABLES: dict[type[SQLModel], Any] = {
    Interaction: Interaction.id,
    Prompt: Prompt.id,
    Response: Response.id,
    OptOut: OptOut.respondent_key,
}


@dataclass(frozen=True)
class Snapshot:
    """Every row of every table icx writes, in primary-key order, as plain values."""

    tables: dict[str, list[dict[str, Any]]]

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.tables.items()}

    def without(self, table: str, *columns: str) -> "Snapshot":
        """The same snapshot with some columns of one table left out of the comparison."""
        tables = dict(self.tables)
        tables[table] = [{k: v for k, v in r.items() if k not in columns} for r in tables[table]]
        return Snapshot(tables)


async def snapshot(running: Icx) -> Snapshot:
    tables: dict[str, list[dict[str, Any]]] = {}
    async with running.db.session() as s:
        for model, key in TABLES.items():
            rows = (await s.exec(select(model).order_by(col(key)))).all()
            tables[str(model.__tablename__)] = [row.model_dump() for row in rows]
    return Snapshot(tables)


async def assert_unchanged(running: Icx, before: Snapshot) -> None:
    after = await snapshot(running)
    assert after.counts == before.counts, "rows were added or removed"
    for table, rows in before.tables.items():
        assert after.tables[table] == rows, f"table {table} changed"


# --- waiting without sleeping --------------------------------------------------------------------


async def settle(running: Icx) -> None:
    """Waits for the work the last requests started after their HTTP answer (redraws,
    explanations): the runtime tracks it as background tasks."""
    await running.server.runtime.tasks.drain(within=5)


def calls_since(running: Icx, mark: int) -> list[Call]:
    return running.slack.calls[mark:]


async def explanation(running: Icx, mark: int) -> dict[str, Any]:
    """The one ephemeral answer posted to response_url after call number `mark`."""
    await running.slack.wait_for(
        lambda: [c for c in calls_since(running, mark) if c.method == "response_url"]
    )
    await settle(running)  # anything else the request started has finished too
    answers = [c for c in calls_since(running, mark) if c.method == "response_url"]
    assert len(answers) == 1, answers
    payload = answers[0].payload
    assert payload["response_type"] == "ephemeral"
    assert payload["replace_original"] is False
    return payload


async def assert_explained(running: Icx, mark: int, result: TapResult, before: Snapshot) -> None:
    """The person was told why (in English), nothing else was sent, and nothing was written."""
    payload = await explanation(running, mark)
    assert payload["text"] == REFUSALS[result]
    assert payload["text"] == prompt_text.refusal(result, translator("en"))
    assert {c.method for c in calls_since(running, mark)} <= EXPLAINING
    await assert_unchanged(running, before)


async def assert_nothing_happened(running: Icx, mark: int, before: Snapshot) -> None:
    await settle(running)
    assert calls_since(running, mark) == []
    await assert_unchanged(running, before)


# --- a delivered prompt (as in test_end_to_end) --------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """A prompt as its recipient sees it: where the message is, and where Slack's
    response_url points (the stand-in)."""

    prompt_id: str
    channel: str
    ts: str
    response_url: str

    def tap(self, action_id: str, *, user: str = REQUESTER, **where: str) -> dict[str, Any]:
        """The payload of a button tap on this prompt (by the recipient unless `user` says
        otherwise); `where` overrides channel or ts, as on an old copy of the message."""
        return sr.button_tap(
            self.prompt_id,
            action_id,
            user=user,
            channel=where.get("channel", self.channel),
            ts=where.get("ts", self.ts),
            response_url=self.response_url,
        )


async def delivered(running: Icx, reference: str = "FIN-1") -> Delivered:
    status, answer = await running.intake(intake_body(reference))
    assert status == 201, answer
    prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert prompt.status == "sent" and prompt.channel_id and prompt.message_ts
    await settle(running)
    return Delivered(prompt.id, prompt.channel_id, prompt.message_ts, running.slack.response_url())


async def answered(running: Icx, prompt: Delivered, satisfaction: int = 4) -> None:
    """The requester taps a satisfaction button and icx has finished redrawing the message."""
    mark = len(running.slack.calls)
    status, _ = await running.interact(prompt.tap(f"icx_csat_{satisfaction}"))
    assert status == 200
    await running.slack.wait_for(
        lambda: [c for c in calls_since(running, mark) if c.method == "chat.update"]
    )
    await settle(running)


async def responses(running: Icx) -> list[Response]:
    async with running.db.session() as s:
        return list((await s.exec(select(Response))).all())


# --- Slack: signatures ---------------------------------------------------------------------------


def _no_headers(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {}


def _wrong_secret(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sr.sign(body, secret="not-the-signing-secret-0000000000")


def _stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sr.sign(body, timestamp=int(time.time()) - 301)


def _from_the_future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sr.sign(body, timestamp=int(time.time()) + 301)


def _modified_after_signing(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = sr.sign(body)
    modified = body.replace(b"icx_csat_4", b"icx_csat_1")
    assert modified != body
    return modified, headers


def _signature_only(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"X-Slack-Signature": sr.sign(body)["X-Slack-Signature"]}


def _timestamp_only(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"X-Slack-Request-Timestamp": sr.sign(body)["X-Slack-Request-Timestamp"]}


def _signed_for_another_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    stamp = int(time.time())
    headers = sr.sign(body, timestamp=stamp - 10)
    headers["X-Slack-Request-Timestamp"] = str(stamp)
    return body, headers


def _absurd_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sr.sign(body, timestamp=17_000_000_000_000_000_000_000)


def _wrong_version(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = sr.sign(body)
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
    return body, headers


SIGNATURE_CASES: dict[str, Callable[[bytes], tuple[bytes, dict[str, str]]]] = {
    "no signature headers": _no_headers,
    "wrong secret": _wrong_secret,
    "timestamp 301 s old": _stale,
    "timestamp 301 s ahead": _from_the_future,
    "body modified after signing": _modified_after_signing,
    "signature without timestamp": _signature_only,
    "timestamp without signature": _timestamp_only,
    "signed for another timestamp": _signed_for_another_timestamp,
    "wrong signature version": _wrong_version,
    "timestamp absurdly far ahead": _absurd_timestamp,
}


@pytest.mark.parametrize("case", list(SIGNATURE_CASES))
async def test_a_badly_signed_tap_is_refused_with_401_and_writes_nothing(
    running: Icx, case: str
) -> None:
    # A real, otherwise valid tap by the recipient: if the signature were not checked, it would
    # be recorded and the message redrawn.
    prompt = await delivered(running)
    body, headers = SIGNATURE_CASES[case](sr.form_body(prompt.tap("icx_csat_4")))
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body, headers, signed=False)

    assert status == 401
    assert json.loads(text) == SIGNATURE_ERROR
    await assert_nothing_happened(running, mark, before)


@pytest.mark.parametrize("timestamp", ["not-a-number", "", "1e9", "1700000000.5"])
async def test_a_timestamp_that_is_not_a_number_is_refused_with_401(
    running: Icx, timestamp: str
) -> None:
    prompt = await delivered(running)
    body = sr.form_body(prompt.tap("icx_csat_4"))
    headers = {**sr.sign(body), "X-Slack-Request-Timestamp": timestamp}
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body, headers, signed=False)

    assert status == 401, text
    assert json.loads(text) == SIGNATURE_ERROR
    await assert_nothing_happened(running, mark, before)


@pytest.mark.parametrize("age", [0, 290], ids=["fresh", "290 s old"])
async def test_a_correctly_signed_tap_is_accepted(running: Icx, age: int) -> None:
    """The control for the cases above: the same tap, correctly signed, is recorded."""
    prompt = await delivered(running)
    body = sr.form_body(prompt.tap("icx_csat_4"))
    headers = sr.sign(body, timestamp=int(time.time()) - age)
    status, _ = await running.slack_post(body, headers, signed=False)
    assert status == 200
    assert [r.satisfaction for r in await responses(running)] == [4]


# --- Slack: malformed and oversized bodies -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"payload=not-json", b"payload=%7B%22type%22%3A", b"{not json", b'{"type": "block_actions"'],
    ids=["payload not JSON", "payload cut short", "JSON body not JSON", "JSON body cut short"],
)
async def test_a_signed_body_that_does_not_parse_is_refused_with_400(
    running: Icx, body: bytes
) -> None:
    await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body)

    assert status == 400
    assert json.loads(text) == MALFORMED
    await assert_nothing_happened(running, mark, before)


async def test_signed_bytes_that_are_not_utf8_are_refused_with_400(running: Icx) -> None:
    prompt = await delivered(running)
    body = sr.form_body(prompt.tap("icx_csat_4")) + b"&junk=\xff\xfe\xc3"
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body)

    assert status == 400, text
    assert json.loads(text) == MALFORMED
    await assert_nothing_happened(running, mark, before)


async def test_unsigned_bytes_that_are_not_utf8_are_refused_with_401(running: Icx) -> None:
    await delivered(running)
    body = b"payload=\xff\xfe"
    headers = {**sr.sign(b"something else"), "Content-Type": "application/x-www-form-urlencoded"}
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body, headers, signed=False)

    assert status == 401, text
    assert json.loads(text) == SIGNATURE_ERROR
    await assert_nothing_happened(running, mark, before)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
        (b"payload=123", "application/x-www-form-urlencoded"),
        (b"payload=null", "application/x-www-form-urlencoded"),
        (b"payload=%22block_actions%22", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b"42", "application/json"),
    ],
    ids=[
        "payload list",
        "payload number",
        "payload null",
        "payload string",
        "JSON list",
        "JSON 42",
    ],
)
async def test_a_signed_payload_that_is_not_a_json_object_is_refused_with_400(
    running: Icx, body: bytes, content_type: str
) -> None:
    await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body, content_type=content_type)

    assert status == 400, text
    assert json.loads(text) == MALFORMED
    await assert_nothing_happened(running, mark, before)


@pytest.mark.parametrize(
    "body",
    [b"", b"hello=world", sr.form_body({"type": "something_else", "user": {"id": REQUESTER}})],
    ids=["empty", "form without payload", "unknown payload type"],
)
async def test_a_signed_request_icx_does_not_handle_gets_404(running: Icx, body: bytes) -> None:
    await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.slack_post(body)

    assert status == 404
    assert json.loads(text) == {"error": "unhandled request"}
    await assert_nothing_happened(running, mark, before)


SLOW_NETWORK_PAUSE = 0.2  # seconds between the parts of a body from a slow client


async def slowly(body: bytes, parts: int = 4) -> AsyncIterator[bytes]:
    """A client on a slow network: the body arrives chunked, in parts some time apart. (The pause
    shapes the upload; nothing is waited for.)"""
    step = -(-len(body) // parts)
    for index, start in enumerate(range(0, len(body), step)):
        if index:
            await asyncio.sleep(SLOW_NETWORK_PAUSE)
        yield body[start : start + step]


async def post_slack(
    running: Icx, body: bytes | AsyncIterator[bytes], headers: dict[str, str]
) -> tuple[int, str]:
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    async with running.http.post(
        f"{running.url}/slack/events", data=body, headers=all_headers
    ) as r:
        return r.status, await r.text()


def padded_tap(prompt: Delivered, size: int) -> bytes:
    """A valid tap whose form body is exactly `size` bytes (Slack ignores unknown fields)."""
    tap = prompt.tap("icx_csat_4")
    tap["padding"] = ""
    tap["padding"] = "x" * (size - len(sr.form_body(tap)))
    body = sr.form_body(tap)
    assert len(body) == size
    return body


async def test_a_slack_body_over_256_kib_is_refused_with_413(running: Icx) -> None:
    prompt = await delivered(running)
    body = padded_tap(prompt, 256 * 1024 + 1)  # correctly signed: only the size is wrong
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await post_slack(running, body, sr.sign(body))

    assert status == 413
    assert json.loads(text) == SLACK_TOO_LARGE
    await assert_nothing_happened(running, mark, before)


async def test_a_slack_body_over_256_kib_from_a_slow_client_is_refused_with_413(
    running: Icx,
) -> None:
    prompt = await delivered(running)
    body = padded_tap(prompt, 300 * 1024)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await post_slack(running, slowly(body), sr.sign(body))

    assert status == 413, text
    assert json.loads(text) == SLACK_TOO_LARGE
    await assert_nothing_happened(running, mark, before)


async def test_a_slack_body_of_exactly_256_kib_from_a_slow_client_is_accepted(
    running: Icx,
) -> None:
    """The boundary: 256 KiB is allowed, however slowly it arrives."""
    prompt = await delivered(running)
    body = padded_tap(prompt, 256 * 1024)

    status, text = await post_slack(running, slowly(body), sr.sign(body))

    assert status == 200, text
    assert [r.satisfaction for r in await responses(running)] == [4]


# --- Slack: actions icx does not know ------------------------------------------------------------


@pytest.mark.parametrize(
    "action_id",
    [
        "icx_bogus",
        "icx_ces_9",
        "icx_ces_0",
        "icx_csat_0",
        "icx_csat_6",
        "icx_csat_44",
        "ICX_CSAT_4",
    ],
)
async def test_an_unknown_action_is_acknowledged_and_explained(
    running: Icx, action_id: str
) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap(action_id))

    assert status == 200
    await assert_explained(running, mark, TapResult.UNKNOWN, before)


async def test_an_unknown_action_after_an_answer_changes_nothing(running: Icx) -> None:
    prompt = await delivered(running)
    await answered(running, prompt, 2)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_ces_8"))

    assert status == 200
    await assert_explained(running, mark, TapResult.UNKNOWN, before)
    assert [(r.satisfaction, r.effort) for r in await responses(running)] == [(2, None)]


# --- Slack: taps icx refuses ---------------------------------------------------------------------


async def test_a_tap_on_an_unknown_prompt_is_explained(running: Icx) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)
    tap = prompt.tap("icx_csat_5")
    tap["actions"][0]["value"] = uuid.uuid4().hex

    status, _ = await running.interact(tap)

    assert status == 200
    await assert_explained(running, mark, TapResult.UNKNOWN, before)


async def test_a_tap_without_a_prompt_id_is_explained(running: Icx) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)
    tap = prompt.tap("icx_csat_5")
    del tap["actions"][0]["value"]

    status, _ = await running.interact(tap)

    assert status == 200
    await assert_explained(running, mark, TapResult.UNKNOWN, before)


@pytest.mark.parametrize("action_id", ["icx_csat_5", "icx_ces_3", "icx_snooze"])
async def test_a_tap_on_someone_elses_prompt_is_explained(running: Icx, action_id: str) -> None:
    prompt = await delivered(running)
    if action_id == "icx_ces_3":
        await answered(running, prompt)  # so the stranger's effort tap would have a row to change
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap(action_id, user=STRANGER))

    assert status == 200
    await assert_explained(running, mark, TapResult.NOT_YOURS, before)


async def test_the_provider_cannot_answer_for_the_requester(running: Icx) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_csat_5", user=PROVIDER))

    assert status == 200
    await assert_explained(running, mark, TapResult.NOT_YOURS, before)


@pytest.mark.parametrize("action_id", ["icx_csat_5", "icx_snooze"])
async def test_a_tap_on_an_expired_prompt_is_explained(running: Icx, action_id: str) -> None:
    prompt = await delivered(running)
    running.clock.advance(days=8)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap(action_id))

    assert status == 200
    await assert_explained(running, mark, TapResult.EXPIRED, before)


async def test_an_answer_cannot_be_changed_once_the_prompt_expired(running: Icx) -> None:
    prompt = await delivered(running)
    await answered(running, prompt, 2)
    running.clock.advance(days=8)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_csat_5"))

    assert status == 200
    await assert_explained(running, mark, TapResult.EXPIRED, before)
    assert [r.satisfaction for r in await responses(running)] == [2]


async def test_a_stranger_learns_not_yours_even_when_the_prompt_expired(running: Icx) -> None:
    prompt = await delivered(running)
    running.clock.advance(days=8)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_csat_5", user=STRANGER))

    assert status == 200
    await assert_explained(running, mark, TapResult.NOT_YOURS, before)


@pytest.mark.parametrize(
    "where",
    [{"ts": "1699999999.000100"}, {"channel": "D0ELSEWHERE"}],
    ids=["older message ts", "other channel"],
)
async def test_a_tap_on_an_old_copy_of_the_message_is_explained(
    running: Icx, where: dict[str, str]
) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_csat_1", **where))

    assert status == 200
    await assert_explained(running, mark, TapResult.SUPERSEDED, before)


async def test_a_tap_on_a_prompt_that_was_never_sent_is_explained(running: Icx) -> None:
    """The requester is also the provider, so the prompt is skipped, never delivered."""
    status, answer = await running.intake(
        intake_body("FIN-SELF", provider={"slack_user_id": REQUESTER})
    )
    assert status == 201 and answer["prompt"]["status"] == "skipped", answer
    prompt = Delivered(
        answer["prompt"]["id"], "D0REQ00001", "1700000001.000100", running.slack.response_url()
    )
    await settle(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_csat_5"))

    assert status == 200
    await assert_explained(running, mark, TapResult.UNKNOWN, before)


async def test_an_effort_tap_before_any_satisfaction_is_explained(running: Icx) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    status, _ = await running.interact(prompt.tap("icx_ces_5"))

    assert status == 200
    await assert_explained(running, mark, TapResult.NEEDS_SATISFACTION, before)
    assert await responses(running) == []


async def test_reasons_before_any_satisfaction_are_explained(running: Icx) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)
    tap = sr.reasons_tap(
        prompt.prompt_id,
        ["speed"],
        user=REQUESTER,
        channel=prompt.channel,
        ts=prompt.ts,
        response_url=prompt.response_url,
    )

    status, _ = await running.interact(tap)

    assert status == 200
    await assert_explained(running, mark, TapResult.NEEDS_SATISFACTION, before)


@pytest.mark.parametrize(
    "keys", [["speed", "bribes"], ["speed", "speed"]], ids=["unknown reason", "duplicate reason"]
)
async def test_reasons_that_are_not_choices_are_explained(running: Icx, keys: list[str]) -> None:
    prompt = await delivered(running)
    await answered(running, prompt)
    before, mark = await snapshot(running), len(running.slack.calls)
    tap = sr.reasons_tap(
        prompt.prompt_id,
        keys,
        user=REQUESTER,
        channel=prompt.channel,
        ts=prompt.ts,
        response_url=prompt.response_url,
    )

    status, _ = await running.interact(tap)

    assert status == 200
    await assert_explained(running, mark, TapResult.INVALID, before)
    assert [r.reasons for r in await responses(running)] == [[]]


async def test_the_comment_button_on_someone_elses_prompt_opens_no_form(running: Icx) -> None:
    prompt = await delivered(running)
    await answered(running, prompt)
    before, mark = await snapshot(running), len(running.slack.calls)
    status, _ = await running.interact(prompt.tap("icx_comment", user=STRANGER))

    assert status == 200
    await assert_explained(running, mark, TapResult.NOT_YOURS, before)
    assert running.slack.calls_to("views.open") == []


# --- Slack: the comment form ---------------------------------------------------------------------


def comment_form(
    prompt: Delivered,
    *,
    user: str = REQUESTER,
    comment: str = "Quick.",
    flags: list[str] | None = None,
) -> dict[str, Any]:
    return sr.comment_submission(
        prompt.prompt_id,
        user=user,
        channel=prompt.channel,
        ts=prompt.ts,
        comment=comment,
        flags=["contact_consent"] if flags is None else flags,
    )


async def assert_refused_in_form(running: Icx, mark: int, before: Snapshot) -> None:
    """The refusal travelled in the HTTP answer: at most the person's locale was looked up;
    no message was redrawn, no form opened, nothing written."""
    await settle(running)
    assert {c.method for c in calls_since(running, mark)} <= {"users.info"}
    await assert_unchanged(running, before)


async def submit(running: Icx, form: dict[str, Any]) -> dict[str, Any]:
    """Submits the modal; a refusal is a 200 whose JSON tells Slack to show the error."""
    status, text = await running.interact(form)
    assert status == 200, text
    answer: dict[str, Any] = json.loads(text)
    return answer


@pytest.mark.parametrize("stage", ["before satisfaction", "after satisfaction"])
async def test_a_comment_on_someone_elses_prompt_is_refused_in_the_form(
    running: Icx, stage: str
) -> None:
    prompt = await delivered(running)
    if stage == "after satisfaction":
        await answered(running, prompt)
    before, mark = await snapshot(running), len(running.slack.calls)

    answer = await submit(running, comment_form(prompt, user=STRANGER, comment="Let me in."))

    assert answer == {
        "response_action": "errors",
        "errors": {"comment": REFUSALS[TapResult.NOT_YOURS]},
    }
    await assert_refused_in_form(running, mark, before)


async def test_a_comment_before_any_satisfaction_is_refused_in_the_form(running: Icx) -> None:
    prompt = await delivered(running)
    before, mark = await snapshot(running), len(running.slack.calls)

    answer = await submit(running, comment_form(prompt))

    assert answer == {
        "response_action": "errors",
        "errors": {"comment": REFUSALS[TapResult.NEEDS_SATISFACTION]},
    }
    await assert_refused_in_form(running, mark, before)


async def test_a_comment_after_expiry_is_refused_in_the_form(running: Icx) -> None:
    prompt = await delivered(running)
    await answered(running, prompt)
    running.clock.advance(days=8)
    before, mark = await snapshot(running), len(running.slack.calls)

    answer = await submit(running, comment_form(prompt))

    assert answer == {
        "response_action": "errors",
        "errors": {"comment": REFUSALS[TapResult.EXPIRED]},
    }
    await assert_refused_in_form(running, mark, before)


async def test_a_comment_over_3000_characters_is_refused_in_the_form(running: Icx) -> None:
    prompt = await delivered(running)
    await answered(running, prompt)
    before, mark = await snapshot(running), len(running.slack.calls)

    answer = await submit(running, comment_form(prompt, comment="x" * 3001))

    assert answer == {
        "response_action": "errors",
        "errors": {"comment": REFUSALS[TapResult.INVALID]},
    }
    await assert_refused_in_form(running, mark, before)


async def test_a_form_without_its_fields_is_refused_as_malformed(running: Icx) -> None:
    prompt = await delivered(running)
    await answered(running, prompt)
    form = comment_form(prompt)
    del form["view"]["state"]["values"]["comment"]
    before, mark = await snapshot(running), len(running.slack.calls)

    answer = await submit(running, form)

    assert answer == {"response_action": "errors", "errors": {"comment": MALFORMED_FORM}}
    assert MALFORMED_FORM == prompt_text.malformed_form(translator("en"))
    await assert_refused_in_form(running, mark, before)


@pytest.mark.parametrize("metadata", ["[]", "42", '"x"', "null"])
async def test_a_form_with_foreign_metadata_is_refused_as_malformed(
    running: Icx, metadata: str
) -> None:
    prompt = await delivered(running)
    await answered(running, prompt)
    form = comment_form(prompt)
    form["view"]["private_metadata"] = metadata
    before, mark = await snapshot(running), len(running.slack.calls)

    status, text = await running.interact(form)

    assert status == 200, text
    assert json.loads(text) == {"response_action": "errors", "errors": {"comment": MALFORMED_FORM}}
    await assert_refused_in_form(running, mark, before)


# --- Slack: double taps and retries --------------------------------------------------------------


async def assert_unchanged_except_updated_at(running: Icx, before: Snapshot) -> None:
    """A repeated answer may touch the response's updated_at; nothing else may change."""
    after = await snapshot(running)
    assert after.counts == before.counts, "rows were added or removed"
    assert after.without("response", "updated_at") == before.without("response", "updated_at")


RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.mark.parametrize(
    "repeats",
    [[{}, {}], [RETRY, {**RETRY, "X-Slack-Retry-Num": "2"}]],
    ids=["double taps", "Slack retries"],
)
async def test_a_tap_sent_three_times_is_one_response(
    running: Icx, repeats: list[dict[str, str]]
) -> None:
    prompt = await delivered(running)
    body = sr.form_body(prompt.tap("icx_csat_4"))
    status, _ = await running.slack_post(body)
    assert status == 200
    await settle(running)
    first = await snapshot(running)
    assert first.counts["response"] == 1

    for headers in repeats:
        status, _ = await running.slack_post(body, headers)
        assert status == 200
    await settle(running)

    rows = await responses(running)
    assert [(r.prompt_id, r.satisfaction, r.effort) for r in rows] == [(prompt.prompt_id, 4, None)]
    await assert_unchanged_except_updated_at(running, first)


@pytest.mark.parametrize("copies", [2, 8])
async def test_identical_taps_at_the_same_moment_are_one_response(
    running: Icx, copies: int
) -> None:
    prompt = await delivered(running)
    body = sr.form_body(prompt.tap("icx_csat_3"))

    answers = await asyncio.gather(*(running.slack_post(body) for _ in range(copies)))

    assert [status for status, _ in answers] == [200] * copies, answers
    await settle(running)
    rows = await responses(running)
    assert [(r.prompt_id, r.satisfaction) for r in rows] == [(prompt.prompt_id, 3)]
    async with running.db.session() as s:
        stored = await s.get(Prompt, prompt.prompt_id)
    assert stored is not None and stored.status == "answered"


async def test_a_repeated_snooze_is_one_opt_out(running: Icx) -> None:
    prompt = await delivered(running)
    body = sr.form_body(prompt.tap("icx_snooze"))

    answers = await asyncio.gather(*(running.slack_post(body) for _ in range(3)))

    assert [status for status, _ in answers] == [200] * 3, answers
    await settle(running)
    async with running.db.session() as s:
        assert len((await s.exec(select(OptOut))).all()) == 1


# --- Intake API ----------------------------------------------------------------------------------


async def raw_intake(
    running: Icx, body: bytes | AsyncIterator[bytes], headers: dict[str, str]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with running.http.post(
        f"{running.url}/api/v1/interactions", data=body, headers=headers
    ) as r:
        return r.status, await r.json(content_type=None), dict(r.headers)


def new_intake(**overrides: object) -> dict[str, object]:
    """A request icx would record and prompt for (a requester not asked lately), changed by
    `overrides`."""
    body = intake_body("FIN-NEW", requester={"slack_user_id": STRANGER})
    body.update(overrides)
    return body


def json_headers(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def intake_baseline(running: Icx) -> tuple[Snapshot, int]:
    """One interaction already recorded and delivered, so "unchanged" means something."""
    await delivered(running, "FIN-EXISTING")
    return await snapshot(running), len(running.slack.calls)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {API_TOKEN}", API_TOKEN, "Bearer", f"Bearer {API_TOKEN}x"],
    ids=["none", "wrong token", "basic scheme", "no scheme", "empty token", "token plus one"],
)
async def test_intake_without_the_right_token_is_refused_with_401(
    running: Icx, authorization: str | None
) -> None:
    before, mark = await intake_baseline(running)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization

    status, answer, response_headers = await raw_intake(
        running, json.dumps(new_intake()).encode(), headers
    )

    assert status == 401
    assert answer["error"] == "unauthorized"
    assert "Bearer" in answer["message"]
    assert response_headers["WWW-Authenticate"] == 'Bearer realm="icx"'
    await assert_nothing_happened(running, mark, before)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_intake_that_is_not_json_is_refused_with_415(running: Icx, content_type: str) -> None:
    before, mark = await intake_baseline(running)
    headers = {**json_headers(), "Content-Type": content_type}

    status, answer, _ = await raw_intake(running, json.dumps(new_intake()).encode(), headers)

    assert status == 415
    assert answer["error"] == "unsupported_media_type"
    assert "application/json" in answer["message"]
    await assert_nothing_happened(running, mark, before)


async def test_intake_over_64_kib_is_refused_with_413(running: Icx) -> None:
    before, mark = await intake_baseline(running)
    body = json.dumps(new_intake(reference="R" * (64 * 1024))).encode()
    assert len(body) > 64 * 1024

    status, answer, _ = await raw_intake(running, body, json_headers())

    assert status == 413
    assert answer == {"error": "too_large", "message": "the body may be at most 65536 bytes"}
    await assert_nothing_happened(running, mark, before)


async def test_intake_over_64_kib_from_a_slow_client_is_refused_with_413(running: Icx) -> None:
    before, mark = await intake_baseline(running)
    body = json.dumps(new_intake(reference="R" * (64 * 1024))).encode()

    status, answer, _ = await raw_intake(running, slowly(body), json_headers())

    assert status == 413, answer
    assert answer["error"] == "too_large"
    await assert_nothing_happened(running, mark, before)


async def test_intake_of_exactly_64_kib_from_a_slow_client_is_accepted(running: Icx) -> None:
    await intake_baseline(running)
    body = json.dumps(new_intake()).encode()
    body = b" " * (64 * 1024 - len(body)) + body  # whitespace before the JSON: still valid

    status, answer, _ = await raw_intake(running, slowly(body), json_headers())

    assert status == 201, answer


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"{'department': 'finance'}",
        b'{"department": "finance",}',
        b"\xff\xfe{}",
        b"[" * 30_000 + b"]" * 30_000,
    ],
    ids=["empty", "cut short", "single quotes", "trailing comma", "not UTF-8", "nested too deep"],
)
async def test_intake_with_invalid_json_is_refused_with_400(running: Icx, body: bytes) -> None:
    before, mark = await intake_baseline(running)

    status, answer, _ = await raw_intake(running, body, json_headers())

    assert status == 400
    assert answer["error"] == "invalid_json"
    assert answer["message"].startswith("the body is not valid JSON")
    await assert_nothing_happened(running, mark, before)


def _without(key: str) -> dict[str, object]:
    body = new_intake()
    del body[key]
    return body


CONTRACT_VIOLATIONS: dict[str, tuple[Any, str, str]] = {
    # name: (body, field named in problems, words the message must contain)
    "requester with two identifiers": (
        new_intake(requester={"slack_user_id": REQUESTER, "email": "mia@acme.example"}),
        "requester",
        "exactly one",
    ),
    "requester with no identifier": (
        new_intake(requester={}),
        "requester",
        "exactly one",
    ),
    "provider with no identifier": (
        new_intake(provider={"email": None}),
        "provider",
        "exactly one",
    ),
    "bad email": (
        new_intake(requester={"email": "mia-at-acme"}),
        "requester.email",
        "pattern",
    ),
    "bad Slack user id": (
        new_intake(requester={"slack_user_id": "mia"}),
        "requester.slack_user_id",
        "pattern",
    ),
    "unknown person field": (
        new_intake(requester={"slack_user_id": REQUESTER, "phone": "+49"}),
        "requester.phone",
        "Extra inputs",
    ),
    "missing source": (_without("source"), "source", "Field required"),
    "missing requester": (_without("requester"), "requester", "Field required"),
    "missing department": (_without("department"), "department", "Field required"),
    "missing reference": (_without("reference"), "reference", "Field required"),
    "empty reference": (new_intake(reference=""), "reference", "at least 1 character"),
    "source with spaces": (new_intake(source="my jira"), "source", "pattern"),
    "extra unknown field": (new_intake(priority="high"), "priority", "Extra inputs"),
    "occurred_at without timezone": (
        new_intake(occurred_at="2026-11-20T10:00:00"),
        "occurred_at",
        "timezone",
    ),
    "occurred_at not a date": (
        new_intake(occurred_at="last Tuesday"),
        "occurred_at",
        "datetime",
    ),
    "department not a string": (new_intake(department=7), "department", "string"),
    "body is a list": ([new_intake()], "(body)", "dictionary"),
    "unknown department": (
        new_intake(department="marketing", service=None),
        "department",
        "unknown department; known: finance, it, legal",
    ),
    "unknown service": (
        new_intake(service="payroll"),
        "service",
        "unknown service of finance; known: expense-reimbursement, supplier-payment",
    ),
    "service of a department without services": (
        new_intake(department="legal", service="contracts"),
        "service",
        "unknown service of legal; known: (none configured)",
    ),
}


NAMES_SOMETHING_UNKNOWN = {
    "unknown department",
    "unknown service",
    "service of a department without services",
}


@pytest.mark.parametrize("case", list(CONTRACT_VIOLATIONS))
async def test_intake_that_breaks_the_contract_names_the_field(running: Icx, case: str) -> None:
    body, field, words = CONTRACT_VIOLATIONS[case]
    before, mark = await intake_baseline(running)

    status, answer = await running.intake(body)

    assert status == 400, answer
    assert answer["error"] == "invalid_request"
    assert answer["message"] == (
        "the body names something unknown"  # checked against the company's configuration
        if case in NAMES_SOMETHING_UNKNOWN
        else "the body does not match the contract"
    )
    problems = answer["problems"]
    assert all(set(p) == {"field", "message"} for p in problems), problems
    assert field in [p["field"] for p in problems], problems
    assert any(words in p["message"] for p in problems if p["field"] == field), problems
    await assert_nothing_happened(running, mark, before)


async def test_intake_lists_every_problem_at_once(running: Icx) -> None:
    before, mark = await intake_baseline(running)
    body = new_intake(reference="", source="", requester={"email": "nope"}, surprise=1)

    status, answer = await running.intake(body)

    assert status == 400
    assert {p["field"] for p in answer["problems"]} == {
        "reference",
        "source",
        "requester.email",
        "surprise",
    }
    await assert_nothing_happened(running, mark, before)


async def test_intake_when_slack_cannot_be_asked_is_503_and_writes_nothing(running: Icx) -> None:
    before, mark = await intake_baseline(running)
    running.slack.fail_next(1, status=503, method="users.info")

    status, answer, headers = await raw_intake(
        running, json.dumps(new_intake()).encode(), json_headers()
    )

    assert status == 503
    assert answer["error"] == "platform_unavailable"
    assert headers["Retry-After"] == "30"
    await settle(running)
    assert [c.method for c in calls_since(running, mark)] == ["users.info"]
    await assert_unchanged(running, before)


async def test_valid_intake_is_accepted(running: Icx) -> None:
    """The control for the cases above: the same request, done right, records and sends."""
    before, mark = await intake_baseline(running)
    status, answer = await running.intake(new_intake())
    assert status == 201, answer
    assert (await snapshot(running)).counts == {
        "interaction": before.counts["interaction"] + 1,
        "prompt": before.counts["prompt"] + 1,
        "response": 0,
        "opt_out": 0,
    }
    await running.slack.wait_for(
        lambda: [c for c in calls_since(running, mark) if c.method == "chat.postMessage"]
    )
