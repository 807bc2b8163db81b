"""Hostile input, generated (hypothesis): every HTTP endpoint through the real aiohttp server,
with payloads that are random, mutated from recorded ones, not UTF-8, nested deeper than any
parser likes, larger than allowed, or sent with the wrong content type; Slack's correctly
signed, Teams' without authentication (as in tests/test_teams_bad_input.py), intake's with the
right token, so that the checks behind the signature are what is exercised.

For every input:
- no 5xx: a hostile body is refused (4xx) or handled (2xx), never an error of icx's;
- nothing logged at ERROR, neither by icx nor by aiohttp ("Error handling request"), also
  from the work a request starts after its answer;
- nothing written, where nothing may be: for Slack, every payload comes from someone the
  stored prompt does not belong to; for Teams, taps too, and messages may store only the
  sender's conversation; for intake and webhooks, whatever is refused leaves every table as
  it was.

Bounded to stay quick (FUZZ_EXAMPLES per endpoint on SQLite, fewer on PostgreSQL) and
derandomized, so that CI runs the same examples every time; ICX_FUZZ_EXAMPLES=2000 explores
further, with fresh random examples."""

import copy
import json
import logging
import os
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bots.teams import cards
from tests import slack_requests as sr
from tests import teams_activities as ta
from tests import test_bad_input as slack_side
from tests import test_teams_bad_input as teams_side
from tests.conftest import API_TOKEN, PROVIDER, REQUESTER, TEAMS_PEOPLE, Icx, intake_body
from tests.db_rows import Rows, all_rows, sums_tables

EXPLORE = int(os.environ.get("ICX_FUZZ_EXAMPLES", "0"))
FUZZ_EXAMPLES = EXPLORE or 100
POSTGRES_EXAMPLES = EXPLORE or 15


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=not EXPLORE,
        database=None,
        # The server, database and log capture are set up once per test, not per example:
        # each example compares the tables before and after itself.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

STRANGER = "U0OTHER001"  # a workspace member, never the recipient of the stored prompt
TEAMS_STRANGER = TEAMS_PEOPLE[4]
NOT_IMPLEMENTED = 501
SLACK_LIMIT = 256 * 1024
TEAMS_LIMIT = 256 * 1024
INTAKE_LIMIT = 64 * 1024
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
]
# Where a mutation would only send icx's replies elsewhere (Slack signs response_url; a Teams
# token names the serviceUrl; a reply goes to the conversation and activity ids), not test how
# icx reads what it was sent.
PROTECTED = {
    ("response_url",),
    ("response_urls",),
    ("serviceUrl",),
    ("conversation",),
    ("conversation", "id"),
    ("id",),
}


# --- generating ------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "0", "-1", "4", "1e999", "icx_csat_4", "icx.csat", "U0REQ00001"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=16,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            if (*path, key) not in PROTECTED:
                found += _paths(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*path, index))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """The recorded payload with one to four things changed: a value replaced by any JSON,
    removed, wrapped in a list or an object, or a key added."""
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(payload) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(payload, path[:-1]), path[-1]
        how = draw(st.sampled_from(["replace", "delete", "wrap", "add"]))
        if how == "replace":
            parent[key] = draw(JSON_VALUES)
        elif how == "delete":
            del parent[key]
        elif how == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(JSON_VALUES)
    return payload


def nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


NESTED = st.builds(
    nested, st.integers(min_value=1, max_value=120_000), st.sampled_from(["list", "object"])
)


def oversized(limit: int) -> st.SearchStrategy[bytes]:
    return st.integers(min_value=limit - 64, max_value=limit + 64).map(lambda n: b"x" * n)


# A request: (body, content type).
Request = tuple[bytes, str]


def _form(payload: Any) -> bytes:
    return sr.form_body(payload)  # type: ignore[arg-type]


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


# --- watching --------------------------------------------------------------------------------


class Watch:
    """What one example did: the tables before it, and errors logged since it began."""

    def __init__(self, running: Icx, caplog: pytest.LogCaptureFixture) -> None:
        self.running = running
        self.caplog = caplog
        caplog.set_level(logging.INFO)
        self.before: Rows = {}

    async def begin(self) -> None:
        await self.settle()
        self.before = await all_rows(self.running.db)
        self.caplog.clear()

    async def settle(self) -> None:
        await self.running.server.runtime.tasks.drain(within=10)

    async def end(self, status: int, answer: str, may_change: set[str] | None = None) -> None:
        """may_change: the tables this input may write to; None: every one (a valid input)."""
        await self.settle()
        # 501 is Bot Framework's answer to an invoke a bot does not implement (as documented
        # in tests/test_teams_bad_input.py), not a failure.
        assert status < 500 or status == NOT_IMPLEMENTED, (status, answer[:300])
        errors = [
            f"{r.name}: {r.getMessage()}" for r in self.caplog.records if r.levelno >= logging.ERROR
        ]
        assert errors == [], errors
        if may_change is None:
            return
        after = await all_rows(self.running.db)
        changed = {t for t in after if after[t] != self.before.get(t)}
        assert changed <= may_change, f"wrote to {sorted(changed - may_change)}"

    async def post(
        self, path: str, body: bytes, content_type: str, **headers: str
    ) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type, **headers} if content_type else headers
        async with self.running.http.post(
            f"{self.running.url}{path}", data=body, headers=all_headers
        ) as r:
            return r.status, await r.text()


# --- Slack -----------------------------------------------------------------------------------


def _slack_bases(prompt: slack_side.Delivered, user: str) -> dict[str, tuple[dict[str, Any], str]]:
    """Recorded payloads, aimed at the stored prompt, as `user` would send them: (payload,
    how it travels: "form" for interactivity, "json" for events, "command" for commands)."""
    where = {"user": user, "channel": prompt.channel, "ts": prompt.ts}
    tap = {**where, "response_url": prompt.response_url}
    reaction = json.loads((sr.FIXTURES / "reaction_added.json").read_text())
    reaction["event"]["user"] = user
    shortcut = sr.fixture("message_action.json")
    shortcut["user"]["id"] = user
    shortcut["response_url"] = prompt.response_url
    command = dict(
        urllib.parse.parse_qsl(
            sr.slash_command("finance 30d", user=user, response_url=prompt.response_url).decode()
        )
    )
    ask = dict(urllib.parse.parse_qsl((sr.FIXTURES / "slash_command_ask.txt").read_text().strip()))
    ask.update(user_id=user, response_url=prompt.response_url)
    return {
        "csat": (sr.button_tap(prompt.prompt_id, "icx_csat_4", **tap), "form"),
        "ces": (sr.button_tap(prompt.prompt_id, "icx_ces_6", **tap), "form"),
        "snooze": (sr.button_tap(prompt.prompt_id, "icx_snooze", **tap), "form"),
        "change": (sr.button_tap(prompt.prompt_id, "icx_change_csat", **tap), "form"),
        "comment button": (sr.button_tap(prompt.prompt_id, "icx_comment", **tap), "form"),
        "reasons": (sr.reasons_tap(prompt.prompt_id, ["speed"], **tap), "form"),
        "comment form": (
            sr.comment_submission(
                prompt.prompt_id, **where, comment="Fine.", flags=["contact_consent"]
            ),
            "form",
        ),
        "shortcut": (shortcut, "form"),
        "reaction": (reaction, "json"),
        "score command": (command, "command"),
        "ask command": (ask, "command"),
    }


@st.composite
def slack_requests(draw: st.DrawFn, bases: dict[str, tuple[dict[str, Any], str]]) -> Request:
    kind = draw(
        st.sampled_from(
            ["mutated"] * 6 + ["random payload", "bytes", "nested", "oversized", "content type"]
        )
    )
    if kind == "mutated":
        base, travels = bases[draw(st.sampled_from(sorted(bases)))]
        payload = draw(mutated(base))
        if travels == "json":
            return _json(payload), "application/json"
        if travels == "command":
            fields = {
                str(k): v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()
            }
            return urllib.parse.urlencode(fields).encode(), CONTENT_TYPES[0]
        return _form(payload), CONTENT_TYPES[0]
    if kind == "random payload":
        value = draw(JSON_VALUES)
        if draw(st.booleans()):
            return _json(value), "application/json"
        return _form(value), CONTENT_TYPES[0]
    if kind == "bytes":
        return draw(st.binary(max_size=512)), draw(st.sampled_from(CONTENT_TYPES))
    if kind == "nested":
        text = draw(NESTED)
        if draw(st.booleans()):
            return text.encode(), "application/json"
        return b"payload=" + urllib.parse.quote(text).encode(), CONTENT_TYPES[0]
    if kind == "oversized":
        return draw(oversized(SLACK_LIMIT)), CONTENT_TYPES[0]
    base, _ = bases[draw(st.sampled_from(sorted(bases)))]
    body = draw(st.sampled_from([_form(base), _json(base)]))
    return body, draw(st.sampled_from(CONTENT_TYPES))


async def _slack_stranger_fuzz(
    running: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
    prompt: slack_side.Delivered,
) -> None:
    watch = Watch(running, caplog)
    body, content_type = data.draw(slack_requests(_slack_bases(prompt, STRANGER)))
    await watch.begin()
    status, answer = await watch.post("/slack/events", body, content_type, **sr.sign(body))
    # Nobody here may answer the stored prompt, and no department has help channels or
    # members: whatever a payload says, nothing may be written.
    await watch.end(status, answer, may_change=set())


@ON_SQLITE
@fuzz(FUZZ_EXAMPLES)
@given(data=st.data())
async def test_signed_slack_payloads_from_anyone_but_the_recipient(
    slack_prompt: slack_side.Delivered,
    running: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    await _slack_stranger_fuzz(running, caplog, data, slack_prompt)


@ON_SQLITE
@fuzz(FUZZ_EXAMPLES)
@given(data=st.data())
async def test_signed_slack_payloads_from_the_recipient_never_fail(
    slack_prompt: slack_side.Delivered,
    running: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    """The recipient's own taps, changed: some stay valid and are recorded, the rest refused;
    none reaches beyond the prompt's own rows."""
    watch = Watch(running, caplog)
    bases = _slack_bases(slack_prompt, REQUESTER)
    payload, travels = bases[data.draw(st.sampled_from(sorted(bases)))]
    if travels != "form":
        payload, travels = bases["csat"]
    body = _form(data.draw(mutated(payload)))
    await watch.begin()
    status, answer = await watch.post("/slack/events", body, CONTENT_TYPES[0], **sr.sign(body))
    await watch.end(status, answer, may_change={"prompt", "response", "opt_out", *sums_tables()})


@pytest.fixture
async def slack_prompt(running: Icx) -> slack_side.Delivered:
    """A prompt delivered to the requester and answered once (so changes have a row)."""
    prompt = await slack_side.delivered(running, "FIN-FUZZ")
    await slack_side.answered(running, prompt, 3)
    return prompt


# --- Teams -----------------------------------------------------------------------------------


@pytest.fixture
async def teams_prompt(running_teams: Icx) -> tuple[str, str, str]:
    prompt_id, conversation, message_id = await teams_side.delivered(running_teams, "FIN-TFUZZ")
    return prompt_id, conversation, message_id


def _teams_bases(running: Icx, prompt: tuple[str, str, str]) -> dict[str, dict[str, Any]]:
    connector = running.connector
    assert connector is not None
    service = connector.service_url
    user_id, aad, _, _ = TEAMS_STRANGER
    prompt_id, conversation, message_id = prompt

    def tap(verb: str, data: dict[str, Any]) -> dict[str, Any]:
        # The stranger taps a copy of the requester's card (in their own chat, say).
        return ta.card_action(
            service,
            verb,
            data,
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=conversation,
            reply_to_id=message_id,
        )

    personal = f"a:1personal-{user_id.removeprefix('29:')}"
    return {
        "csat": tap(cards.CSAT, {"prompt": prompt_id, "value": 4}),
        "ces": tap(cards.CES, {"prompt": prompt_id, "value": 6}),
        "details": tap(
            cards.DETAILS,
            {
                "prompt": prompt_id,
                "reasons": "speed",
                "comment": "Fine.",
                "contact_consent": "true",
            },
        ),
        "snooze": tap(cards.SNOOZE, {"prompt": prompt_id}),
        "message": ta.message(
            service,
            "icx-score finance 30d",
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=personal,
        ),
        "comments": ta.message(
            service,
            "icx-score finance comments",
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=personal,
        ),
        "mention": ta.channel_mention(service, "icx-score", aad_object_id=aad, user_id=user_id),
        "installed": ta.installed(
            service, aad_object_id=aad, user_id=user_id, conversation_id=personal
        ),
        "team added": ta.team_added(service),
    }


@st.composite
def teams_requests(draw: st.DrawFn, bases: dict[str, dict[str, Any]]) -> Request:
    kind = draw(
        st.sampled_from(
            ["mutated"] * 6 + ["random", "bytes", "nested", "oversized", "content type"]
        )
    )
    if kind == "mutated":
        activity = draw(mutated(bases[draw(st.sampled_from(sorted(bases)))]))
        return _json(activity), "application/json"
    if kind == "random":
        return _json(draw(JSON_VALUES)), "application/json"
    if kind == "bytes":
        return draw(st.binary(max_size=512)), "application/json"
    if kind == "nested":
        return draw(NESTED).encode(), "application/json"
    if kind == "oversized":
        return draw(oversized(TEAMS_LIMIT)), "application/json"
    activity = bases[draw(st.sampled_from(sorted(bases)))]
    return _json(activity), draw(st.sampled_from(CONTENT_TYPES))


async def _teams_fuzz(
    running: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
    prompt: tuple[str, str, str],
) -> None:
    watch = Watch(running, caplog)
    body, content_type = data.draw(teams_requests(_teams_bases(running, prompt)))
    await watch.begin()
    status, answer = await watch.post("/api/messages", body, content_type)
    # A message or an install stores where to reach its sender; a tap by someone the prompt
    # was not sent to changes nothing; a refused body nothing at all.
    await watch.end(status, answer, may_change={"teams_conversation"} if status < 400 else set())


@ON_SQLITE
@fuzz(FUZZ_EXAMPLES)
@given(data=st.data())
async def test_teams_activities(
    teams_prompt: tuple[str, str, str],
    running_teams: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    await _teams_fuzz(running_teams, caplog, data, teams_prompt)


# --- intake ----------------------------------------------------------------------------------

INTAKE_BASE = intake_body(
    "FIN-FUZZ", requester={"slack_user_id": STRANGER}, provider={"slack_user_id": PROVIDER}
)


@st.composite
def intake_requests(draw: st.DrawFn) -> Request:
    kind = draw(
        st.sampled_from(
            ["mutated"] * 6 + ["random", "bytes", "nested", "oversized", "content type"]
        )
    )
    if kind == "mutated":
        return _json(draw(mutated(INTAKE_BASE))), "application/json"
    if kind == "random":
        return _json(draw(JSON_VALUES)), "application/json"
    if kind == "bytes":
        return draw(st.binary(max_size=512)), "application/json"
    if kind == "nested":
        return draw(NESTED).encode(), "application/json"
    if kind == "oversized":
        return draw(oversized(INTAKE_LIMIT)), "application/json"
    return _json(INTAKE_BASE), draw(st.sampled_from(CONTENT_TYPES[1:]))


async def _intake_fuzz(running: Icx, caplog: pytest.LogCaptureFixture, data: st.DataObject) -> None:
    watch = Watch(running, caplog)
    body, content_type = data.draw(intake_requests())
    await watch.begin()
    status, answer = await watch.post(
        "/api/v1/interactions", body, content_type, Authorization=f"Bearer {API_TOKEN}"
    )
    if status in (200, 201):
        # Still a valid request: let the outbox deliver what it scheduled before the next one.
        prompt = json.loads(answer)["prompt"]
        if prompt["status"] == "scheduled":
            await running.sent_prompt(prompt["id"])
    await watch.end(status, answer, may_change=None if status < 400 else set())


@ON_SQLITE
@fuzz(FUZZ_EXAMPLES)
@given(data=st.data())
async def test_intake_bodies_with_the_right_token(
    running: Icx, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await _intake_fuzz(running, caplog, data)


# --- helpdesk webhooks -----------------------------------------------------------------------


@ON_SQLITE
@fuzz(FUZZ_EXAMPLES // 2)
@given(
    tool=st.sampled_from(["jira", "servicenow", "zendesk", "JIRA", "other", "..", "%2e%2e"])
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=20),
    body=st.one_of(JSON_VALUES.map(_json), st.binary(max_size=256), NESTED.map(str.encode)),
    content_type=st.sampled_from(CONTENT_TYPES),
)
async def test_helpdesk_webhooks_that_are_not_configured(
    running: Icx, caplog: pytest.LogCaptureFixture, tool: str, body: bytes, content_type: str
) -> None:
    watch = Watch(running, caplog)
    await watch.begin()
    status, answer = await watch.post(f"/api/v1/webhooks/{tool}", body, content_type)
    await watch.end(status, answer, may_change=set())


# --- the same on PostgreSQL, fewer ---------------------------------------------------------------


@ON_POSTGRES
@fuzz(POSTGRES_EXAMPLES)
@given(data=st.data())
async def test_slack_on_postgresql(
    slack_prompt: slack_side.Delivered,
    running: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    await _slack_stranger_fuzz(running, caplog, data, slack_prompt)


@ON_POSTGRES
@fuzz(POSTGRES_EXAMPLES)
@given(data=st.data())
async def test_intake_on_postgresql(
    running: Icx, caplog: pytest.LogCaptureFixture, data: st.DataObject
) -> None:
    await _intake_fuzz(running, caplog, data)


@ON_POSTGRES
@fuzz(POSTGRES_EXAMPLES)
@given(data=st.data())
async def test_teams_on_postgresql(
    teams_prompt: tuple[str, str, str],
    running_teams: Icx,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    await _teams_fuzz(running_teams, caplog, data, teams_prompt)


# --- what fuzzing found, kept as plain examples ---------------------------------------------------


def _tap_with(prompt: slack_side.Delivered, change: Callable[[dict[str, Any]], None]) -> bytes:
    payload = prompt.tap("icx_csat_4", user=STRANGER)
    change(payload)
    return _form(payload)


def _reasons_without_values(prompt: slack_side.Delivered) -> bytes:
    payload = sr.reasons_tap(
        prompt.prompt_id,
        ["speed"],
        user=REQUESTER,
        channel=prompt.channel,
        ts=prompt.ts,
        response_url=prompt.response_url,
    )
    del payload["actions"][0]["selected_options"][0]["value"]
    return _form(payload)


def _form_without_view_type(prompt: slack_side.Delivered) -> bytes:
    payload = slack_side.comment_form(prompt)
    del payload["view"]["type"]
    return _form(payload)


def _comment_button_without_trigger(prompt: slack_side.Delivered) -> bytes:
    payload = prompt.tap("icx_comment")
    del payload["trigger_id"]
    return _form(payload)


# Each answered 500 before (Bolt or a listener indexing into what it trusted); now 400.
SLACK_FOUND: dict[str, Callable[[slack_side.Delivered], bytes]] = {
    "JSON nested 100,000 deep": lambda p: nested(100_000, "list").encode(),
    "payload nested 40,000 deep": lambda p: b"payload=" + nested(40_000, "object").encode(),
    "no actions": lambda p: _tap_with(p, lambda t: t.update(actions=[])),
    "user a list": lambda p: _tap_with(p, lambda t: t.update(user=[STRANGER])),
    "action id a number": lambda p: _tap_with(p, lambda t: t["actions"][0].update(action_id=4)),
    "prompt id an object": lambda p: _tap_with(p, lambda t: t["actions"][0].update(value={})),
    "a reason without its value": _reasons_without_values,
    "a form without its view type": _form_without_view_type,
    "the comment button without a trigger id": _comment_button_without_trigger,
}


@pytest.mark.parametrize("case", list(SLACK_FOUND))
async def test_signed_slack_payloads_of_the_wrong_shape_are_refused_with_400(
    slack_prompt: slack_side.Delivered, running: Icx, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    watch = Watch(running, caplog)
    body = SLACK_FOUND[case](slack_prompt)
    content_type = "application/json" if body.startswith(b"[") else CONTENT_TYPES[0]
    await watch.begin()

    status, answer = await watch.post("/slack/events", body, content_type, **sr.sign(body))

    assert (status, json.loads(answer)) == (400, slack_side.MALFORMED)
    await watch.end(status, answer, may_change=set())


async def test_a_comment_that_is_not_text_is_refused_in_the_form(
    slack_prompt: slack_side.Delivered, running: Icx, caplog: pytest.LogCaptureFixture
) -> None:
    watch = Watch(running, caplog)
    for value in ({"text": "Quick."}, ["Quick."], 42):
        form = slack_side.comment_form(slack_prompt)
        form["view"]["state"]["values"]["comment"]["comment"]["value"] = value
        await watch.begin()

        status, answer = await watch.post(
            "/slack/events", body := _form(form), CONTENT_TYPES[0], **sr.sign(body)
        )

        assert status == 200
        assert json.loads(answer) == {
            "response_action": "errors",
            "errors": {"comment": slack_side.MALFORMED_FORM},
        }
        await watch.end(status, answer, may_change=set())


TEAMS_FOUND: dict[str, Callable[[dict[str, Any]], Any]] = {
    "conversation id an object": lambda a: a["conversation"].update(id={"id": "x"}),
    "activity id a number": lambda a: a.update(id=17),
    "sender id a list": lambda a: a["from"].update(id=["29:x"]),
    "text an object": lambda a: a.update(text={"text": "icx-score"}),
    "an entity that is null": lambda a: a.update(entities=[None]),
}


async def test_teams_activities_of_the_wrong_shape_are_refused_with_400(
    teams_prompt: tuple[str, str, str], running_teams: Icx, caplog: pytest.LogCaptureFixture
) -> None:
    """msrest turned these values into strings, and the reply went to a conversation that
    does not exist: a 500. A body nested too deep failed in the parser: a 500 too."""
    watch = Watch(running_teams, caplog)
    bases = _teams_bases(running_teams, teams_prompt)
    bodies = {"nested 40,000 deep": nested(40_000, "object").encode()}
    for case, change in TEAMS_FOUND.items():
        activity = copy.deepcopy(bases["message"])
        change(activity)
        bodies[case] = _json(activity)
    for case, body in bodies.items():
        await watch.begin()

        status, answer = await watch.post("/api/messages", body, "application/json")

        assert (status, json.loads(answer)) == (400, teams_side.MALFORMED), case
        await watch.end(status, answer, may_change=set())
