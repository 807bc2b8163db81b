"""The demo's clock: pinned to simulated moments while the history is seeded, then real time."""

from datetime import datetime, timedelta

from core.clock import utcnow

TICK = timedelta(milliseconds=1)


class DemoClock:
    def __init__(self) -> None:
        self._pinned: datetime | None = None

    def __call__(self) -> datetime:
        if self._pinned is None:
            return utcnow()
        # Like real time, it moves on a little at every reading, so rows written one after the
        # other (created_at, sent_at, answered_at) keep their order.
        self._pinned += TICK
        return self._pinned

    def set(self, moment: datetime) -> None:
        self._pinned = moment

    def release(self) -> None:
        """Back to real time. The history ended before now, so time still only moves forward."""
        self._pinned = None
