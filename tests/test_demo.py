"""`icx demo`: the example company end to end, as a newcomer runs it from the README.

The full demo runs in `icx demo`; these tests run a smaller company (scale) through the same
code so that the suite stays quick.
"""

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from bots.demo import render
from bots.demo.database import DEMO_MARK, recreate_sqlite, sqlite_path
from bots.demo.run import run_demo
from bots.demo.slack_side import sign
from core.config import ConfigError


def _count(path: Path, sql: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute(sql).fetchone()[0])
    finally:
        connection.close()


def _section(output: str, start: str, end: str) -> str:
    return output.split(start, 1)[1].split(end, 1)[0]


async def test_demo_shows_prompt_taps_and_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "demo.db"
    await run_demo(f"sqlite:///{database}", scale=0.4)
    output = capsys.readouterr().out

    # The history was seeded through the real core, and says what the policy held back.
    assert "Seeded 8 weeks:" in output and "Not asked, as the prompt policy decided" in output
    # The prompt as the person sees it, then the flow after each tap.
    prompt = _section(output, "\n2. icx asks", "\n3. ")
    assert "@Ana Silva from Finance recently helped you with Expense reimbursement." in prompt
    assert "How satisfied are you with how Finance handled Expense reimbursement?" in prompt
    assert "[ 1 · Very dissatisfied ]" in prompt and "[ 5 · Very satisfied ]" in prompt
    after_satisfaction = _section(output, "\n3. ", "\n4. ")
    assert "HTTP 200" in after_satisfaction
    assert "Recorded: Satisfied." in after_satisfaction
    assert "Finance made it easy to handle my request." in after_satisfaction
    assert "[ 7 · Strongly agree ]" in after_satisfaction
    thanks = _section(output, "\n4. ", "\n5. ")
    assert "Thank you. Your answer is recorded and helps Finance improve." in thanks
    assert "[ Add a comment ]" in thanks
    # /icx-score: Finance with numbers and n, Legal below the reporting minimum, everyone.
    finance = _section(output, "types: /icx-score finance", "types: /icx-score legal")
    assert "Satisfied:" in finance and "n = " in finance and "95% interval" in finance
    legal = _section(output, "types: /icx-score legal", "types: /icx-score\n")
    assert "Not enough responses to show numbers yet" in legal and "more needed" in legal
    overview = _section(output, "types: /icx-score\n", "What next")
    assert "All departments — the last 30 days" in overview
    for name in ("Facilities", "Finance", "IT", "Legal", "People & HR", "Procurement"):
        assert f"│ {name}: " in overview
    assert "README.md" in output.split("What next", 1)[1]

    # The database holds the seeded history and the live answer.
    assert _count(database, "PRAGMA application_id") == DEMO_MARK
    assert _count(database, "SELECT count(*) FROM interaction") > 100
    assert _count(database, "SELECT count(*) FROM prompt WHERE status = 'skipped'") > 0
    assert _count(database, "SELECT count(*) FROM prompt WHERE status = 'expired'") > 0
    assert _count(database, "SELECT count(*) FROM response") > 50
    assert _count(database, "SELECT count(DISTINCT department) FROM response") == 6
    live = "SELECT count(*) FROM response WHERE satisfaction = 4 AND effort = 6"
    assert _count(database, live) >= 1


async def test_demo_in_chinese(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await run_demo(f"sqlite:///{tmp_path}/demo.db", locale="zh_Hans", scale=0.2)
    output = capsys.readouterr().out
    # The narration stays English; what the product says is in the person's language.
    assert "2. icx asks" in output
    # Department names come translated from the departments file.
    assert "财务部这次处理Expense reimbursement，你满意吗？" in output
    assert "“找财务部办这件事很省事。”" in output
    legal = _section(output, "types: /icx-score legal", "types: /icx-score\n")
    assert "回答还不够多，暂不显示数据" in legal
    assert "全部部门（最近 30 天）" in output


async def test_demo_never_deletes_a_database_it_did_not_write(tmp_path: Path) -> None:
    precious = tmp_path / "icx.db"
    connection = sqlite3.connect(precious)
    connection.execute("CREATE TABLE interaction (id INTEGER PRIMARY KEY)")
    connection.execute("INSERT INTO interaction VALUES (1)")
    connection.commit()
    connection.close()
    with pytest.raises(ConfigError, match="was not written by icx demo"):
        await run_demo(f"sqlite:///{precious}")
    assert _count(precious, "SELECT count(*) FROM interaction") == 1


def test_a_rerun_recreates_the_demo_database(tmp_path: Path) -> None:
    path = tmp_path / "icx-demo.db"
    recreate_sqlite(path)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE leftover (id INTEGER)")
    connection.commit()
    connection.close()
    (tmp_path / "icx-demo.db-wal").write_bytes(b"")
    recreate_sqlite(path)
    assert _count(path, "SELECT count(*) FROM sqlite_master") == 0
    assert _count(path, "PRAGMA application_id") == DEMO_MARK
    assert not (tmp_path / "icx-demo.db-wal").exists()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ConfigError, match="file"):
        sqlite_path("sqlite:///:memory:")


def test_requests_are_signed_as_slack_signs_them() -> None:
    body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    headers = sign(body, "demo-secret")
    assert SignatureVerifier("demo-secret").is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)


def test_render_reads_like_slack() -> None:
    names = {"U0ANA00001": "Ana Silva"}
    assert render.mrkdwn("*<@U0ANA00001> from Finance* helped", names) == (
        "@Ana Silva from Finance helped"
    )
    assert render.mrkdwn("see <https://acme.example|the wiki> &amp; _this_", names) == (
        "see the wiki & this"
    )
    assert render.mrkdwn("snake_case_stays and 2*3*4 too", names) == (
        "snake_case_stays and 2*3*4 too"
    )
    message: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Finance"}},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "1 · Bad"}},
                {
                    "type": "button",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "2 · Good"},
                },
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "n = *5*"}]},
    ]
    assert render.blocks(message, names) == [
        "Finance",
        "━━━━━━━",
        "",
        "[ 1 · Bad ] [ 2 · Good ✓ ]",
        "",
        "n = 5",
    ]
    assert render.width("满意率") == 6
