"""`icx forget` (GUIDE §6): a person's answers, prompts, interactions, opt-out and stored
references go, in one transaction; everyone else's stay exactly as they were, the daily sums
behind the scores lose exactly what the person added, and the comment is never printed.

The data is made the way it arrives: intake, delivery and taps through the real server, on
Slack and on Teams."""

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bots.standin.slack_web_api import SlackStandIn
from bots.teams import cards
from core import forget as erasure
from core.forget import ForgetError, ForgetReport, forget, resolve_email
from core.identity import Keyer
from storage import aggregates
from storage.db import Database
from storage.models import Dispatch, Interaction, Prompt, Response, TeamsConversation
from tests import test_bad_input as slack_side
from tests import test_teams_bad_input as teams_side
from tests.conftest import (
    API_TOKEN,
    REQUESTER,
    SECRET_KEY,
    TEAMS_REQUESTER,
    Icx,
    intake_body,
)
from tests.db_rows import Rows, all_rows

OMAR = "U0OTHER001"  # a colleague Mia helped
SECRET_COMMENT = "The reimbursement took five weeks - Mia"
MIA_KEY = Keyer(SECRET_KEY).key("slack", REQUESTER)
TEAMS_AAD = TEAMS_REQUESTER[1]
TEAMS_EMAIL = TEAMS_REQUESTER[3]


@dataclass(frozen=True)
class World:
    mia_prompt: str
    omar_prompt: str
    teams_prompt: str


async def _settle(running: Icx) -> None:
    await running.server.runtime.tasks.drain(within=5)


async def build(running: Icx) -> World:
    """Mia (Slack) answers low, comments, consents to contact and snoozes; a second interaction
    for her is skipped by the cooldown; Omar, whom Mia helped, answers; a Teams colleague
    answers; a low-answer alert about Mia's answer was claimed."""
    mia = await slack_side.delivered(running, "FIN-MIA")
    await slack_side.answered(running, mia, 2)
    form = slack_side.comment_form(mia, comment=SECRET_COMMENT, flags=["contact_consent"])
    status, text = await running.interact(form)
    assert (status, text) == (200, ""), text
    status, _ = await running.interact(mia.tap("icx_snooze"))
    assert status == 200
    status, answer = await running.intake(intake_body("FIN-MIA-AGAIN"))
    assert (status, answer["prompt"]["status"]) == (201, "skipped"), answer

    status, answer = await running.intake(
        intake_body(
            "FIN-OMAR",
            requester={"slack_user_id": OMAR},
            provider={"slack_user_id": REQUESTER},
        )
    )
    assert status == 201, answer
    omar_prompt = await running.sent_prompt(answer["prompt"]["id"])
    assert omar_prompt.channel_id and omar_prompt.message_ts
    omar = slack_side.Delivered(
        omar_prompt.id, omar_prompt.channel_id, omar_prompt.message_ts, mia.response_url
    )
    status, _ = await running.interact(omar.tap("icx_csat_5", user=OMAR))
    assert status == 200

    connector = teams_side.standin(running)
    teams_prompt, conversation, message_id = await teams_side.delivered(running, "FIN-T1")
    activity = teams_side.tap(
        connector, conversation, message_id, cards.CSAT, {"prompt": teams_prompt, "value": 4}
    )
    status, _ = await running.teams_post(activity)
    assert status == 200

    now = running.clock()
    async with running.db.transaction() as s:
        s.add(
            Dispatch(
                kind="low_alert",
                subject=mia.prompt_id,
                period="",
                channel="slack:C0FINALERT",
                status="posted",
                created_at=now,
                posted_at=now,
            )
        )
    await _settle(running)
    return World(mia.prompt_id, omar.prompt_id, teams_prompt)


def _without(rows: Rows, table: str, keep: Any) -> list[dict[str, Any]]:
    return [r for r in rows[table] if keep(r)]


async def _sums_match_raw_rows(db: Database) -> None:
    async with db.session() as s:
        assert await aggregates.stored(s) == await aggregates.recount(s)


async def test_forgetting_a_slack_person_removes_them_and_nothing_else(running_teams: Icx) -> None:
    running = running_teams
    icx = running.server.runtime.icx
    world = await build(running)
    before = await all_rows(running.db)
    assert any(r["comment"] == SECRET_COMMENT for r in before["response"])
    assert [r["respondent_key"] for r in before["opt_out"]] == [MIA_KEY]

    dry = await forget(icx, [erasure.slack_user(REQUESTER)], dry_run=True)

    assert dry == ForgetReport(
        responses=1,
        prompts=2,  # the answered one and the one the cooldown skipped
        interactions=2,
        opt_outs=1,
        teams_conversations=0,
        provider_references=1,  # Omar's interaction named Mia as provider
        alert_records=1,
    )
    assert await all_rows(running.db) == before, "a dry run changed something"

    report = await forget(icx, [erasure.slack_user(REQUESTER)])

    assert report == dry
    after = await all_rows(running.db)
    mia_interactions = {
        r["interaction_id"] for r in before["prompt"] if r["recipient_key"] == MIA_KEY
    }
    assert after["response"] == _without(
        before, "response", lambda r: r["respondent_key"] != MIA_KEY
    )
    assert after["prompt"] == _without(before, "prompt", lambda r: r["recipient_key"] != MIA_KEY)
    assert after["opt_out"] == []
    assert after["dispatch"] == []
    assert after["teams_conversation"] == before["teams_conversation"]
    # Omar's interaction stays, without the reference to Mia; nothing else in it changed.
    expected = [
        {**r, "provider_ref": None} if r["provider_ref"] == f"slack:{REQUESTER}" else r
        for r in before["interaction"]
        if r["id"] not in mia_interactions
    ]
    assert after["interaction"] == expected
    assert [r["requester_key"] for r in after["interaction"]].count(MIA_KEY) == 0
    assert world.omar_prompt in {r["prompt_id"] for r in after["response"]}
    assert world.teams_prompt in {r["prompt_id"] for r in after["response"]}
    # Nothing anywhere still holds her key, her user id or her comment.
    dumped = repr(after)
    for trace in (MIA_KEY, REQUESTER, SECRET_COMMENT, world.mia_prompt):
        assert trace not in dumped, trace
    await _sums_match_raw_rows(running.db)

    # Forgetting again finds nothing.
    assert (await forget(icx, [erasure.slack_user(REQUESTER)])).total == 0


async def test_forgetting_by_email_finds_the_teams_person(running_teams: Icx) -> None:
    running = running_teams
    icx = running.server.runtime.icx
    world = await build(running)
    before = await all_rows(running.db)
    teams_key = Keyer(SECRET_KEY).key("teams", TEAMS_AAD)

    # The address in capitals: emails are matched without regard to case.
    resolution = await resolve_email(icx, TEAMS_EMAIL.upper())

    assert resolution.identities == (erasure.Identity("teams", TEAMS_AAD),)
    assert resolution.notes[0].startswith("Slack: no active member with this email")
    assert resolution.notes[1] == f"Teams: {TEAMS_AAD}"

    report = await forget(icx, list(resolution.identities), [TEAMS_EMAIL.upper()])

    assert report == ForgetReport(
        responses=1, prompts=1, interactions=1, teams_conversations=1, alert_records=0
    )
    after = await all_rows(running.db)
    assert after["teams_conversation"] == []
    assert world.teams_prompt not in {r["id"] for r in after["prompt"]}
    assert teams_key not in repr(after) and TEAMS_AAD not in repr(after)
    # Mia and Omar are untouched.
    assert after["response"] == _without(
        before, "response", lambda r: r["respondent_key"] != teams_key
    )
    assert after["opt_out"] == before["opt_out"]
    await _sums_match_raw_rows(running.db)


async def test_an_email_nobody_has_is_said_plainly(running_teams: Icx) -> None:
    icx = running_teams.server.runtime.icx

    resolution = await resolve_email(icx, "nobody@acme.example")

    assert resolution.identities == ()
    assert [n.split(":")[0] for n in resolution.notes] == ["Slack", "Teams"]
    with pytest.raises(ForgetError, match="name the person"):
        await forget(icx, [])


async def test_slack_that_cannot_be_asked_stops_the_erasure(running_teams: Icx) -> None:
    """An erasure that silently skipped a platform would look complete and not be."""
    running = running_teams
    running.slack.fail_next(1, status=503, method="users.lookupByEmail")

    with pytest.raises(ForgetError, match="Slack cannot be asked now"):
        await resolve_email(running.server.runtime.icx, "omar@acme.example")


@pytest.mark.parametrize(
    ("make", "typed"),
    [
        (erasure.slack_user, "u0req00001"),
        (erasure.slack_user, "mia"),
        (erasure.teams_user, "not-a-guid"),
        (erasure.email_address, "mia-at-acme"),
    ],
)
def test_identities_are_checked_before_anything_is_looked_up(make: Any, typed: str) -> None:
    with pytest.raises(ForgetError):
        make(typed)


def test_a_teams_id_is_keyed_in_lower_case_as_teams_reports_it() -> None:
    assert erasure.teams_user(TEAMS_AAD.upper()) == erasure.Identity("teams", TEAMS_AAD)


# --- the command -----------------------------------------------------------------------------


DEPARTMENTS_YAML = """\
departments:
  - key: finance
    name: Finance
    leaders: [U0REQ00001]
"""


async def _insert_answer(db: Database, key: str, comment: str, reference: str) -> None:
    now = datetime.now(UTC) - timedelta(days=1)
    async with db.transaction() as s:
        interaction = Interaction(
            department="finance",
            source="jira",
            reference=reference,
            requester_key=key,
            occurred_at=now,
            created_at=now,
        )
        s.add(interaction)
        await s.flush()
        assert interaction.id is not None
        prompt = Prompt(
            id=uuid.uuid4().hex,
            interaction_id=interaction.id,
            department="finance",
            platform="slack",
            recipient_key=key,
            status="answered",
            created_at=now,
            sent_at=now,
            answered_at=now,
            expires_at=now + timedelta(days=7),
        )
        s.add(prompt)
        s.add(
            Response(
                prompt_id=prompt.id,
                department="finance",
                respondent_key=key,
                satisfaction=2,
                comment=comment,
                answered_at=now,
                updated_at=now,
            )
        )
        await aggregates.count_contributions(s, [prompt.id])


async def run_icx(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ICX_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots.cli",
        *args,
        cwd=cwd,
        env={**clean, "ICX_CONFIG": str(cwd / "departments.yml"), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_icx_forget_by_id_needs_no_chat_platform_and_prints_counts_not_comments(
    db: Database, tmp_path: Path
) -> None:
    (tmp_path / "departments.yml").write_text(DEPARTMENTS_YAML)
    await _insert_answer(db, MIA_KEY, SECRET_COMMENT, "FIN-1")
    await _insert_answer(db, "someone-else", "Fine.", "FIN-2")
    env = {"DATABASE_URL": db.url, "ICX_SECRET_KEY": SECRET_KEY}

    code, out, err = await run_icx(tmp_path, env, "forget", "--slack-user", REQUESTER, "--dry-run")

    assert code == 0, err
    assert f"would remove for slack:{REQUESTER}:" in out
    assert "  responses            1" in out and "  interactions         1" in out
    assert "dry run: nothing was changed" in out
    # The departments file still names her: icx says where, since it cannot edit it.
    assert "departments.finance.leaders" in out
    async with db.session() as s:
        assert len((await s.exec(select(Response))).all()) == 2

    code, out, err = await run_icx(tmp_path, env, "forget", "--slack-user", REQUESTER)

    assert code == 0, err
    assert f"removed for slack:{REQUESTER}:" in out
    assert SECRET_COMMENT not in out + err
    async with db.session() as s:
        assert [r.comment for r in (await s.exec(select(Response))).all()] == ["Fine."]
        await _sums_match_raw_rows(db)

    # Without the secret the keys cannot be computed: a clear error, nothing done.
    code, _, err = await run_icx(
        tmp_path, {"DATABASE_URL": db.url}, "forget", "--slack-user", REQUESTER
    )
    assert code == 2 and "ICX_SECRET_KEY" in err


async def test_icx_forget_by_email_asks_slack_and_says_when_nobody_is_found(
    db: Database, slack: SlackStandIn, tmp_path: Path
) -> None:
    (tmp_path / "departments.yml").write_text(DEPARTMENTS_YAML)
    await _insert_answer(db, MIA_KEY, SECRET_COMMENT, "FIN-1")
    env = {
        "DATABASE_URL": db.url,
        "ICX_SECRET_KEY": SECRET_KEY,
        "ICX_API_TOKEN": API_TOKEN,
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": "cli-test-signing-secret",
        "SLACK_API_URL": slack.api_url,
    }

    code, out, err = await run_icx(tmp_path, env, "forget", "--email", "mia@acme.example")

    assert code == 0, err
    assert f"Slack: {REQUESTER}" in out
    assert "  responses            1" in out
    assert [c.payload["email"] for c in slack.calls_to("users.lookupByEmail")] == [
        "mia@acme.example"
    ]
    async with db.session() as s:
        assert (await s.exec(select(Response))).all() == []
        assert (await s.exec(select(TeamsConversation))).all() == []

    code, out, err = await run_icx(tmp_path, env, "forget", "--email", "nobody@acme.example")

    assert code == 1
    assert "Slack: no active member with this email" in out
    assert "could not be resolved" in err
