"""How fast the outbox may send to a platform, learned from the platform's rate limits.

Slack publishes no number for its workspace-wide chat.postMessage limit (GUIDE §7): only a 429
with Retry-After says it was exceeded. Sending flat out and pausing at every 429 would run in
bursts, each ending in a storm of 429s (every send in flight meets the limit). Instead the pacer
spaces sends at the rate the platform accepted just before it said no, and probes slowly upwards
while nothing is refused, so that a long fan-out runs close to the limit with a 429 now and then.

Per recipient, Slack allows about one message a second in a channel: `RecipientSpacing` keeps
that apart from the platform's rate, so that one person's prompts never cost the whole platform
a pause.
"""

import math
import time
from collections import deque
from collections.abc import Callable

# Successes counted for an estimate: long enough that a burst the platform allowed adds little
# (a burst of one second's worth adds 1/30), so that what got through per second is what the
# platform allows; the pauses after refusals are inside it too.
WINDOW = 30.0
# Fewer successes than this say little about a rate (e.g. a 429 right after a pause).
MIN_SAMPLES = 5
# Never slower than this: a wrong estimate must not stall the outbox.
MIN_RATE = 1.0
# While sends wait for the pacer and nothing was refused for a while, the rate grows: the
# estimate may be low (it was made while the platform was paused), or the limit was raised.
PROBE_AFTER = 10.0
PROBE_PER_SECOND = 0.02


class Pacer:
    """Spaces one platform's sends; unpaced until the platform first answers 429.

    At a 429 the rate becomes what got through in the last WINDOW seconds (at most what it
    was): while the sender pushes harder than the platform allows, that is the platform's rate
    (plus a little of its burst). With too few successes to tell, it halves. It grows again
    slowly once refusals stop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.rate: float | None = None  # sends per second; None: as fast as they come
        self._next = 0.0  # when the next send may start
        self._successes: deque[float] = deque()
        self._limited_at = -math.inf
        self._probed_at = -math.inf

    def delay(self) -> float:
        """Seconds until one more send may start."""
        if self.rate is None:
            return 0.0
        return max(0.0, self._next - self._clock())

    def reserve(self) -> float:
        """Takes the next free send slot; returns how long to wait for it."""
        if self.rate is None:
            return 0.0
        now = self._clock()
        wait = max(0.0, self._next - now)
        if wait > 0:
            self._probe(now)
        else:
            self._probed_at = now  # sends do not wait for the pacer: nothing to learn
        self._next = max(now, self._next) + 1.0 / self.rate
        return wait

    def succeeded(self) -> None:
        now = self._clock()
        self._successes.append(now)
        self._forget(now)

    def limited(self) -> None:
        """The platform refused a send for its rate."""
        now = self._clock()
        self._forget(now)
        self._limited_at = now
        if len(self._successes) >= MIN_SAMPLES:
            # Over a short span this overestimates (a burst): the next refusal corrects that
            # soon, whereas an underestimate would only be corrected by the slow probing.
            span = max(now - self._successes[0], 0.1)
            observed = len(self._successes) / span
            self.rate = observed if self.rate is None else min(self.rate, observed)
        elif self.rate is not None:
            self.rate = self.rate / 2
        else:
            self.rate = float(len(self._successes)) or MIN_RATE
        self.rate = max(MIN_RATE, self.rate)

    def _forget(self, now: float) -> None:
        while self._successes and now - self._successes[0] > WINDOW:
            self._successes.popleft()

    def _probe(self, now: float) -> None:
        assert self.rate is not None
        if now - self._limited_at < PROBE_AFTER:
            self._probed_at = now
            return
        elapsed = min(now - self._probed_at, 1.0)
        if elapsed > 0:
            self.rate *= (1.0 + PROBE_PER_SECOND) ** elapsed
        self._probed_at = now


class RecipientSpacing:
    """The earliest moment each recipient may get the next message (e.g. Slack's one message a
    second per channel); forgets recipients whose moment has passed."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._free_at: dict[str, float] = {}

    def take(self, recipient: str) -> float:
        """0.0 when the recipient is free now (and it is taken); else the seconds until it is."""
        now = self._clock()
        free_at = self._free_at.get(recipient, 0.0)
        if free_at > now:
            return free_at - now
        self._hold(recipient, now + self._interval)
        return 0.0

    def done(self, recipient: str) -> None:
        """A send is finished: the interval counts again from now, when the platform has
        surely seen the message (the send's own delay must not shorten the gap)."""
        self._hold(recipient, self._clock() + self._interval)

    def _hold(self, recipient: str, until: float) -> None:
        self._free_at[recipient] = max(self._free_at.get(recipient, 0.0), until)
        if len(self._free_at) > 10_000:
            now = self._clock()
            self._free_at = {r: t for r, t in self._free_at.items() if t > now}
