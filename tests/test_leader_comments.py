"""`icx-score <department> comments [period]` (GUIDE §6): a department's comments, without
names, for its leaders only, only where nobody else reads along, and only from the comment
minimum on. Everyone else gets the same polite refusal, whatever the department holds."""

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bots.slack import blocks
from core import score_command
from core.config import parse_company
from core.context import Icx as CoreIcx
from core.departments import Company
from core.i18n import translator
from core.identity import Keyer
from core.leaders import Asker, leads
from storage import aggregates
from storage.db import Database
from storage.models import Interaction, Prompt, Response
from tests import slack_requests as sr
from tests import teams_activities as ta
from tests.conftest import COMPANY, LEADER, REQUESTER, TEAMS_PEOPLE, Icx, install_for
from tests.test_teams_bad_input import sent_cards

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FINANCE_DIGEST = "C0FINDIGST"
TEAMS_LEADER = TEAMS_PEOPLE[1]  # a leader by email
TEAMS_LEADER_BY_ID = TEAMS_PEOPLE[2]  # a leader by Entra object id
TEAMS_COLLEAGUE = TEAMS_PEOPLE[3]
IT_LEADER = "U0ITLEAD01"
REFUSAL = "Comments are shown only to the department's leaders."
ELSEWHERE = (
    "Comments are shown only where nobody else reads them: ask me in a private chat, or in the "
    "department's own channel."
)
_references = itertools.count(1)


def _company(channels: bool = True) -> Company:
    """Finance with leaders and, unless told otherwise, channels of its own (where digests go,
    so the scheduler writes to the dispatch table at start-up)."""
    finance, it, legal = COMPANY["departments"]
    own = {"slack": {"digest_channel": FINANCE_DIGEST}, "teams": {"digest_channel": ta.CHANNEL_ID}}
    return parse_company(
        {
            **COMPANY,
            "departments": [
                {
                    **finance,
                    "leaders": [LEADER, TEAMS_LEADER[3], TEAMS_LEADER_BY_ID[1].upper()],
                    **(own if channels else {}),
                },
                {**it, "leaders": [IT_LEADER]},
                legal,
            ],
        }
    )


@pytest.fixture
def company() -> Company:
    """The shared company, with leaders: the running fixtures use it too."""
    return _company()


async def add_comments(
    db: Database, department: str, comments: list[str | None], at: datetime
) -> None:
    """One answered prompt per entry, a minute apart (the last is the newest)."""
    prompt_ids = []
    async with db.transaction() as session:
        for index, comment in enumerate(comments):
            when = at + timedelta(minutes=index)
            interaction = Interaction(
                department=department,
                source="test",
                reference=f"T-{next(_references)}",
                requester_key=uuid.uuid4().hex,
                occurred_at=when,
                created_at=when,
            )
            session.add(interaction)
            await session.flush()
            assert interaction.id is not None
            prompt = Prompt(
                id=uuid.uuid4().hex,
                interaction_id=interaction.id,
                department=department,
                platform="slack",
                recipient_key=interaction.requester_key,
                status="answered",
                created_at=when,
                sent_at=when,
                answered_at=when,
                expires_at=when + timedelta(days=7),
            )
            session.add(prompt)
            prompt_ids.append(prompt.id)
            session.add(
                Response(
                    prompt_id=prompt.id,
                    department=department,
                    respondent_key=prompt.recipient_key or "",
                    satisfaction=4,
                    comment=comment,
                    answered_at=when,
                    updated_at=when,
                )
            )
        await aggregates.count_contributions(session, prompt_ids)


def _icx(db: Database, company: Company) -> CoreIcx:
    return CoreIcx(company, db, Keyer("comments-need-no-real-secret"), clock=lambda: NOW)


async def ask(db: Database, text: str, asker: Asker | None, locale: str = "en") -> Any:
    return await score_command.answer(_icx(db, _company()), text, translator(locale), asker=asker)


SLACK_LEADER = Asker("slack", LEADER)
TEN_WITH_THREE_COMMENTS = [None] * 4 + ["Slow at first."] + [None] * 3 + ["Kind.", "Quick!"]


async def test_a_leader_reads_the_newest_comments_without_names(db: Database) -> None:
    await add_comments(db, "finance", TEN_WITH_THREE_COMMENTS, NOW - timedelta(days=3))
    await add_comments(db, "finance", ["Too old to show."] * 10, NOW - timedelta(days=40))
    await add_comments(db, "it", ["Another department's."] * 10, NOW - timedelta(days=3))

    answer = await ask(db, "finance comments", SLACK_LEADER)

    assert answer.title == "Finance — comments, the last 30 days"
    assert answer.lines == ["3 comments, newest first:", "“Quick!”", "“Kind.”", "“Slow at first.”"]
    assert "leaders only" in answer.footnote and "from 10 responses" in answer.footnote
    # A longer period reaches the older ones; aliases and any case work as for scores.
    older = await ask(db, "FIN comments 90d", SLACK_LEADER)
    assert older.lines[0] == "The newest 10 of 13 comments:"
    assert "“Too old to show.”" in older.lines


async def test_below_the_comment_minimum_a_leader_learns_how_many_more(db: Database) -> None:
    await add_comments(db, "finance", ["Only nine."] * 9, NOW - timedelta(days=1))

    answer = await ask(db, "finance comments", SLACK_LEADER)

    assert answer.lines == ["Not enough responses to show comments yet: 9 so far, 1 more needed."]
    assert "Only nine." not in json.dumps(answer.__dict__)
    await add_comments(db, "finance", [None], NOW - timedelta(hours=1))
    assert (await ask(db, "finance comments", SLACK_LEADER)).lines[1] == "“Only nine.”"


async def test_no_comments_is_said_to_a_leader(db: Database) -> None:
    await add_comments(db, "finance", [None] * 10, NOW - timedelta(days=1))
    assert (await ask(db, "finance comments", SLACK_LEADER)).lines == [
        "No comments in this period."
    ]


async def test_many_long_comments_fit_one_message(db: Database) -> None:
    long = "x" * 2990  # with its number, 2,992 characters: two fit in 6,000
    await add_comments(db, "finance", [f"{i}{long}" for i in range(12)], NOW - timedelta(days=1))

    answer = await ask(db, "finance comments", SLACK_LEADER)

    assert answer.lines[0] == "The newest 2 of 12 comments:"
    assert answer.lines[1].startswith("“11x") and answer.lines[2].startswith("“10x")
    rendered = blocks.score_blocks(answer)
    sections = [b["text"]["text"] for b in rendered if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert len(rendered) <= 50


async def test_comments_are_shown_as_typed_and_mention_nobody_in_slack(db: Database) -> None:
    await add_comments(
        db, "finance", ["<!channel> ask <@U0CFO00001> *now*"] + [None] * 9, NOW - timedelta(hours=1)
    )
    answer = await ask(db, "finance comments", SLACK_LEADER)
    (section,) = [b for b in blocks.score_blocks(answer) if b["type"] == "section"]
    assert section["text"]["verbatim"] is True
    assert "&lt;!channel&gt; ask &lt;@U0CFO00001&gt;" in section["text"]["text"]


def test_who_leads() -> None:
    finance = _company().department("finance")
    assert finance is not None
    assert leads(finance, Asker("slack", LEADER))
    assert leads(finance, Asker("slack", "U0SOMEONE1", email=TEAMS_LEADER[3].upper()))
    assert leads(finance, Asker("teams", TEAMS_LEADER_BY_ID[1]))  # configured in capitals
    assert leads(finance, Asker("teams", "0f6c2f7e-0000-0000-0000-000000000000", TEAMS_LEADER[3]))
    # A Slack id never vouches for a Teams person, nor the other way round.
    assert not leads(finance, Asker("teams", LEADER))
    assert not leads(finance, Asker("slack", TEAMS_LEADER_BY_ID[1]))
    assert not leads(finance, Asker("slack", ""))
    assert not leads(finance, Asker("slack", REQUESTER, email="mia@acme.example"))
    assert not leads(finance, None)


ASKERS_REFUSED: dict[str, Asker | None] = {
    "a colleague": Asker("slack", REQUESTER, "mia@acme.example"),
    "a Teams colleague": Asker("teams", TEAMS_COLLEAGUE[1], TEAMS_COLLEAGUE[3]),
    "another department's leader": Asker("slack", IT_LEADER),
    "the command line": None,
}


@pytest.mark.parametrize("holds", ["comments", "no comments", "too few responses", "nothing"])
async def test_everyone_else_gets_the_same_refusal_whatever_the_department_holds(
    db: Database, holds: str
) -> None:
    """Byte for byte, the refusal is the one a department without any answers gives."""
    if holds == "comments":
        await add_comments(db, "finance", TEN_WITH_THREE_COMMENTS, NOW - timedelta(days=1))
    elif holds == "no comments":
        await add_comments(db, "finance", [None] * 10, NOW - timedelta(days=1))
    elif holds == "too few responses":
        await add_comments(db, "finance", ["Just me."], NOW - timedelta(days=1))

    for who, asker in ASKERS_REFUSED.items():
        for typed in ("finance comments", "finance comments 7d", "Finance COMMENTS quarter"):
            answer = await ask(db, typed, asker)
            assert (answer.title, answer.lines, answer.footnote) == (
                "Comments",
                [REFUSAL],
                "",
            ), (who, typed)


async def test_a_leader_is_told_to_ask_where_nobody_else_reads(db: Database) -> None:
    await add_comments(db, "finance", TEN_WITH_THREE_COMMENTS, NOW - timedelta(days=1))

    elsewhere = await ask(
        db, "finance comments", Asker("teams", TEAMS_LEADER_BY_ID[1], None, "19:x")
    )
    assert elsewhere.lines == [ELSEWHERE]
    for own in (ta.CHANNEL_ID, FINANCE_DIGEST):
        answer = await ask(db, "finance comments", Asker("teams", TEAMS_LEADER_BY_ID[1], None, own))
        assert answer.lines[0] == "3 comments, newest first:", own


async def test_comments_in_chinese(db: Database) -> None:
    await add_comments(db, "finance", TEN_WITH_THREE_COMMENTS, NOW - timedelta(days=1))
    answer = await ask(db, "finance 评论", SLACK_LEADER, "zh_Hans")
    assert answer.lines[0] == "3 条评论，最新的在前："
    refused = await ask(db, "finance 评论", None, "zh_Hans")
    assert refused.lines == ["评论仅向该部门的负责人显示。"]


async def test_unknown_departments_and_a_missing_one_are_answered_as_for_scores(
    db: Database,
) -> None:
    unknown = await ask(db, "marketing comments", Asker("slack", REQUESTER))
    assert unknown.title == "Unknown department"
    missing = await ask(db, "comments", SLACK_LEADER)
    assert missing.lines == ["Say which department: /icx-score <department> comments."]
    help_text = await ask(db, "help", None)
    assert any("comments [period]" in line for line in help_text.lines)


# --- through the platforms -------------------------------------------------------------------


async def slash(running: Icx, text: str, user: str) -> dict[str, Any]:
    status, body = await running.slack_post(
        sr.slash_command(text, user=user, response_url=running.slack.response_url())
    )
    assert status == 200, body
    answer: dict[str, Any] = json.loads(body)
    assert answer["response_type"] == "ephemeral"
    return answer


async def test_slack_leaders_read_comments_and_others_are_refused(running: Icx) -> None:
    await add_comments(running.db, "finance", TEN_WITH_THREE_COMMENTS, running.clock.now)
    running.clock.advance(hours=1)

    answer = await slash(running, "finance comments", LEADER)

    text = json.dumps(answer)
    assert "Quick!" in text and "Slow at first." in text

    refused = await slash(running, "finance comments", REQUESTER)
    assert refused["text"] == "Comments"
    assert REFUSAL in json.dumps(refused) and "Quick!" not in json.dumps(refused)


async def test_teams_leaders_read_comments_in_their_personal_chat_only(running_teams: Icx) -> None:
    running, connector = running_teams, running_teams.connector
    assert connector is not None
    await add_comments(running.db, "finance", TEN_WITH_THREE_COMMENTS, running.clock.now)
    running.clock.advance(hours=1)

    async def personal(person: tuple[str, str, str, str], text: str) -> str:
        conversation = await install_for(running, person)
        calls = len(connector.calls)
        activity = ta.message(
            connector.service_url,
            text,
            aad_object_id=person[1],
            user_id=person[0],
            conversation_id=conversation,
        )
        status, _ = await running.teams_post(activity)
        assert status == 200
        (card,) = sent_cards(connector, conversation, calls)
        return json.dumps(card)

    # Named by email (learnt when they installed the app) and by object id.
    for leader in (TEAMS_LEADER, TEAMS_LEADER_BY_ID):
        card = await personal(leader, "icx-score finance comments")
        assert "Quick!" in card and "Kind." in card, leader
    card = await personal(TEAMS_COLLEAGUE, "icx-score finance comments")
    assert REFUSAL in card and "Quick!" not in card

    # In a channel that is not the department's, even a leader is sent to a private chat.
    calls = len(connector.calls)
    mention = ta.channel_mention(
        connector.service_url,
        "icx-score finance comments",
        channel_id="19:general0000000000000000000000@thread.tacv2",
        aad_object_id=TEAMS_LEADER_BY_ID[1],
        user_id=TEAMS_LEADER_BY_ID[0],
    )
    status, _ = await running.teams_post(mention)
    assert status == 200
    (card,) = sent_cards(connector, mention["conversation"]["id"], calls)
    assert ELSEWHERE in json.dumps(card) and "Quick!" not in json.dumps(card)

    # In the department's own channel, it is shown.
    calls = len(connector.calls)
    mention = ta.channel_mention(
        connector.service_url,
        "icx-score finance comments",
        aad_object_id=TEAMS_LEADER_BY_ID[1],
        user_id=TEAMS_LEADER_BY_ID[0],
    )
    status, _ = await running.teams_post(mention)
    assert status == 200
    (card,) = sent_cards(connector, mention["conversation"]["id"], calls)
    assert "Quick!" in json.dumps(card)
