"""Scores for scorecards (`icx export`): one row per department and calendar period, with the
same numbers, intervals and reporting minimum as `/icx-score` (GUIDE §4).

Rows are department × period only: no breakdown by service or segment and no totals, so no
hidden cell can be worked out from the others and no complementary suppression is needed.
Below the reporting minimum a row carries its n and how many more responses are needed, and
nothing else: not even the response rate ("1 of 1 asked" would say who answered)."""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from core.departments import Company, Department
from core.periods import Period, Window
from core.scores import DepartmentScore, Tally, tallies
from core.stats import Proportion
from core.weeks import IsoWeek

KINDS = ("week", "month", "quarter")
FORMATS = ("csv", "json")
MAX_DAYS = 3650  # the longest retention (policy.retention_days): older answers are gone

COLUMNS = (
    "department",
    "department_name",
    "period",
    "start",
    "end",
    "complete",
    "responses",
    "needed",
    "satisfied_pct",
    "satisfied_low_pct",
    "satisfied_high_pct",
    "effort_n",
    "effort_mean",
    "effort_low",
    "effort_high",
    "easy_pct",
    "easy_low_pct",
    "easy_high_pct",
    "delivered",
    "answered",
    "response_rate_pct",
    "note",
)


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class CalendarPeriod:
    label: str  # 2026-W46, 2026-11, 2026-Q4
    first: date  # first day, local
    after: date  # the day after the last, local

    def period(self, zone: ZoneInfo) -> Period:
        return Period(
            datetime.combine(self.first, time(), zone).astimezone(UTC),
            datetime.combine(self.after, time(), zone).astimezone(UTC),
        )


def _month_after(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def containing(kind: str, day: date) -> CalendarPeriod:
    if kind == "week":
        week = IsoWeek(*day.isocalendar()[:2])
        return CalendarPeriod(week.label, week.monday, week.monday + timedelta(days=7))
    if kind == "month":
        first = day.replace(day=1)
        return CalendarPeriod(f"{first:%Y-%m}", first, _month_after(first, 1))
    if kind == "quarter":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        label = f"{first.year}-Q{(first.month - 1) // 3 + 1}"
        return CalendarPeriod(label, first, _month_after(first, 3))
    raise ExportError(f"unknown period {kind!r}; use one of {', '.join(KINDS)}")


def periods(kind: str, start: date, end: date) -> list[CalendarPeriod]:
    """Every whole period that overlaps start..end (both days included)."""
    if end < start:
        raise ExportError(f"--to {end} is before --from {start}")
    if (end - start).days > MAX_DAYS:
        raise ExportError(f"export at most {MAX_DAYS} days at once")
    found: list[CalendarPeriod] = []
    current = containing(kind, start)
    while current.first <= end:
        found.append(current)
        current = containing(kind, current.after)
    return found


@dataclass(frozen=True)
class Row:
    department: Department
    period: CalendarPeriod
    last_day: date  # local; the day before `now` for a period still running
    complete: bool
    score: DepartmentScore


async def rows(
    session: AsyncSession,
    company: Company,
    departments: list[Department],
    kind: str,
    start: date,
    end: date,
    now: datetime,
) -> list[Row]:
    """Scores per department and period, each period in the department's own time zone; a
    period still running counts up to `now`, one not begun yet is left out."""
    chosen = periods(kind, start, end)
    by_zone: dict[str, list[Department]] = {}
    for department in departments:
        by_zone.setdefault(department.timezone, []).append(department)
    found: list[Row] = []
    for zone_name, members in by_zone.items():
        zone = ZoneInfo(zone_name)
        keys = [d.key for d in members]
        for calendar in chosen:
            period = calendar.period(zone)
            if period.start >= now:
                continue
            complete = period.end <= now
            counted = Period(period.start, period.end if complete else now)
            last_day = calendar.after - timedelta(days=1)
            if not complete:
                last_day = now.astimezone(zone).date()
            current = await tallies(session, counted, keys)
            for department in members:
                score = DepartmentScore(
                    department,
                    Window(kind, counted, counted),
                    current[department.key],
                    Tally(),  # no comparison in an export
                    company.policy.reporting_min_n,
                )
                found.append(Row(department, calendar, last_day, complete, score))
    return sorted(found, key=lambda r: (r.department.key, r.period.first))


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _interval(p: Proportion | None) -> tuple[float | None, float | None, float | None]:
    if p is None:
        return None, None, None
    return _pct(p.share), _pct(p.low), _pct(p.high)


def record(row: Row) -> dict[str, Any]:
    """One row as plain values; None where a number must not be shown."""
    score = row.score
    base: dict[str, Any] = dict.fromkeys(COLUMNS)
    base.update(
        department=row.department.key,
        department_name=row.department.name,
        period=row.period.label,
        start=row.period.first.isoformat(),
        end=row.last_day.isoformat(),
        complete=row.complete,
        responses=score.current.responses,
        needed=score.needed,
    )
    if not score.shown:
        base["note"] = f"needs {score.needed} more responses"
        return base
    c = score.current
    satisfied, satisfied_low, satisfied_high = _interval(score.satisfied)
    easy, easy_low, easy_high = _interval(score.easy)
    effort = score.effort
    base.update(
        satisfied_pct=satisfied,
        satisfied_low_pct=satisfied_low,
        satisfied_high_pct=satisfied_high,
        effort_n=c.effort_n,
        easy_pct=easy,
        easy_low_pct=easy_low,
        easy_high_pct=easy_high,
        delivered=c.delivered,
        answered=c.answered,
        response_rate_pct=_pct(score.response_rate),
    )
    if effort is None:
        base["note"] = f"effort needs {score.minimum - c.effort_n} more answers"
    else:
        base.update(
            effort_mean=round(effort.mean, 2),
            effort_low=round(effort.low, 2),
            effort_high=round(effort.high, 2),
        )
    return base


def as_csv(found: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in found:
        values = record(row)
        # Blank, not "None": a spreadsheet reads an empty cell as "no number".
        writer.writerow({k: "" if v is None else v for k, v in values.items()})
    return out.getvalue()


def as_json(
    found: list[Row], company: Company, kind: str, start: date, end: date, now: datetime
) -> str:
    document = {
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "period": kind,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "reporting_minimum": company.policy.reporting_min_n,
        "definitions": {
            "satisfied_pct": "share answering 4 or 5 of 5, with a 95% Wilson interval",
            "effort_mean": "mean of the 1-7 effort answers, with a 95% t interval",
            "easy_pct": "share answering 5-7 of 7, with a 95% Wilson interval",
            "response_rate_pct": "answered prompts / prompts delivered in the period",
            "null": "not shown: below the reporting minimum (see needed and note)",
        },
        "rows": list(_records(found)),
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _records(found: list[Row]) -> Iterator[dict[str, Any]]:
    for row in found:
        yield record(row)
