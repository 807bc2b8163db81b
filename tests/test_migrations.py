"""Migrations are the only way the schema is made, and a server refuses an out-of-date one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from bots.runtime import Runtime, SchemaOutOfDate
from bots.standin.slack_web_api import SlackStandIn
from core.config import Config
from core.departments import Company
from storage.db import Database
from storage.migrate import head_revision, schema_state, upgrade
from tests.conftest import settings_for


async def test_migrations_build_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not (await schema_state(db.engine)).up_to_date
        await upgrade(db.engine)
        state = await schema_state(db.engine)
        assert state.up_to_date and state.current == head_revision()

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, SQLModel.metadata))

        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        await upgrade(db.engine)  # idempotent
    finally:
        await db.dispose()


async def test_server_refuses_an_unmigrated_database(
    database_url: str, slack: SlackStandIn, company: Company
) -> None:
    runtime = Runtime(Config(settings_for(database_url, slack), company))
    with pytest.raises(SchemaOutOfDate) as error:
        await runtime.start()
    assert "Run: icx db upgrade" in str(error.value)
    assert not slack.calls  # refused before talking to Slack
    await runtime.stop()


def test_db_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ICX_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"

    def icx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bots.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    before = icx("db", "status")
    assert before.returncode == 1 and "Run: icx db upgrade" in before.stdout
    upgraded = icx("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (
        f"schema revision {head_revision()} (latest {head_revision()}): up to date"
        in upgraded.stdout
    )
