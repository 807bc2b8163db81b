"""ISO weeks in a department's time zone: the digest's period (Monday 00:00 to the next Monday
00:00 local time, so a week with a DST change is 167 or 169 hours long)."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.periods import Period

WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> "IsoWeek":
        match = WEEK_PATTERN.match(text.strip())
        if match is None:
            raise WeekError(f"{text!r} is not an ISO week; write it like 2026-W46")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise WeekError(f"{text!r}: {year} has no week {week}") from None
        return cls(year, week)

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> "IsoWeek":
        year, week, _ = moment.astimezone(zone).isocalendar()
        return cls(year, week)

    @classmethod
    def before(cls, moment: datetime, zone: ZoneInfo) -> "IsoWeek":
        """The last complete week before `moment`: what a Monday-morning digest reports."""
        return cls.containing(moment, zone).shifted(-1)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def shifted(self, weeks: int) -> "IsoWeek":
        year, week, _ = (self.monday + timedelta(weeks=weeks)).isocalendar()
        return IsoWeek(year, week)

    def period(self, zone: ZoneInfo) -> Period:
        start = datetime.combine(self.monday, time(), zone)
        end = datetime.combine(self.monday + timedelta(days=7), time(), zone)
        return Period(start.astimezone(UTC), end.astimezone(UTC))
