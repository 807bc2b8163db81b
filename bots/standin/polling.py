"""Waiting for a stand-in to have received something: poll with a deadline, never a fixed
sleep (the server answers before its work is done)."""

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_for(check: Callable[[], Any], within: float, seen: Callable[[], object]) -> Any:
    """Polls until check() returns something truthy; fails after `within` seconds, showing
    what the stand-in did see."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s; calls: {seen()}")
        await asyncio.sleep(0.01)
