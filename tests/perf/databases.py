"""A fresh, migrated database per scenario run, on SQLite or PostgreSQL (GUIDE §8: the server at
ICX_TEST_POSTGRES, default 127.0.0.1:5432, database `test`, trust auth)."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from storage.db import Database
from storage.migrate import upgrade
from tests.conftest import PG_ADMIN

KINDS = ("sqlite", "postgresql")


def chosen(option: str) -> tuple[str, ...]:
    """The kinds a --database option names ("both" for every one)."""
    return KINDS if option == "both" else (option,)


@dataclass(frozen=True)
class FreshDatabase:
    url: str
    description: str  # the server and its version, for the report


@asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[FreshDatabase]:
    """A migrated, empty database, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="icx-perf-") as directory:
            url = f"sqlite:///{directory}/icx.db"
            await _migrate(url)
            yield FreshDatabase(url, f"SQLite {sqlite3.sqlite_version} (file in a temp dir, WAL)")
        return
    name = f"icx_perf_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        version = await admin.fetchval("SELECT current_setting('server_version')")
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        await _migrate(url)
        yield FreshDatabase(url, f"PostgreSQL {version} (local server, database {name})")
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database.engine)
    finally:
        await database.dispose()
