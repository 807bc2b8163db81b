"""Taking turns per key within one process (e.g. per person while their budget is checked)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Forget idle keys so the table does not grow with every person ever seen.
            self._holders[key] -= 1
            if self._holders[key] == 0:
                del self._holders[key], self._locks[key]
