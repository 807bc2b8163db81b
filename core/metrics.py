"""Counters of what happens in this process, for /metrics. The core and the platform adapters
increment them with one call; nothing here knows a web framework or a chat SDK.

They live in one module-level registry because the places that count (a tap being written, a
429 being classified) have no handle on the server; the HTTP side adds this registry to what it
exposes. Numbers that the database knows better (prompts by status, posted digests) are read
from it at scrape time instead (core/backlog.py), so they agree across replicas and restarts."""

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry(auto_describe=True)

TAPS = Counter(
    "icx_taps_recorded",
    "Taps on a prompt (answers, follow-ups, snoozes) accepted and written, by platform",
    ["platform"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "icx_rate_limited_responses",
    "HTTP 429 answers received from a chat platform's API, by platform",
    ["platform"],
    registry=REGISTRY,
)


def tap_recorded(platform: str) -> None:
    TAPS.labels(platform=platform).inc()


def rate_limited(platform: str) -> None:
    RATE_LIMITED.labels(platform=platform).inc()
