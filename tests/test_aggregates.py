"""The daily sums behind the scores (score_day, storage.aggregates) against the raw rows, on
SQLite and PostgreSQL: random histories run through the real outbox and tap code, at times on
and next to UTC and local midnights, must give `tallies()` equal to the plain SQL aggregate
(`raw_tallies`) for many random periods and windows; concurrent taps on the same prompts (and,
on PostgreSQL, from two engines) keep the sums equal to a recount; so do the migration's
backfill, retention (which keeps the sums) and forgetting a person's answers."""

import asyncio
import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.answers import Answers, Tap, TapResult
from core.context import Icx
from core.departments import Company
from core.domain import PromptStatus
from core.housekeeping import tidy
from core.identity import Keyer
from core.outbox import Outbox
from core.periods import Period, window
from core.ports import MessageRef, PromptView
from core.scores import Tally, raw_tallies, tallies, tallies_for
from storage.aggregates import (
    by_month,
    count_contributions,
    forget_contributions,
    recount,
    stored,
    stored_months,
)
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Interaction, Prompt, Response, ScoreDay
from storage.sums import Span, pieces, plan, whole_days

DEPARTMENTS = ["finance", "it", "legal"]  # Europe/Berlin, America/New_York, UTC
ZONES = (ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("UTC"))
# The quarter turns inside the history: 30 Sep 22:00 UTC in Berlin, 1 Oct 04:00 UTC in New York.
BASE = datetime(2026, 9, 24, tzinfo=UTC)
SPAN = timedelta(days=16)
EXPIRY = timedelta(days=7)
MS = timedelta(milliseconds=1)
_references = itertools.count(1)


class Clock:
    """Exactly the time the test sets: each step of a history happens when it says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Messenger:
    platform = "slack"

    def __init__(self) -> None:
        self.sent = 0

    async def deliver_prompt(self, view: PromptView) -> MessageRef:
        self.sent += 1
        return MessageRef(f"D{view.recipient}", f"{self.sent}.000100")


def icx_on(db: Database, company: Company, clock: Clock) -> Icx:
    return Icx(company, db, Keyer("aggregates-test-secret-0123"), clock=clock)


def near_midnight(rng: random.Random, moment: datetime) -> datetime:
    """Often on or a millisecond either side of a UTC or a department's local midnight."""
    roll = rng.random()
    if roll < 0.6:
        return moment
    zone = UTC if roll < 0.85 else rng.choice(ZONES[:2])
    local = moment.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC) + rng.choice((-MS, timedelta(0), MS))


def moment_in(rng: random.Random, start: datetime, end: datetime) -> datetime:
    at = near_midnight(rng, start + (end - start) * rng.random())
    return min(max(at, start), end - timedelta(microseconds=1))


async def pending_prompt(
    session: AsyncSession, icx: Icx, department: str, user: str, created: datetime, status: str
) -> str:
    """An interaction and its prompt, written as intake would (not counted: not sent yet)."""
    interaction = Interaction(
        department=department,
        source="test",
        reference=f"A-{next(_references)}",
        requester_key=icx.keyer.key("slack", user),
        occurred_at=created,
        created_at=created,
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
        recipient_address=user,
        status=status,
        created_at=created,
        expires_at=created + EXPIRY,
    )
    session.add(prompt)
    return prompt.id


# --- random histories through the real code ---------------------------------------------------


@dataclass(order=True)
class Step:
    at: datetime
    order: int
    kind: str = field(compare=False)  # send, csat, ces, reasons
    prompt: int = field(compare=False)
    value: int = field(default=0, compare=False)


def history(rng: random.Random, prompts: int) -> tuple[list[datetime], list[Step]]:
    """Send times (None: never sent) and every later step, in time order."""
    sends: list[datetime] = []
    steps: list[Step] = []
    order = itertools.count()
    for index in range(prompts):
        sent = moment_in(rng, BASE, BASE + SPAN)
        while sent in sends:  # the outbox's claim order (oldest first) must be unambiguous
            sent += timedelta(microseconds=1)
        sends.append(sent)
        steps.append(Step(sent, next(order), "send", index))
        if rng.random() < 0.2:
            continue  # delivered, never answered
        # Effort before any satisfaction is refused (NEEDS_SATISFACTION) and changes nothing;
        # a tap after expiry is refused too. Both are in the mix.
        kinds = ["csat"] + [rng.choice(("csat", "ces", "ces", "reasons")) for _ in range(3)]
        if rng.random() < 0.1:
            kinds.insert(0, "ces")
        at = sent
        for kind in kinds[: rng.randint(1, len(kinds))]:
            latest = sent + EXPIRY + (timedelta(hours=12) if rng.random() < 0.05 else timedelta())
            if at >= latest:
                break
            at = max(moment_in(rng, at, latest), at + timedelta(microseconds=1))
            value = rng.randint(1, 5) if kind == "csat" else rng.randint(1, 7)
            steps.append(Step(at, next(order), kind, index, value))
    return sends, sorted(steps)


async def play(db: Database, company: Company, rng: random.Random, prompts: int) -> list[str]:
    """Runs a random history: deliveries through the outbox, taps through Answers."""
    clock = Clock(BASE)
    icx = icx_on(db, company, clock)
    sends, steps = history(rng, prompts)
    users = [f"U{index:05d}" for index in range(prompts)]
    ids: list[str] = []
    async with db.transaction() as session:
        for index, sent in enumerate(sends):
            # Created in send order: the outbox claims the oldest pending prompt first.
            created = sent - timedelta(minutes=5)
            department = rng.choice(DEPARTMENTS)
            ids.append(
                await pending_prompt(session, icx, department, users[index], created, "pending")
            )
        # Never delivered (skipped): counts for nothing, and the outbox leaves it alone.
        for index in range(prompts // 10):
            created = moment_in(rng, BASE, BASE + SPAN)
            await pending_prompt(
                session, icx, rng.choice(DEPARTMENTS), f"S{index}", created, "skipped"
            )
    outbox = Outbox(icx, {"slack": Messenger()}, concurrency=1)
    answers = Answers(icx)
    for step in steps:
        clock.now = step.at
        tap = Tap("slack", users[step.prompt], ids[step.prompt])
        if step.kind == "send":
            assert await outbox.drain_once(limit=1) == 1
            async with db.session() as session:
                prompt = await session.get(Prompt, ids[step.prompt])
            assert prompt is not None and prompt.sent_at == step.at
        elif step.kind == "csat":
            await answers.satisfaction(tap, step.value)
        elif step.kind == "ces":
            await answers.effort(tap, step.value)
        else:
            await answers.reasons(tap, ["speed"][: step.value % 2])
    return ids


def random_periods(rng: random.Random, count: int) -> Iterator[Period]:
    """Arbitrary periods (inside one day, across many, starting or ending on or next to a
    midnight, empty) and the rolling and quarter windows each department's zone gives."""
    early, late = BASE - timedelta(days=2), BASE + SPAN + EXPIRY + timedelta(days=2)
    for _ in range(count):
        a, b = sorted(moment_in(rng, early, late) for _ in range(2))
        if rng.random() < 0.3:
            b = min(late, a + timedelta(hours=rng.uniform(0, 30)))
        yield Period(a, b)
    for spec in ("1d", "7d", "30d", "quarter"):
        for zone in ZONES:
            for _ in range(3):
                now = moment_in(rng, BASE, late)
                win = window(spec, now, zone)
                yield win.current
                yield win.previous


async def assert_sums_match_rows(session: AsyncSession) -> None:
    """Both tables of sums hold exactly what counting every raw row again gives."""
    counted = await recount(session)
    assert await stored(session) == counted
    assert await stored_months(session) == by_month(counted)


async def assert_consistent(db: Database, rng: random.Random, periods: int = 100) -> None:
    async with db.session() as session:
        await assert_sums_match_rows(session)
        asked = []
        for period in random_periods(rng, periods):
            expected = await raw_tallies(session, period, DEPARTMENTS)
            assert await tallies(session, period, DEPARTMENTS) == expected, period
            asked.append((period, rng.sample(DEPARTMENTS, rng.randint(1, len(DEPARTMENTS)))))
        # All at once, each with its own departments: one statement, shared partial days read
        # once; and with a hint that no rows come after some moment (exact whatever it says).
        hint = moment_in(rng, BASE, BASE + SPAN + EXPIRY)
        for now in (None, hint):
            together = await tallies_for(session, asked, now)
            for (period, departments), counted in zip(asked, together, strict=True):
                assert counted == await raw_tallies(session, period, departments), (period, now)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_histories_give_the_raw_numbers_for_any_period(
    db: Database, company: Company, seed: int
) -> None:
    rng = random.Random(seed)
    await play(db, company, rng, prompts=50)
    async with db.session() as session:
        total = (await raw_tallies(session, Period(BASE, BASE + 2 * SPAN), DEPARTMENTS)).values()
    # The history did what it should have: something of every kind was counted.
    assert sum(t.delivered for t in total) == 50
    assert all(sum(getattr(t, name) for t in total) > 0 for name in ("responses", "effort_n"))
    await assert_consistent(db, rng)


def test_whole_days_are_the_utc_midnights_inside_a_period() -> None:
    day = datetime(2026, 10, 1, tzinfo=UTC)
    assert whole_days(Span(day, day + timedelta(days=2))) == Span(day, day + timedelta(days=2))
    assert whole_days(Span(day - MS, day + timedelta(days=1) + MS)) == Span(
        day, day + timedelta(days=1)
    )
    assert whole_days(Span(day + MS, day + timedelta(days=1))) is None
    assert whole_days(Span(day + MS, day + timedelta(days=2) - MS)) is None
    # Berlin midnights are 22:00 UTC: three local days hold two whole UTC ones.
    berlin = datetime(2026, 10, 1, 0, 0, tzinfo=ZONES[0])
    assert whole_days(Span(berlin, berlin + timedelta(days=3))) == Span(
        day, day + timedelta(days=2)
    )


def test_a_score_reads_the_smaller_side_of_each_partial_day_once() -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    month = timedelta(days=30)
    current, previous = Span(now - month, now, now), Span(now - 2 * month, now - month, now)
    morning = (datetime(2026, 10, 21, tzinfo=UTC), datetime(2026, 10, 21, 9, tzinfo=UTC))
    # The current period's first day: 15 h inside it, 9 h before: the day minus its morning.
    # Its last day: 9 h inside, and the rest of today holds no rows yet: today minus the rest.
    assert pieces(current).raw == ((-1, *morning), (-1, now, datetime(2026, 11, 21, tzinfo=UTC)))
    assert pieces(current).days == (date(2026, 10, 21), date(2026, 11, 21))
    # Without the hint the last day is read as it is (9 h against 15 h).
    assert pieces(Span(now - month, now)).raw[-1] == (1, datetime(2026, 11, 20, tzinfo=UTC), now)
    # The previous period ends with the same morning, added: one reading serves both.
    assert pieces(previous).raw[-1] == (1, *morning)
    both = plan([(current, ["it"]), (previous, ["it"])])
    assert len(both.shape) == 2 + 3 * 2  # two day ranges, three raw ranges from two tables
    shared = [targets for targets in both.targets if len(targets) == 2]
    assert shared == [[(0, -1), (1, 1)]] * 2


def test_time_zones_share_the_stored_days_and_months_they_have_in_common() -> None:
    now = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    zones = {"finance": ZONES[0], "it": ZONES[1], "legal": ZONES[2]}
    requests = []
    for department, zone in zones.items():
        win = window("quarter", now, zone)
        requests += [(Span(p.start, p.end, now), [department]) for p in (win.current, win.previous)]
    together = plan(requests)
    stored = [i for i, source in enumerate(together.shape) if source in ("days", "months")]
    # October, 1–20 November, and July to September: once each, for all three departments.
    assert len(stored) == 3
    assert all(sorted(together.params[f"d{i}"]) == sorted(zones) for i in stored)


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrent_taps_keep_the_sums_equal_to_a_recount(
    database_url: str, company: Company
) -> None:
    """Many taps at once on the same prompts, first answers racing each other; on PostgreSQL
    from two engines (two replicas) as well as from many connections of each."""
    engines = 2 if database_url.startswith("postgresql") else 1
    databases = [Database(database_url) for _ in range(engines)]
    try:
        await upgrade(databases[0].engine)
        rng = random.Random(7)
        clock = Clock(BASE)
        icxs = [icx_on(db, company, clock) for db in databases]
        users = [f"U{index:05d}" for index in range(8)]
        async with databases[0].transaction() as session:
            ids = [
                await pending_prompt(session, icxs[0], DEPARTMENTS[i % 3], user, BASE, "pending")
                for i, user in enumerate(users)
            ]
        clock.now = BASE + timedelta(hours=23, minutes=59)
        outbox = Outbox(icxs[0], {"slack": Messenger()}, concurrency=8)
        assert await outbox.drain_once() == len(ids)
        # A millisecond before UTC midnight; the second round a millisecond after it.
        clock.now = BASE + timedelta(days=1) - MS

        # As many taps in flight per engine as a server has connections for (more would only
        # queue for the pool): twice the number of prompts, so most wait for a prompt's lock.
        in_flight = [asyncio.Semaphore(2 * len(ids)) for _ in databases]

        async def tap(index: int) -> TapResult:
            prompt = index % len(ids)
            answers = Answers(icxs[index % engines])
            target = Tap("slack", users[prompt], ids[prompt])
            async with in_flight[index % engines]:
                if rng.random() < 0.6:
                    outcome = await answers.satisfaction(target, rng.randint(1, 5))
                else:
                    outcome = await answers.effort(target, rng.randint(1, 7))
            return outcome.result

        results = await asyncio.gather(*(tap(index) for index in range(160)))
        assert results.count(TapResult.RECORDED) > 100
        clock.now += 2 * MS
        results = await asyncio.gather(*(tap(index) for index in range(160)))
        assert results.count(TapResult.RECORDED) == 160
        async with databases[0].session() as session:
            await assert_sums_match_rows(session)
            answered = (await session.exec(select(func.count()).select_from(Response))).one()
            assert answered == len(ids)
        await assert_consistent(databases[0], rng, periods=20)
    finally:
        for db in databases:
            await db.dispose()


# --- rows written directly: migration backfill, retention, forgetting ---------------------------


async def write_rows(
    db: Database, rng: random.Random, count: int, start: datetime, end: datetime
) -> list[str]:
    """Prompts (some never sent, some sent and unanswered) and responses with every kind of
    value, written directly; returns the prompt ids."""
    keyer = Keyer("aggregates-test-secret-0123")
    ids = []
    async with db.transaction() as session:
        for index in range(count):
            sent = moment_in(rng, start, end)
            department = rng.choice(DEPARTMENTS)
            interaction = Interaction(
                department=department,
                source="test",
                reference=f"W-{next(_references)}",
                requester_key=keyer.key("slack", f"W{index % 7}"),
                occurred_at=sent,
                created_at=sent,
            )
            session.add(interaction)
            await session.flush()
            assert interaction.id is not None
            delivered = rng.random() < 0.9
            answered = delivered and rng.random() < 0.7
            answer_at = moment_in(rng, sent, sent + EXPIRY) if answered else None
            prompt = Prompt(
                id=uuid.uuid4().hex,
                interaction_id=interaction.id,
                department=department,
                platform="slack",
                recipient_key=interaction.requester_key,
                status=PromptStatus.ANSWERED if answered else PromptStatus.EXPIRED,
                created_at=sent,
                sent_at=sent if delivered else None,
                answered_at=answer_at,
                expires_at=sent + EXPIRY,
            )
            session.add(prompt)
            ids.append(prompt.id)
            if answer_at is not None:
                session.add(
                    Response(
                        prompt_id=prompt.id,
                        department=department,
                        respondent_key=prompt.recipient_key or "",
                        satisfaction=rng.randint(1, 5),
                        effort=rng.choice((None, *range(1, 8))),
                        answered_at=answer_at,
                        updated_at=answer_at,
                    )
                )
    return ids


async def test_the_migration_backfills_what_a_recount_gives(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db.engine, "0003")
        rng = random.Random(11)
        await write_rows(db, rng, 300, BASE, BASE + SPAN)
        await upgrade(db.engine)
        async with db.session() as session:
            await assert_sums_match_rows(session)
            counted = await stored(session)
            assert sum(c.responses for c in counted.values()) > 150
        await assert_consistent(db, rng, periods=60)
    finally:
        await db.dispose()


async def test_long_periods_read_whole_months_and_give_the_raw_numbers(db: Database) -> None:
    rng = random.Random(13)
    start, end = BASE - timedelta(days=200), BASE + SPAN
    ids = await write_rows(db, rng, 400, start, end)
    async with db.transaction() as session:
        await count_contributions(session, ids)
    async with db.session() as session:
        await assert_sums_match_rows(session)
        asked = []
        for _ in range(60):
            a, b = sorted(moment_in(rng, start - timedelta(days=5), end) for _ in range(2))
            asked.append((Period(a, b), DEPARTMENTS))
        asked.append(
            (
                Period(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)),
                DEPARTMENTS,
            )
        )
        together = await tallies_for(session, asked, end)
        for (period, departments), counted in zip(asked, together, strict=True):
            assert counted == await raw_tallies(session, period, departments), period
    # The last one is three whole months: read from score_month alone.
    summer = asked[-1][0]
    assert plan([(Span(summer.start, summer.end), DEPARTMENTS)]).shape == ["months"]


async def test_retention_deletes_raw_rows_and_keeps_the_sums(
    db: Database, company: Company
) -> None:
    rng = random.Random(5)
    clock = Clock(BASE)
    icx = icx_on(db, company, clock)
    # Answered within a week of delivery: all before the cutoff below.
    old = await write_rows(db, rng, 80, BASE - timedelta(days=60), BASE - timedelta(days=35))
    recent = await write_rows(db, rng, 40, BASE, BASE + SPAN)
    async with db.transaction() as session:
        await count_contributions(session, old + recent)
    days = Period(BASE - timedelta(days=62), BASE - timedelta(days=20))
    async with db.session() as session:
        before = (await stored(session), await stored_months(session))
        old_numbers = await raw_tallies(session, days, DEPARTMENTS)
    assert sum(t.responses for t in old_numbers.values()) > 20

    # Retention cuts between the two: the old rows go, the recent ones stay.
    clock.now = BASE - timedelta(days=25) + timedelta(days=company.policy.retention_days)
    report = await tidy(icx)
    assert report.deleted == sum(t.responses for t in old_numbers.values())
    async with db.session() as session:
        assert (await stored(session), await stored_months(session)) == before
        assert await raw_tallies(session, days, DEPARTMENTS) == {d: Tally() for d in DEPARTMENTS}
        # Whole days come from the kept sums: the old period still has its numbers.
        assert await tallies(session, days, DEPARTMENTS) == old_numbers
        left = (await session.exec(select(func.count()).select_from(Prompt))).one()
        assert 0 < left < len(old) + len(recent)


async def test_forgetting_subtracts_exactly_what_the_rows_counted(db: Database) -> None:
    rng = random.Random(9)
    ids = await write_rows(db, rng, 200, BASE, BASE + SPAN)
    async with db.transaction() as session:
        await count_contributions(session, ids)
    keyer = Keyer("aggregates-test-secret-0123")
    person = keyer.key("slack", "W3")
    async with db.session() as session:
        theirs = list(
            (await session.exec(select(Prompt.id).where(Prompt.recipient_key == person))).all()
        )
        before = await stored(session)
    assert len(theirs) > 10

    async with db.transaction() as session:
        # Unknown ids and repeats are harmless.
        await forget_contributions(session, [*theirs, theirs[0], "no-such-prompt"])
        await session.exec(delete(Response).where(col(Response.prompt_id).in_(theirs)))
        await session.exec(delete(Prompt).where(col(Prompt.id).in_(theirs)))
    async with db.session() as session:
        await assert_sums_match_rows(session)
        after = await stored(session)
        assert after != before
        assert sum(c.responses for c in after.values()) > 0
    await assert_consistent(db, rng, periods=40)

    async with db.transaction() as session:
        await forget_contributions(session, [])
    async with db.session() as session:
        assert await stored(session) == after
        rows = (await session.exec(select(func.count()).select_from(ScoreDay))).one()
        assert rows >= len(after)
