"""Reporting periods: rolling windows (7d, 30d, 90d, or any number of days) and the calendar
quarter to date, each compared with the period just before it."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 731


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Window:
    spec: str  # "30d" or "quarter"
    current: Period
    previous: Period

    @property
    def days(self) -> int | None:
        return int(self.spec[:-1]) if self.spec.endswith("d") else None


def parse_spec(text: str) -> str:
    spec = text.strip().lower()
    match = re.fullmatch(r"(\d{1,4})d", spec)
    if match and 1 <= int(match.group(1)) <= MAX_DAYS:
        return f"{int(match.group(1))}d"
    if spec in ("quarter", "q", "季度"):
        return "quarter"
    raise PeriodError(spec)


def window(spec: str, now: datetime, zone: ZoneInfo) -> Window:
    if spec.endswith("d"):
        length = timedelta(days=int(spec[:-1]))
        return Window(spec, Period(now - length, now), Period(now - 2 * length, now - length))
    local = now.astimezone(zone)
    first_month = 3 * ((local.month - 1) // 3) + 1
    start = local.replace(month=first_month, day=1, hour=0, minute=0, second=0, microsecond=0)
    previous_start = (
        start.replace(year=start.year - 1, month=10)
        if first_month == 1
        else start.replace(month=first_month - 3)
    )
    return Window(
        spec,
        Period(start.astimezone(UTC), now),
        Period(previous_start.astimezone(UTC), start.astimezone(UTC)),
    )
