"""Attacks on the trust boundaries, through the real server: every one refused, nothing written,
and no answer that tells whether a given person answered (compared byte for byte).

Already covered elsewhere, and not repeated here:
- tests/test_bad_input.py: badly signed, stale (±301 s), modified and unsigned Slack taps; taps
  on someone else's prompt and comment forms for it; intake without the right token (none,
  wrong, other schemes) and every malformed intake body;
- tests/test_teams_bad_input.py: card taps without a valid Bot Framework token (no header,
  garbage, unpublished key, alg none, expired, other app, other issuer or service URL), and
  malformed activities;
- tests/test_leader_comments.py: the comments refusal, in core and on both platforms.

Added here: a recorded Slack request replayed after the five-minute window; signatures over
bodies changed to act as someone else; Teams messages and installs (not only taps) with forged
tokens; intake refusals that must not depend on what is stored; and the refusals for someone
else's prompt or a department's comments compared between "the person answered" and "did
not", "the department has comments" and "has none"."""

import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from bots.teams import cards
from core.departments import Company
from tests import slack_requests as sr
from tests import teams_activities as ta
from tests import test_bad_input as slack_side
from tests import test_teams_bad_input as teams_side
from tests.conftest import API_TOKEN, LEADER, REQUESTER, TEAMS_PEOPLE, Icx, intake_body
from tests.db_rows import all_rows
from tests.test_leader_comments import TEN_WITH_THREE_COMMENTS, _company, add_comments
from tests.test_teams_bad_input import authenticated  # noqa: F401  (a fixture used below)

STRANGER = "U0OTHER001"
SIGNATURE_ERROR = {"error": "invalid or stale Slack signature"}
WINDOW = 300  # seconds (GUIDE §7)


@pytest.fixture
def company() -> Company:
    """Finance with leaders (Slack LEADER; Teams people 2 and 3), as in test_leader_comments,
    and no channels: no digest is posted while these tests compare the tables."""
    return _company(channels=False)


async def settle(running: Icx) -> None:
    await running.server.runtime.tasks.drain(within=5)


async def post_slack(running: Icx, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    all_headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    async with running.http.post(
        f"{running.url}/slack/events", data=body, headers=all_headers
    ) as r:
        return r.status, await r.read()


def later(seconds: float) -> Any:
    """The wall clock `seconds` from now (Slack's timestamps are wall-clock seconds); the event
    loop's monotonic clock, and so every timeout, runs on unchanged."""
    return time_machine.travel(datetime.now(UTC) + timedelta(seconds=seconds), tick=True)


# --- Slack: replays --------------------------------------------------------------------------


async def test_a_recorded_tap_replayed_after_the_window_is_refused(running: Icx) -> None:
    prompt = await slack_side.delivered(running)
    recorded = sr.form_body(prompt.tap("icx_csat_4"))
    recorded_headers = sr.sign(recorded)
    status, _ = await post_slack(running, recorded, recorded_headers)
    assert status == 200
    await slack_side.answered(running, prompt, 2)  # the person changes their mind
    before, mark = await all_rows(running.db), len(running.slack.calls)

    with later(WINDOW + 1):
        status, body = await post_slack(running, recorded, recorded_headers)

    assert (status, json.loads(body)) == (401, SIGNATURE_ERROR)
    await settle(running)
    assert running.slack.calls[mark:] == []
    assert await all_rows(running.db) == before
    assert [r.satisfaction for r in await slack_side.responses(running)] == [2]


async def test_a_leaders_comments_command_replayed_after_the_window_shows_nothing(
    running: Icx,
) -> None:
    """Someone who captured a leader's request cannot read the comments with it later."""
    await add_comments(running.db, "finance", TEN_WITH_THREE_COMMENTS, running.clock.now)
    running.clock.advance(hours=1)
    recorded = sr.slash_command(
        "finance comments", user=LEADER, response_url=running.slack.response_url()
    )
    recorded_headers = sr.sign(recorded)
    status, body = await post_slack(running, recorded, recorded_headers)
    assert status == 200 and b"Quick!" in body  # the leader's own request

    with later(WINDOW + 1):
        status, body = await post_slack(running, recorded, recorded_headers)

    assert (status, json.loads(body)) == (401, SIGNATURE_ERROR)


async def test_a_recorded_comment_replayed_after_the_window_is_refused(running: Icx) -> None:
    prompt = await slack_side.delivered(running)
    await slack_side.answered(running, prompt)
    recorded = sr.form_body(slack_side.comment_form(prompt, comment="First thoughts."))
    recorded_headers = sr.sign(recorded)
    assert (await post_slack(running, recorded, recorded_headers))[0] == 200
    changed = slack_side.comment_form(prompt, comment="On reflection, fine.", flags=[])
    assert (await running.interact(changed))[0] == 200
    await settle(running)
    before = await all_rows(running.db)

    with later(WINDOW + 1):
        status, body = await post_slack(running, recorded, recorded_headers)

    assert (status, json.loads(body)) == (401, SIGNATURE_ERROR)
    assert await all_rows(running.db) == before
    (response,) = await slack_side.responses(running)
    assert (response.comment, response.contact_consent) == ("On reflection, fine.", False)


# --- Slack: signed, then changed to act as someone else ------------------------------------------


def _form_with(body: bytes, **changes: str) -> bytes:
    fields = dict(urllib.parse.parse_qsl(body.decode()))
    fields.update(changes)
    return urllib.parse.urlencode(fields).encode()


def _payload_with(body: bytes, change: Any) -> bytes:
    payload = json.loads(dict(urllib.parse.parse_qsl(body.decode()))["payload"])
    change(payload)
    return sr.form_body(payload)


async def test_a_body_changed_after_signing_to_act_as_someone_else_is_refused(
    running: Icx,
) -> None:
    """Each original is signed and would be accepted; each change would make it act for
    another person: the leader, the recipient of the prompt, or a different comment."""
    await add_comments(running.db, "finance", TEN_WITH_THREE_COMMENTS, running.clock.now)
    running.clock.advance(hours=1)
    prompt = await slack_side.delivered(running)
    await slack_side.answered(running, prompt)
    url = running.slack.response_url()
    command = sr.slash_command("finance comments", user=REQUESTER, response_url=url)
    stranger_tap = sr.form_body(prompt.tap("icx_csat_1", user=STRANGER))
    form = sr.form_body(slack_side.comment_form(prompt, comment="Kind."))
    reaction = json.loads((sr.FIXTURES / "reaction_added.json").read_text())
    event = json.dumps(reaction).encode()

    def as_recipient(payload: dict[str, Any]) -> None:
        payload["user"]["id"] = REQUESTER

    def other_comment(payload: dict[str, Any]) -> None:
        values = payload["view"]["state"]["values"]
        values["comment"]["comment"]["value"] = "Terrible, call my manager."

    cases: dict[str, tuple[bytes, bytes, str]] = {
        "command, user changed to a leader": (
            command,
            _form_with(command, user_id=LEADER),
            "application/x-www-form-urlencoded",
        ),
        "tap, user changed to the recipient": (
            stranger_tap,
            _payload_with(stranger_tap, as_recipient),
            "application/x-www-form-urlencoded",
        ),
        "comment form, comment changed": (
            form,
            _payload_with(form, other_comment),
            "application/x-www-form-urlencoded",
        ),
        "event, reacting user changed": (
            event,
            event.replace(b'"user": "U0PROV0001"', b'"user": "U0LEADER01"'),
            "application/json",
        ),
    }
    before, mark = await all_rows(running.db), len(running.slack.calls)

    for case, (original, changed, content_type) in cases.items():
        assert changed != original, case
        headers = {**sr.sign(original), "Content-Type": content_type}
        status, body = await post_slack(running, changed, headers)
        assert (status, json.loads(body)) == (401, SIGNATURE_ERROR), case

    await settle(running)
    assert running.slack.calls[mark:] == []
    assert await all_rows(running.db) == before


# --- Teams: messages and installs with forged tokens ---------------------------------------------

TEAMS_LEADER = TEAMS_PEOPLE[2]  # a finance leader by Entra object id (test_leader_comments)


async def test_a_teams_message_or_install_without_a_valid_token_is_refused(
    authenticated: Icx,  # noqa: F811
) -> None:
    """A forged message as a leader would be answered with the department's comments; a
    forged install would store where to write to the person (and their email). With an app id
    set, neither gets past the token check, in any of the ways a token can be wrong."""
    running = authenticated
    connector = teams_side.standin(running)
    await add_comments(running.db, "finance", TEN_WITH_THREE_COMMENTS, running.clock.now)
    running.clock.advance(hours=1)
    user_id, aad, _, _ = TEAMS_LEADER
    personal = f"a:1personal-{user_id.removeprefix('29:')}"
    activities = {
        "comments command": lambda: ta.message(
            connector.service_url,
            "icx-score finance comments",
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=personal,
        ),
        "install": lambda: ta.installed(
            connector.service_url, aad_object_id=aad, user_id=user_id, conversation_id=personal
        ),
        "team added": lambda: ta.team_added(connector.service_url, aad_object_id=aad),
    }
    before, calls = await all_rows(running.db), len(connector.calls)

    for what, make in activities.items():
        for case, (headers, says) in teams_side.UNAUTHENTICATED.items():
            status, answer = await running.teams_post(make(), headers(connector))
            assert status == 401, (what, case, answer)
            assert answer["error"].startswith(says), (what, case, answer)

    await settle(running)
    assert connector.calls[calls:] == []
    assert await all_rows(running.db) == before


# --- intake: a refusal that does not depend on what is stored ----------------------------------


async def _intake_raw(
    running: Icx, body: bytes, headers: dict[str, str], query: str = ""
) -> tuple[int, bytes, str | None]:
    async with running.http.post(
        f"{running.url}/api/v1/interactions{query}", data=body, headers=headers
    ) as r:
        return r.status, await r.read(), r.headers.get("WWW-Authenticate")


async def test_intake_without_the_token_answers_the_same_whatever_is_stored(
    running: Icx,
) -> None:
    """Without the token, nobody learns whether a ticket is known to icx, or whether its
    requester answered: the 401 is the same bytes for all of them."""
    answered_prompt = await slack_side.delivered(running, "FIN-ANSWERED")
    await slack_side.answered(running, answered_prompt)
    status, answer = await running.intake(
        intake_body("FIN-WAITING", requester={"slack_user_id": "U0ZH000001"})
    )
    assert status == 201
    await running.sent_prompt(answer["prompt"]["id"])
    await settle(running)
    before = await all_rows(running.db)
    bodies = {
        "answered ticket": intake_body("FIN-ANSWERED"),
        "unanswered ticket": intake_body("FIN-WAITING"),
        "unknown ticket": intake_body("FIN-NEVER-SEEN"),
        "invalid body": {"department": 7},
    }
    wrong = [
        {"Content-Type": "application/json", "Authorization": "Bearer wrong-token"},
        {"Content-Type": "application/json", "X-Api-Key": API_TOKEN},
        {"Content-Type": "application/json", "Authorization": f"bearer  {API_TOKEN}"},
        {"Content-Type": "text/plain"},
    ]
    answers = set()
    for headers in wrong:
        for body in bodies.values():
            answers.add(await _intake_raw(running, json.dumps(body).encode(), headers))
        # The token in the query string is not a token.
        answers.add(
            await _intake_raw(
                running,
                json.dumps(bodies["answered ticket"]).encode(),
                {"Content-Type": "application/json"},
                f"?token={API_TOKEN}&access_token={API_TOKEN}",
            )
        )

    assert len(answers) == 1, answers
    ((status, _, challenge),) = answers
    assert (status, challenge) == (401, 'Bearer realm="icx"')
    assert await all_rows(running.db) == before


# --- someone else's prompt: the same refusal whether its recipient answered -----------------------


async def _stranger_sees(running: Icx, prompt: slack_side.Delivered) -> tuple[Any, ...]:
    """Everything a stranger gets back from tapping and from submitting a comment form on the
    prompt: HTTP answers as bytes, and what was posted to their response_url."""
    mark = len(running.slack.calls)
    tap = await post_slack(
        running,
        body := sr.form_body(prompt.tap("icx_csat_1", user=STRANGER)),
        sr.sign(body),
    )
    form = await post_slack(
        running,
        body := sr.form_body(slack_side.comment_form(prompt, user=STRANGER, comment="Let me see.")),
        sr.sign(body),
    )
    await running.slack.wait_for(
        lambda: [c for c in running.slack.calls[mark:] if c.method == "response_url"]
    )
    await settle(running)
    posted = [
        json.dumps(c.payload, sort_keys=True)
        for c in running.slack.calls[mark:]
        if c.method == "response_url"
    ]
    return tap, form, tuple(posted)


async def test_a_stranger_cannot_tell_whether_the_recipient_answered_in_slack(
    running: Icx,
) -> None:
    answered_prompt = await slack_side.delivered(running, "FIN-1")
    await slack_side.answered(running, answered_prompt)
    # Another recipient, not yet answered (Omar's own prompt is not the stranger's either).
    status, answer = await running.intake(
        intake_body("FIN-2", requester={"slack_user_id": "U0ZH000001"})
    )
    assert status == 201
    waiting = await running.sent_prompt(answer["prompt"]["id"])
    assert waiting.channel_id and waiting.message_ts
    unanswered_prompt = slack_side.Delivered(
        waiting.id, waiting.channel_id, waiting.message_ts, running.slack.response_url()
    )
    await settle(running)
    before = await all_rows(running.db)

    seen_answered = await _stranger_sees(running, answered_prompt)
    seen_unanswered = await _stranger_sees(running, unanswered_prompt)

    assert seen_answered == seen_unanswered
    assert seen_answered[0][0] == 200 and seen_answered[1][0] == 200
    assert await all_rows(running.db) == before


async def test_a_stranger_cannot_tell_whether_the_recipient_answered_in_teams(
    running_teams: Icx,
) -> None:
    running, connector = running_teams, teams_side.standin(running_teams)
    prompt_id, conversation, message_id = await teams_side.delivered(running, "FIN-T1")
    user_id, aad, _, _ = TEAMS_PEOPLE[5]

    async def stranger_taps() -> tuple[int, Any]:
        activity = ta.card_action(
            connector.service_url,
            cards.CSAT,
            {"prompt": prompt_id, "value": 1},
            aad_object_id=aad,
            user_id=user_id,
            conversation_id=conversation,
            reply_to_id=message_id,
        )
        return await running.teams_post(activity)

    before_answer = await stranger_taps()
    status, _ = await running.teams_post(
        teams_side.tap(
            connector, conversation, message_id, cards.CSAT, {"prompt": prompt_id, "value": 4}
        )
    )
    assert status == 200
    await settle(running)
    before = await all_rows(running.db)

    after_answer = await stranger_taps()

    assert json.dumps(after_answer, sort_keys=True) == json.dumps(before_answer, sort_keys=True)
    assert after_answer[0] == 200
    assert await all_rows(running.db) == before


# --- a department's comments: the same refusal whether there are any -----------------------------


async def test_a_non_leader_cannot_tell_whether_a_department_has_comments(running: Icx) -> None:
    async def ask(user: str) -> tuple[int, bytes]:
        body = sr.slash_command(
            "finance comments", user=user, response_url=running.slack.response_url()
        )
        return await post_slack(running, body, sr.sign(body))

    an_hour_ago = running.clock.now - timedelta(hours=1)
    seen = {"none": await ask(REQUESTER)}
    await add_comments(running.db, "finance", ["Just one."], an_hour_ago)
    seen["one, below the minimum"] = await ask(REQUESTER)
    await add_comments(running.db, "finance", TEN_WITH_THREE_COMMENTS, an_hour_ago)
    seen["enough"] = await ask(REQUESTER)
    seen["another department's leader"] = await ask("U0ITLEAD01")

    assert len(set(seen.values())) == 1, seen
    status, body = seen["enough"]
    assert status == 200 and b"Comments are shown only to the department's leaders." in body
    leader = await ask(LEADER)
    assert b"Just one." in leader[1]  # the control: the leader does see them
