"""The demo's database: recreated every run, but never at the cost of someone's real data."""

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from core.config import ConfigError
from storage.db import Database
from storage.migrate import schema_state, upgrade

# Written into the SQLite header (PRAGMA application_id), so a rerun knows the file is the
# demo's own and may be deleted; "icxd" in ASCII.
DEMO_MARK = 0x69637864
SIDE_FILES = ("-wal", "-shm", "-journal")


def display_url(url: str) -> str:
    """The URL as the operator wrote it, without its password."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite:/// URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise ConfigError(
            "icx demo needs a database file it can reopen: use sqlite:///icx-demo.db (the "
            "default) or another sqlite:///path.db"
        )
    return Path(parsed.database)


def _is_demo_file(path: Path) -> bool:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return bool(connection.execute("PRAGMA application_id").fetchone()[0] == DEMO_MARK)
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return False


def recreate_sqlite(path: Path) -> None:
    """Deletes the previous demo database (and its -wal/-shm siblings) and starts a marked one."""
    if path.exists() and path.stat().st_size > 0 and not _is_demo_file(path):
        raise ConfigError(
            f"{path} exists and was not written by icx demo. The demo deletes and recreates its "
            "database on every run, so give it another file: icx demo --database-url "
            "sqlite:///icx-demo.db"
        )
    for candidate in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        candidate.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"PRAGMA application_id = {DEMO_MARK}")
        connection.commit()
    finally:
        connection.close()


async def prepare(db: Database) -> None:
    """Brings the schema to head. A server database (PostgreSQL) is only used when empty: the
    demo cannot tell its own data from anybody else's there, so it never deletes anything."""
    if sqlite_path(db.url) is None:
        state = await schema_state(db.engine)
        if state.current is not None:
            raise ConfigError(
                f"{display_url(db.url)} already holds an icx schema; icx demo only writes into "
                "an empty database (or, by default, its own SQLite file icx-demo.db)"
            )
    await upgrade(db.engine)
