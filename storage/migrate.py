"""Schema migrations: upgrade to head, and tell whether a database is up to date."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_HERE = Path(__file__).parent


def _config() -> Config:
    config = Config(str(_HERE / "alembic.ini"))
    config.set_main_option("script_location", str(_HERE / "migrations"))
    return config


@cache
def _scripts() -> ScriptDirectory:
    # Reading the migration files takes tens of milliseconds of blocking work; they do not
    # change while icx runs, and /readyz asks for the schema state every few seconds.
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None, "no migrations found"
    return head


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str
    known: bool  # False: migrated by a newer icx than this one

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def problem(self) -> str | None:
        """What an operator must do before this icx may use the database, if anything."""
        if self.up_to_date:
            return None
        if not self.known:
            return (
                f"the database schema is at revision {self.current}, which this version of icx "
                "does not know: it was migrated by a newer icx. Run that version, or upgrade icx."
            )
        return (
            f"the database schema is at revision {self.current or 'none (empty database)'}, "
            f"this version of icx needs {self.head}. Run: icx db upgrade"
        )


async def schema_state(engine: AsyncEngine) -> SchemaState:
    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        revision = await connection.run_sync(current)
    known = revision is None or revision in {s.revision for s in _scripts().walk_revisions()}
    return SchemaState(current=revision, head=head_revision(), known=known)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
