"""`icx digest` as people run it: a real subprocess against a migrated SQLite file, posting to a
Slack Web API stand-in served by the test's own event loop (so the subprocess is started with
asyncio.create_subprocess_exec: the loop keeps answering while it runs)."""

import asyncio
import io
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image as PILImage

from bots.standin.slack_web_api import SlackStandIn
from storage.db import Database
from storage.migrate import upgrade
from tests.conftest import API_TOKEN, SECRET_KEY
from tests.test_scheduler import Answer, insert

BERLIN = ZoneInfo("Europe/Berlin")
FIN_DIGEST = "C0FINDIGEST"
LEGAL_DIGEST = "C0LEGDIGEST"
POST = "chat.postMessage"

DEPARTMENTS_YAML = f"""\
departments:
  - key: finance
    name: Finance
    timezone: Europe/Berlin
    slack:
      digest_channel: {FIN_DIGEST}
      alert_channel: C0FINALERT
  - key: legal
    name: Legal
    timezone: Europe/Berlin
    slack:
      digest_channel: {LEGAL_DIGEST}
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
async def workdir(tmp_path: Path) -> Path:
    """A migrated SQLite file with eight Finance answers in 2026-W46 and the departments YAML."""
    database = Database(f"sqlite:///{tmp_path}/icx.db")
    try:
        await upgrade(database.engine)
        start = datetime(2026, 11, 10, 9, 0, tzinfo=BERLIN).astimezone(UTC)
        scores = [(5, 7), (4, 6), (5, 6), (2, 3), (4, 5), (1, 2), (5, 5), (3, 4)]
        await insert(
            database,
            "finance",
            [Answer(start + i * timedelta(hours=7), s, e) for i, (s, e) in enumerate(scores)],
        )
    finally:
        await database.dispose()
    (tmp_path / "departments.yml").write_text(DEPARTMENTS_YAML)
    return tmp_path


async def icx(slack: SlackStandIn, cwd: Path, *args: str) -> Result:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ICX_"))}
    env = {
        **clean,
        "DATABASE_URL": f"sqlite:///{cwd}/icx.db",
        "ICX_CONFIG": str(cwd / "departments.yml"),
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": "cli-test-signing-secret",
        "SLACK_API_URL": slack.api_url,
        "ICX_SECRET_KEY": SECRET_KEY,
        "ICX_API_TOKEN": API_TOKEN,
        "MPLBACKEND": "Agg",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots.cli",
        "digest",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode(), stderr.decode())


def pngs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.png"))


def posts_to(slack: SlackStandIn, channel: str) -> int:
    return sum(1 for c in slack.calls_to(POST) if c.payload.get("channel") == channel)


async def test_dry_run_prints_the_digest_and_writes_the_chart(
    slack: SlackStandIn, workdir: Path
) -> None:
    result = await icx(slack, workdir, "--department", "finance", "--period", "2026-W46")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Finance — week 46")
    assert "8 responses this week." in out
    # 5 of 8 answered 4 or 5.
    assert "Satisfied: 62% (95% interval" in out and "n = 8." in out
    assert "chart: digest-finance-2026-W46.png" in out

    chart = workdir / "digest-finance-2026-W46.png"
    png = chart.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 5_000 < len(png) < 40_000
    with PILImage.open(io.BytesIO(png)) as image:
        image.verify()
    with PILImage.open(io.BytesIO(png)) as image:
        assert 700 <= image.size[0] <= 900 and 400 <= image.size[1] <= 560
    # A dry run posts nothing and uploads nothing.
    assert not [c for c in slack.calls if c.method == POST or c.method.startswith("files.")]
    assert pngs(workdir) == ["digest-finance-2026-W46.png"]


async def test_post_posts_once_unless_forced(slack: SlackStandIn, workdir: Path) -> None:
    args = ("--department", "finance", "--period", "2026-W46", "--post")
    result = await icx(slack, workdir, *args)
    assert result.returncode == 0, result.stderr
    assert f"finance 2026-W46 -> slack:{FIN_DIGEST}: posted" in result.stdout
    assert posts_to(slack, FIN_DIGEST) == 1
    assert [c.method for c in slack.calls if c.method != "auth.test"] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
        POST,
    ]
    assert pngs(workdir) == []  # posting writes no chart file

    again = await icx(slack, workdir, *args)
    assert again.returncode == 0, again.stderr
    assert "finance 2026-W46: nothing to post" in again.stdout
    assert posts_to(slack, FIN_DIGEST) == 1

    forced = await icx(slack, workdir, *args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"finance 2026-W46 -> slack:{FIN_DIGEST}: posted" in forced.stdout
    assert posts_to(slack, FIN_DIGEST) == 2
    assert posts_to(slack, LEGAL_DIGEST) == 0


async def test_a_bad_period_or_department_is_explained(slack: SlackStandIn, workdir: Path) -> None:
    result = await icx(slack, workdir, "--department", "finance", "--period", "2026-W99")
    assert result.returncode != 0
    assert "2026 has no week 99" in result.stderr and "Traceback" not in result.stderr

    result = await icx(slack, workdir, "--department", "payroll", "--post")
    assert result.returncode != 0
    assert "unknown department 'payroll'; known: finance, legal" in result.stderr
    assert "Traceback" not in result.stderr
    assert not slack.calls_to(POST)

    # A week still running cannot use up its one post; --force needs --post.
    result = await icx(slack, workdir, "--department", "finance", "--period", "2099-W10", "--post")
    assert result.returncode != 0 and "2099-W10 is not over yet for finance" in result.stderr
    result = await icx(slack, workdir, "--department", "finance", "--force")
    assert result.returncode != 0 and "--force only means something with --post" in result.stderr
    assert not slack.calls_to(POST)
