"""`icx export`: per-department, per-period scores for scorecards, with the same numbers as
`/icx-score`, each period in the department's own time zone, and nothing below the reporting
minimum but its n and how many more responses are needed."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core import export
from core.departments import Company
from core.scores import department_scores
from storage.db import Database
from tests.test_forget import DEPARTMENTS_YAML, run_icx
from tests.test_scores import NOW, add_answers

# NOW is 2026-11-20 12:00 UTC: November is running, October is complete.
NOVEMBER = [(5, 7), (5, 6), (4, 6), (4, 5), (4, 5), (3, 4), (2, 3), (5, None), (4, None), (1, 2)]
OCTOBER = [(5, 6), (2, 2), (4, None)]  # below the minimum of 5


async def _rows(db: Database, company: Company, kind: str, start: date, end: date) -> list[dict]:
    async with db.session() as s:
        found = await export.rows(s, company, list(company.departments), kind, start, end, NOW)
    return [export.record(r) for r in found]


async def test_a_month_below_the_minimum_shows_only_its_n(db: Database, company: Company) -> None:
    await add_answers(db, "finance", NOVEMBER, days_ago=3, unanswered=6)
    await add_answers(db, "finance", OCTOBER, days_ago=35, unanswered=4)

    records = await _rows(db, company, "month", date(2026, 10, 1), date(2026, 11, 30))

    finance = {r["period"]: r for r in records if r["department"] == "finance"}
    october = finance["2026-10"]
    assert october["responses"] == 3 and october["needed"] == 2
    assert october["note"] == "needs 2 more responses"
    hidden = set(export.COLUMNS) - {
        "department",
        "department_name",
        "period",
        "start",
        "end",
        "complete",
        "responses",
        "needed",
        "note",
    }
    # Not a single number about the group, not even how many were asked.
    assert {k: october[k] for k in hidden} == dict.fromkeys(hidden)
    assert (october["start"], october["end"], october["complete"]) == (
        "2026-10-01",
        "2026-10-31",
        True,
    )

    november = finance["2026-11"]
    assert (november["start"], november["end"], november["complete"]) == (
        "2026-11-01",
        "2026-11-20",
        False,
    )
    # The same numbers as /icx-score over the same span (tested by hand in test_scores).
    assert november["responses"] == 10 and november["needed"] == 0
    assert (november["satisfied_pct"], november["satisfied_low_pct"]) == (70.0, 39.7)
    assert november["satisfied_high_pct"] == 89.2
    assert (november["effort_n"], november["effort_mean"]) == (8, 4.75)
    assert (november["effort_low"], november["effort_high"]) == (3.35, 6.15)
    assert november["easy_pct"] == 62.5
    assert (november["delivered"], november["answered"], november["response_rate_pct"]) == (
        16,
        10,
        62.5,
    )
    assert november["note"] is None
    # Departments without answers get rows too: a scorecard shows that nobody answered.
    legal = [r for r in records if r["department"] == "legal"]
    assert [(r["period"], r["responses"], r["needed"]) for r in legal] == [
        ("2026-10", 0, 5),
        ("2026-11", 0, 5),
    ]


async def test_export_agrees_with_the_score_command(db: Database, company: Company) -> None:
    await add_answers(db, "it", NOVEMBER, days_ago=10)
    it = company.department("it")
    assert it is not None

    (row,) = [
        r
        for r in await _rows(db, company, "quarter", date(2026, 11, 1), date(2026, 11, 1))
        if r["department"] == "it"
    ]
    async with db.session() as s:
        (score,) = await department_scores(s, company, [it], "quarter", NOW)

    assert row["period"] == "2026-Q4"
    assert row["responses"] == score.current.responses == 10
    assert score.satisfied is not None and score.effort is not None
    assert row["satisfied_pct"] == round(100 * score.satisfied.share, 1)
    assert row["effort_mean"] == round(score.effort.mean, 2)


async def test_periods_follow_each_departments_time_zone(db: Database, company: Company) -> None:
    """00:30 on 1 November in Berlin is still October in UTC (and in New York)."""
    moment = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    days_ago = (NOW - moment) / timedelta(days=1)
    for department in ("finance", "legal"):
        await add_answers(db, department, [(5, 7)] * 5, days_ago=days_ago)

    records = await _rows(db, company, "month", date(2026, 10, 1), date(2026, 11, 30))

    counted = {(r["department"], r["period"]): r["responses"] for r in records}
    assert counted[("finance", "2026-10")] == 0 and counted[("finance", "2026-11")] == 5
    assert counted[("legal", "2026-10")] == 5 and counted[("legal", "2026-11")] == 0


def test_calendar_periods() -> None:
    weeks = export.periods("week", date(2026, 12, 30), date(2027, 1, 5))
    assert [(p.label, p.first, p.after) for p in weeks] == [
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 4)),
        ("2027-W01", date(2027, 1, 4), date(2027, 1, 11)),
    ]
    months = export.periods("month", date(2026, 12, 15), date(2027, 2, 1))
    assert [p.label for p in months] == ["2026-12", "2027-01", "2027-02"]
    quarters = export.periods("quarter", date(2026, 2, 1), date(2026, 12, 31))
    assert [(p.label, p.first) for p in quarters] == [
        ("2026-Q1", date(2026, 1, 1)),
        ("2026-Q2", date(2026, 4, 1)),
        ("2026-Q3", date(2026, 7, 1)),
        ("2026-Q4", date(2026, 10, 1)),
    ]
    with pytest.raises(export.ExportError, match="before"):
        export.periods("month", date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(export.ExportError, match="at most"):
        export.periods("week", date(2010, 1, 1), date(2026, 1, 1))


async def test_periods_not_begun_are_left_out(db: Database, company: Company) -> None:
    records = await _rows(db, company, "month", date(2026, 11, 1), date(2027, 3, 31))
    assert {r["period"] for r in records} == {"2026-11"}


# --- the command -----------------------------------------------------------------------------


async def test_icx_export_writes_csv_and_json_without_identities_or_comments(
    db: Database, tmp_path: Path
) -> None:
    """Run as operators run it, against today's date: last month's answers."""
    (tmp_path / "departments.yml").write_text(DEPARTMENTS_YAML)
    today = datetime.now(UTC)
    await add_answers(db, "finance", NOVEMBER, days_ago=(NOW - today).total_seconds() / 86400 + 1)
    env = {"DATABASE_URL": db.url}
    month = (today - timedelta(days=1)).strftime("%Y-%m")
    start = (today - timedelta(days=40)).date().isoformat()
    end = today.date().isoformat()

    code, out, err = await run_icx(tmp_path, env, "export", "--from", start, "--to", end)

    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert list(table[0]) == list(export.COLUMNS)
    (shown,) = [r for r in table if r["period"] == month]
    assert (shown["responses"], shown["satisfied_pct"], shown["needed"]) == ("10", "70.0", "0")
    hidden = [r for r in table if r["period"] != month]
    assert hidden and all(r["satisfied_pct"] == "" and r["delivered"] == "" for r in hidden)

    target = tmp_path / "scores.json"
    code, _, err = await run_icx(
        tmp_path,
        env,
        *("export", "--from", start, "--to", end, "--format", "json", "--period", "week"),
        *("--department", "finance", "--out", str(target)),
    )

    assert code == 0, err
    document = json.loads(target.read_text())
    assert document["period"] == "week" and document["reporting_minimum"] == 5
    assert {r["department"] for r in document["rows"]} == {"finance"}
    assert sum(r["responses"] for r in document["rows"]) == 10
    assert all(set(r) == set(export.COLUMNS) for r in document["rows"])
    assert "respondent" not in target.read_text()

    code, _, err = await run_icx(tmp_path, env, "export", "--from", end, "--to", start)
    assert code == 2 and "is before --from" in err
    code, _, err = await run_icx(
        tmp_path, env, "export", "--from", start, "--to", end, "--department", "nope"
    )
    assert code == 2 and "unknown department 'nope'" in err
