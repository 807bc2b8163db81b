"""Slack's chat.postMessage limits, kept by the stand-in when a test or benchmark asks for them
(GUIDE §7): about one message a second per channel, plus a workspace-wide cap; over either,
HTTP 429 with Retry-After in whole seconds, as Slack answers."""

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    capacity: float  # the most it holds: the burst allowed after a quiet spell
    tokens: float
    stamp: float

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0.0: now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


class PostLimits:
    """One bucket per channel (one message a second, no burst) and one for the workspace."""

    def __init__(
        self,
        workspace_rate: float,
        workspace_burst: float,
        channel_rate: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workspace_rate = workspace_rate
        self.workspace_burst = workspace_burst
        self._channel_rate = channel_rate
        self._clock = clock
        self._workspace = TokenBucket(workspace_rate, workspace_burst, workspace_burst, clock())
        self._channels: dict[str, TokenBucket] = {}
        self.refused: Counter[str] = Counter()  # by which limit: "channel" or "workspace"

    def refuse(self, channel: str) -> int | None:
        """None when the post may go (and it is counted); else the Retry-After seconds."""
        now = self._clock()
        bucket = self._channels.get(channel)
        if bucket is None:
            bucket = self._channels[channel] = TokenBucket(self._channel_rate, 1.0, 1.0, now)
        for name, limit in (("channel", bucket), ("workspace", self._workspace)):
            wait = limit.wait(now)
            if wait > 0:
                self.refused[name] += 1
                return max(1, math.ceil(wait))
        bucket.take()
        self._workspace.take()
        return None

    def minimum_seconds(self, posts: int, most_in_one_channel: int = 1) -> float:
        """A lower bound on the time `posts` messages can take, first to last: the burst goes
        at once and the rest at the workspace rate, and one channel's messages a second apart."""
        workspace = (posts - self.workspace_burst) / self.workspace_rate
        return max(0.0, workspace, (most_in_one_channel - 1) / self._channel_rate)
