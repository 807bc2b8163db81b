"""Benchmark data: two years of one company's feedback, 50 departments, bulk-loaded and cached.

    python -m tests.perf.dataset [--database sqlite|postgresql|both] [--responses N] [--fresh]
    python -m tests.perf.dataset --drop     # delete every cached data set (gigabytes)

Interactions, prompts and responses as icx writes them (prompts delivered, answered or expired,
a few skipped; recipients erased), generated with numpy in time order and loaded in bulk: COPY
(asyncpg `copy_records_to_table`) on PostgreSQL, `executemany` in large transactions on SQLite.
The secondary indexes are dropped for the load and built again after it; the sums (score_day,
score_month) are then filled by the very statements migration 0004 backfills with, and the
planner's statistics refreshed (PostgreSQL: VACUUM ANALYZE, which index-only scans need).

Distributions: department sizes follow Zipf (the largest about 20 times the smallest);
requests on weekdays, in each department's business hours (its own time zone); response rates
35–70 % per department; answers mostly within the hour (log-normal delay, at most 6.9 days);
satisfaction centred between 3.2 and 4.5 per department; effort given with 72 % of answers and
correlated with satisfaction; segments 85/12/3 % end-user/influencer/funder; a comment on 4 %.

Generated databases are kept for the next run, keyed by size, seed, generator version and
schema revision: SQLite files under <tmp>/icx-perf/, PostgreSQL databases named
icx_perf_<responses>_v<version>_r<revision>, marked complete by a comment on the database.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import numpy as np
import sqlalchemy as sa

from core.config import parse_company
from core.departments import Company
from storage.db import Database
from storage.migrate import head_revision, upgrade
from storage.models import ScoreDay
from tests.conftest import PG_ADMIN

VERSION = 2
SEED = 20261120
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # the end of the data, and the benchmarks' clock
DAYS = 731  # two years, the longest period /icx-score takes
CACHE = Path(tempfile.gettempdir()) / "icx-perf"
KINDS = ("sqlite", "postgresql")
CHUNK_PROMPTS = 400_000  # per load transaction: bounded memory, few commits

SKIPPED = 0.04  # prompts never delivered (throttled)
EFFORT_GIVEN = 0.72
PEOPLE = 20_000
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
EXPIRY_US = 7 * DAY_US

ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Singapore",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "UTC",
    "America/Sao_Paulo",
    "Australia/Sydney",
)
NAMES = (
    "IT Service Desk", "Finance", "Human Resources", "Procurement", "Legal", "Facilities",
    "Payroll", "Travel", "Security", "Data Platform", "Accounts Payable", "Accounts Receivable",
    "Treasury", "Tax", "Internal Audit", "Compliance", "Privacy Office", "Talent Acquisition",
    "Learning", "Benefits", "Workplace Services", "Mailroom", "Fleet", "Real Estate",
    "Network Operations", "Identity and Access", "End-User Computing", "Cloud Platform",
    "Developer Tools", "Architecture", "Data Governance", "Analytics", "Corporate Comms",
    "Brand Studio", "Events", "Translation", "Records", "Contract Management", "Vendor Risk",
    "Health and Safety", "Sustainability", "Corporate Strategy", "PMO", "Quality", "Logistics",
    "Warehouse", "Customer Care Tools", "Sales Ops", "Pricing", "Reception",
)  # fmt: skip
REASON_SETS = (
    [],
    ["speed"],
    ["communication"],
    ["expertise"],
    ["outcome"],
    ["speed", "communication"],
    ["ease", "courtesy"],
    ["expertise", "outcome"],
)
REASON_JSON = np.array([json.dumps(r) for r in REASON_SETS], dtype=object)
COMMENTS = (
    "Quick and friendly, thanks!",
    "Took three reminders before anyone answered.",
    "Solved, but nobody told me it was done.",
    "The form asks for the same thing twice.",
    "Great help, explained every step.",
    "Still waiting for the refund.",
)

# Only the columns written; the rest stay NULL (recipients erased, nothing pending or failing).
INTERACTION = (
    "id", "department", "service", "source", "reference", "requester_key", "occurred_at",
    "created_at",
)  # fmt: skip
PROMPT = (
    "id", "interaction_id", "department", "service", "platform", "recipient_key", "segment",
    "status", "skip_reason", "attempts", "created_at", "sent_at", "answered_at", "expires_at",
    "erased_at",
)  # fmt: skip
RESPONSE = (
    "id", "prompt_id", "department", "service", "segment", "respondent_key", "satisfaction",
    "effort", "reasons", "comment", "external_customer", "contact_consent", "contact_address",
    "answered_at", "updated_at",
)  # fmt: skip
TABLES = ("interaction", "prompt", "response")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).replace("--", "-").strip("-")


def company(departments: int = 50) -> Company:
    """The benchmark company: 50 departments across ten time zones, three services each, each
    with a Slack digest channel of its own."""
    return parse_company(
        {
            "departments": [
                {
                    "key": _slug(name),
                    "name": name,
                    "timezone": ZONES[index % len(ZONES)],
                    "services": [
                        {"key": f"service-{s}", "name": f"{name} service {s}"} for s in (1, 2, 3)
                    ],
                    "slack": {"digest_channel": f"CDIGEST{index:03d}"},
                }
                for index, name in enumerate(NAMES[:departments])
            ]
        }
    )


# --- generation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profiles:
    """Per department, index-aligned with company().departments."""

    keys: np.ndarray  # object: department keys
    weight: np.ndarray  # share of all requests
    rate: np.ndarray  # response rate
    mood: np.ndarray  # mean satisfaction
    offset_us: np.ndarray  # UTC offset of its zone (at NOW), µs
    services: np.ndarray  # object (departments, 4): three service keys and None


def profiles(rng: np.random.Generator, the_company: Company) -> Profiles:
    departments = the_company.departments
    count = len(departments)
    weight = 1.0 / np.arange(1, count + 1) ** 0.8
    rng.shuffle(weight)
    offsets = [
        (NOW.astimezone(ZoneInfo(d.timezone)).utcoffset() or timedelta())
        // timedelta(microseconds=1)
        for d in departments
    ]
    services = np.array([[s.key for s in d.services] + [None] for d in departments], dtype=object)
    return Profiles(
        keys=np.array([d.key for d in departments], dtype=object),
        weight=weight / weight.sum(),
        rate=rng.uniform(0.35, 0.70, count),
        mood=rng.uniform(3.2, 4.5, count),
        offset_us=np.array(offsets, dtype=np.int64),
        services=services,
    )


def _people(rng: np.random.Generator) -> np.ndarray:
    """Keyed hashes stand-ins: 64 hex characters, as core.identity makes them."""
    raw = rng.integers(0, 2**63, (PEOPLE, 4), dtype=np.int64)
    return np.array(["".join(f"{int(v):016x}" for v in row) for row in raw], dtype=object)


@dataclass
class Chunk:
    interactions: list[tuple[Any, ...]]
    prompts: list[tuple[Any, ...]]
    responses: list[tuple[Any, ...]]


Times = Callable[[np.ndarray], list[Any]]  # µs since the epoch -> the driver's values (NaT: None)


class Generator:
    """Rows in time order, chunk by chunk; the same seed gives the same rows."""

    def __init__(self, responses: int, the_company: Company, seed: int = SEED) -> None:
        self.rng = np.random.default_rng(seed)
        self.profiles = profiles(self.rng, the_company)
        self.people = _people(self.rng)
        p = self.profiles
        answered_share = float((p.weight * p.rate).sum()) * (1 - SKIPPED)
        self.prompts = max(1, round(responses / answered_share))
        now_us = _us(NOW)
        self.now_us = now_us
        first_day = (NOW - timedelta(days=DAYS - 1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.day0_us = _us(first_day)
        weekdays = np.array([(first_day + timedelta(days=d)).weekday() for d in range(DAYS)])
        self.day_weight = np.where(weekdays < 5, 1.0, 0.12)

    def chunks(self, times: Times) -> Iterator[Chunk]:
        days_per_chunk = max(1, math.floor(DAYS * CHUNK_PROMPTS / self.prompts))
        total_weight = self.day_weight.sum()
        next_id = 0
        next_response = 0
        for first in range(0, DAYS, days_per_chunk):
            days = np.arange(first, min(DAYS, first + days_per_chunk))
            weights = self.day_weight[days]
            count = round(self.prompts * weights.sum() / total_weight)
            if count:
                chunk = self._chunk(
                    days, weights / weights.sum(), count, next_id, next_response, times
                )
                next_id += len(chunk.prompts)
                next_response += len(chunk.responses)
                yield chunk

    def _chunk(
        self,
        days: np.ndarray,
        day_p: np.ndarray,
        count: int,
        first_id: int,
        first_response: int,
        times: Times,
    ) -> Chunk:
        rng, p = self.rng, self.profiles
        department = rng.choice(len(p.keys), count, p=p.weight)
        day = rng.choice(days, count, p=day_p)
        local = np.clip(rng.normal(13.5, 2.6, count), 6.0, 21.5) * HOUR_US
        sent = self.day0_us + day * DAY_US + local.astype(np.int64) - p.offset_us[department]
        keep = sent < self.now_us
        order = np.argsort(sent[keep], kind="stable")
        department, sent = department[keep][order], sent[keep][order]
        n = len(sent)

        delivered = rng.random(n) >= SKIPPED
        delay = np.minimum(np.exp(rng.normal(np.log(1200.0), 1.6, n)), 6.9 * 86_400) * 1e6
        answered_at = sent + delay.astype(np.int64)
        answered = delivered & (rng.random(n) < p.rate[department]) & (answered_at < self.now_us)
        satisfaction = np.clip(np.rint(rng.normal(p.mood[department], 1.05)), 1, 5).astype(int)
        effort = np.clip(np.rint(1.2 + (satisfaction - 1) * 1.35 + rng.normal(0, 0.9, n)), 1, 7)
        effort = effort.astype(np.int64)
        has_effort = rng.random(n) < EFFORT_GIVEN
        service = p.services[department, rng.integers(0, 4, n)]
        segment = np.array(["end-user", "influencer", "funder"], dtype=object)[
            rng.choice(3, n, p=[0.85, 0.12, 0.03])
        ]
        person = self.people[rng.integers(0, PEOPLE, n)]
        keys = p.keys[department]

        ids = _text(_digits(np.arange(first_id, first_id + n), 16, 16)).tolist()
        interaction_ids = list(range(first_id + 1, first_id + n + 1))
        created = sent - 10 * 60_000_000
        created_at = times(created)
        recent = sent > self.now_us - EXPIRY_US
        status = np.where(
            ~delivered,
            "skipped",
            np.where(answered, "answered", np.where(recent, "sent", "expired")),
        ).astype(object)
        nat = np.iinfo(np.int64).min
        erased = np.where(answered, answered_at + HOUR_US, sent + EXPIRY_US)
        erased = np.where(delivered & (erased < self.now_us), erased, nat)
        references = np.empty((n, 12), np.uint8)
        references[:, :2] = (ord("T"), ord("-"))
        references[:, 2:] = _digits(np.arange(first_id, first_id + n), 10)
        interactions = list(
            zip(
                interaction_ids,
                keys.tolist(),
                service.tolist(),
                np.where(department % 2 == 0, "jira", "servicenow").tolist(),
                _text(references).tolist(),
                person.tolist(),
                created_at,
                created_at,
                strict=True,
            )
        )
        prompts = list(
            zip(
                ids,
                interaction_ids,
                keys.tolist(),
                service.tolist(),
                np.where(department % 5 == 0, "teams", "slack").tolist(),
                person.tolist(),
                segment.tolist(),
                status.tolist(),
                np.where(delivered, None, "throttled").tolist(),
                delivered.astype(int).tolist(),
                created_at,
                times(np.where(delivered, sent, nat)),
                times(np.where(answered, answered_at, nat)),
                times(np.where(delivered, sent, created) + EXPIRY_US),
                times(erased),
                strict=True,
            )
        )
        rows = np.flatnonzero(answered)
        m = len(rows)
        at = times(answered_at[rows])
        updated = times(answered_at[rows] + rng.integers(0, 120_000_000, m))
        reasons = REASON_JSON[rng.integers(0, len(REASON_SETS), m)].tolist()
        commented = rng.random(m) < 0.04
        comments = np.array(COMMENTS, dtype=object)[rng.integers(0, len(COMMENTS), m)]
        consent = rng.random(m) < 0.03
        responses = list(
            zip(
                range(first_response + 1, first_response + m + 1),
                [ids[i] for i in rows],
                keys[rows].tolist(),
                service[rows].tolist(),
                segment[rows].tolist(),
                person[rows].tolist(),
                satisfaction[rows].tolist(),
                np.where(has_effort[rows], effort[rows], None).tolist(),
                reasons,
                np.where(commented, comments, None).tolist(),
                (rng.random(m) < 0.2).tolist(),
                consent.tolist(),
                np.where(consent, "slack:U0CONSENT1", None).tolist(),
                at,
                updated,
                strict=True,
            )
        )
        return Chunk(interactions, prompts, responses)


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


NAT = np.iinfo(np.int64).min  # numpy's NaT, as µs


def _digits(values: np.ndarray, width: int, base: int = 10) -> np.ndarray:
    """ASCII digits (lowercase hex for base 16) of non-negative integers, zero-padded:
    an (n, width) array of bytes."""
    powers = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (values.astype(np.int64)[:, None] // powers) % base
    return np.where(digits < 10, digits + 48, digits + 87).astype(np.uint8)


def _text(chars: np.ndarray) -> np.ndarray:
    """(n, width) ASCII bytes -> n strings, without a Python loop."""
    width = chars.shape[1]
    packed = np.ascontiguousarray(chars, dtype=np.uint8).view(f"S{width}").ravel()
    return packed.astype(f"U{width}")


def postgres_times(values: np.ndarray) -> list[Any]:
    """Naive UTC datetimes (timestamp without time zone), None for NaT."""
    return values.astype("datetime64[us]").tolist()


def sqlite_times(values: np.ndarray) -> list[Any]:
    """The text SQLAlchemy stores on SQLite ('2026-11-20 12:00:00.000000'), so that the
    strings compare as the queries' bound values do; None for NaT. Built digit by digit in
    numpy: numpy's own formatting costs a microsecond a value, tens of seconds at 10 M."""
    missing = values == NAT
    day, into_day = np.divmod(np.where(missing, 0, values), DAY_US)
    days, which = np.unique(day, return_inverse=True)
    dates = np.datetime_as_string(days.astype("datetime64[D]")).astype("S10")
    seconds, micros = np.divmod(into_day, 1_000_000)
    hours, rest = np.divmod(seconds, 3600)
    minutes, seconds = np.divmod(rest, 60)
    chars = np.empty((len(values), 26), np.uint8)
    chars[:, :10] = np.frombuffer(dates.tobytes(), np.uint8).reshape(-1, 10)[which]
    chars[:, [10, 13, 16, 19]] = (ord(" "), ord(":"), ord(":"), ord("."))
    chars[:, 11:13] = _digits(hours, 2)
    chars[:, 14:16] = _digits(minutes, 2)
    chars[:, 17:19] = _digits(seconds, 2)
    chars[:, 20:] = _digits(micros, 6)
    text = _text(chars).astype(object)
    text[missing] = None
    return text.tolist()


# --- loading ----------------------------------------------------------------------------------


class _Stopwatch:
    """Logs how long each step of a build took."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._last = time.monotonic()

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self._log(f"  {what}: {now - self._last:.0f} s")
        self._last = now


def _prefetched(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The next chunk is generated in a thread while the current one is loaded: the database
    (PostgreSQL's own process, SQLite's steps without the GIL) works meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(next, chunks, None)
        while (chunk := upcoming.result()) is not None:
            upcoming = pool.submit(next, chunks, None)
            yield chunk


def _migration() -> ModuleType:
    """Migration 0004, for its backfill statement: the generated sums are made exactly as an
    upgrade makes them from existing rows."""
    path = next(Path(__file__).parents[2].glob("storage/migrations/versions/0004_*.py"))
    spec = importlib.util.spec_from_file_location("icx_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Dataset:
    kind: str  # sqlite or postgresql
    size: int  # responses asked for; `responses` is how many the generator made
    url: str
    description: str  # server and version, where the data lives
    responses: int
    prompts: int  # delivered
    build_seconds: float  # 0 when it came from the cache

    def describe(self) -> str:
        made = f"built in {self.build_seconds:.0f} s" if self.build_seconds else "cached"
        return (
            f"{self.responses:,} responses, {self.prompts:,} delivered prompts, 50 departments, "
            f"{DAYS} days to {NOW:%Y-%m-%d %H:%M} UTC ({made})"
        )


def _name(responses: int) -> str:
    return f"icx_perf_{responses}_v{VERSION}_r{head_revision()}"


async def _sums(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            row = (
                await session.exec(
                    sa.select(sa.func.sum(ScoreDay.responses), sa.func.sum(ScoreDay.delivered))
                )
            ).one()
        return int(row[0] or 0), int(row[1] or 0)
    finally:
        await db.dispose()


async def ensure(
    kind: str, responses: int, *, fresh: bool = False, log: Callable[[str], None] = print
) -> Dataset:
    """The data set of this size on this database: from the cache, or generated now."""
    began = time.monotonic()
    if kind == "sqlite":
        url, description, built = await _ensure_sqlite(responses, fresh, log)
    else:
        url, description, built = await _ensure_postgres(responses, fresh, log)
    seconds = time.monotonic() - began if built else 0.0
    counted, delivered = await _sums(url)
    return Dataset(kind, responses, url, description, counted, delivered, seconds)


async def _ensure_sqlite(
    responses: int, fresh: bool, log: Callable[[str], None]
) -> tuple[str, str, bool]:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{_name(responses)}.db"
    description = f"SQLite {sqlite3.sqlite_version} (WAL), {path}"
    if path.exists() and not fresh:
        return f"sqlite:///{path}", description, False
    part = path.with_suffix(".part")
    for stale in (path, part, *CACHE.glob(f"{part.name}-*")):
        stale.unlink(missing_ok=True)
    log(f"generating {responses:,} responses on SQLite into {path} ...")
    db = Database(f"sqlite:///{part}")
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()
    _load_sqlite(part, responses, log)
    part.rename(path)
    return f"sqlite:///{path}", description, True


def _load_sqlite(path: Path, responses: int, log: Callable[[str], None]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=OFF",  # a failed build is thrown away, never recovered
            "synchronous=OFF",
            "cache_size=-1000000",  # 1 GB
            "temp_store=MEMORY",
            "locking_mode=EXCLUSIVE",
        ):
            connection.execute(f"PRAGMA {pragma}")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' "
            f"AND tbl_name IN {TABLES}"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        generator = Generator(responses, company())
        watch = _Stopwatch(log)
        statements = {
            table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            for table, cols in zip(TABLES, (INTERACTION, PROMPT, RESPONSE), strict=True)
        }
        for chunk in _prefetched(generator.chunks(sqlite_times)):
            connection.execute("BEGIN")
            connection.executemany(statements["interaction"], chunk.interactions)
            connection.executemany(statements["prompt"], chunk.prompts)
            connection.executemany(statements["response"], chunk.responses)
            connection.execute("COMMIT")
        watch.lap(f"{generator.prompts:,} prompts with interactions and answers loaded")
        connection.execute("BEGIN")
        for _, sql in indexes:
            connection.execute(sql)
        watch.lap("indexes built")
        for statement in _migration().backfill_sql("sqlite"):
            connection.execute(statement)
        connection.execute("COMMIT")
        watch.lap("sums filled as the migration's backfill does")
        # Statistics from a sample of each index: the planner needs their shape, not a full scan
        # of 10 GB.
        connection.execute("PRAGMA analysis_limit=10000")
        connection.execute("ANALYZE")
        watch.lap("analyzed")
        connection.execute("PRAGMA locking_mode=NORMAL")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


async def _ensure_postgres(
    responses: int, fresh: bool, log: Callable[[str], None]
) -> tuple[str, str, bool]:
    name = _name(responses)
    url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        version = await admin.fetchval("SELECT current_setting('server_version')")
        description = f"PostgreSQL {version} (local server), database {name}"
        marker = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
        if marker == "complete" and not fresh:
            return url, description, False
        log(f"generating {responses:,} responses on PostgreSQL into database {name} ...")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    db = Database(url)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()
    await _load_postgres(url, responses, log)
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS 'complete'")
    finally:
        await admin.close()
    return url, description, True


async def _load_postgres(url: str, responses: int, log: Callable[[str], None]) -> None:
    connection = await asyncpg.connect(url)
    try:
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix\\_%' "
            "AND tablename = ANY($1::text[])",
            list(TABLES),
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        # Foreign keys are triggers; the rows are consistent by construction (superuser only).
        await connection.execute("SET session_replication_role = replica")
        generator = Generator(responses, company())
        watch = _Stopwatch(log)
        columns = dict(zip(TABLES, (INTERACTION, PROMPT, RESPONSE), strict=True))
        for chunk in _prefetched(generator.chunks(postgres_times)):
            async with connection.transaction():
                for table, rows in zip(
                    TABLES, (chunk.interactions, chunk.prompts, chunk.responses), strict=True
                ):
                    await connection.copy_records_to_table(
                        table, records=rows, columns=list(columns[table])
                    )
        await connection.execute("SET session_replication_role = DEFAULT")
        watch.lap(f"{generator.prompts:,} prompts with interactions and answers copied")
        await connection.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await connection.execute(index["indexdef"])
        watch.lap("indexes built")
        for statement in _migration().backfill_sql("postgresql"):
            await connection.execute(statement)
        watch.lap("sums filled as the migration's backfill does")
        for table in ("interaction", "response"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        await connection.execute("VACUUM ANALYZE")
        watch.lap("vacuumed and analyzed")
    finally:
        await connection.close()


# --- command line -----------------------------------------------------------------------------


def kinds(option: str) -> Sequence[str]:
    return KINDS if option == "both" else (option,)


async def drop_cached(log: Callable[[str], None] = print) -> None:
    """Deletes every cached data set (they take gigabytes): the SQLite files and the
    PostgreSQL databases this module made, no other."""
    for path in sorted(CACHE.glob("icx_perf_*")):
        log(f"deleting {path}")
        path.unlink()
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        names = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'icx\\_perf\\_%\\_v%\\_r%'"
        )
        for (name,) in names:
            log(f"dropping database {name}")
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.dataset", description=__doc__)
    parser.add_argument("--database", choices=(*KINDS, "both"), default="both")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="generate again even if cached")
    parser.add_argument("--drop", action="store_true", help="delete every cached data set")
    args = parser.parse_args(argv)

    async def run() -> None:
        if args.drop:
            await drop_cached()
            return
        for kind in kinds(args.database):
            dataset = await ensure(kind, args.responses, fresh=args.fresh)
            print(f"{dataset.description}: {dataset.describe()}")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
