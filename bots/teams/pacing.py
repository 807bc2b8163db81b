"""Teams' per-conversation send limits (GUIDE §7: 7 per second, 8 per 2 s, 60 per 30 s, 1,800
per hour), kept before sending so that a burst (a digest and alerts into one channel) waits a
little instead of collecting 429s."""

import asyncio
import time
from collections import deque
from collections.abc import Callable

LIMITS: tuple[tuple[int, float], ...] = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))


class ConversationPacer:
    def __init__(
        self,
        limits: tuple[tuple[int, float], ...] = LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._window = max(seconds for _, seconds in limits)
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def delay(self, conversation_id: str) -> float:
        """Seconds until one more send to the conversation stays within every limit."""
        now = self._clock()
        sent = self._sent.get(conversation_id)
        if not sent:
            return 0.0
        while sent and now - sent[0] >= self._window:
            sent.popleft()
        wait = 0.0
        for count, seconds in self._limits:
            if len(sent) >= count:
                # The send `count` places back must leave the window before another may go.
                wait = max(wait, sent[-count] + seconds - now)
        return wait

    async def turn(self, conversation_id: str) -> None:
        """Waits for the conversation's next free slot and takes it."""
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            # Holding the conversation's lock, nothing else takes the slot while this waits.
            wait = self.delay(conversation_id)
            if wait > 0:
                await asyncio.sleep(wait)
            self._sent.setdefault(conversation_id, deque()).append(self._clock())
        self._forget_idle()

    def _forget_idle(self) -> None:
        # Conversations quiet for a whole window cost nothing to forget.
        if len(self._sent) < 10_000:
            return
        now = self._clock()
        for key in [k for k, v in self._sent.items() if not v or now - v[-1] >= self._window]:
            self._sent.pop(key, None)
            self._locks.pop(key, None)
