"""GET /metrics in Prometheus' text format: HTTP requests and their latency by route and
status, the core's counters (taps, 429s from the platforms), the database's view of work in
progress, the connection pool, and the process itself.

With ICX_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>`; without it
/metrics is open, like /healthz: it shows counts, never a name, id or message text."""

import asyncio
import hmac
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from bots.ops.collectors import BacklogCollector, Forward, PoolCollector
from bots.ops.routing import route_of
from core import metrics as core_metrics
from core.backlog import BacklogReader
from core.clock import Clock
from storage.db import Database

# From a tap's few milliseconds to a slow intake or digest request.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method a client invents is counted as "other", not as a new time series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_GONE = "499"  # nginx's code for a client that hung up before the answer


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["route", "method", "status"]
        self.requests = Counter(
            "icx_http_requests", "HTTP requests answered", labels, registry=registry
        )
        self.duration = Histogram(
            "icx_http_request_duration_seconds",
            "Time from receiving a request to its answer",
            labels,
            buckets=BUCKETS,
            registry=registry,
        )

    def middleware(self) -> Middleware:
        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = "500"
            try:
                response = await handler(request)
                status = str(response.status)
                return response
            except web.HTTPException as error:
                status = str(error.status)
                raise
            except asyncio.CancelledError:
                status = CLIENT_GONE
                raise
            finally:
                method = request.method if request.method in METHODS else "other"
                labels = (route_of(request), method, status)
                self.requests.labels(*labels).inc()
                self.duration.labels(*labels).observe(time.perf_counter() - started)

        return measure


class MetricsEndpoint:
    """One per server: its own registry, so two servers in one process (tests) do not share
    HTTP numbers; the core's counters are process-wide and appear in both."""

    def __init__(self, db: Database, clock: Clock, token: str | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpMetrics(self.registry)
        self._backlog = BacklogCollector()
        self._reader = BacklogReader(db, clock)
        self._token = token
        for collector in (
            Forward(core_metrics.REGISTRY),
            self._backlog,
            PoolCollector(db.engine),
        ):
            self.registry.register(collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    async def handle(self, request: web.Request) -> web.Response:
        if self._token is not None and not _authorized(request, self._token):
            return web.json_response(
                {"error": "unauthorized", "message": "send Authorization: Bearer <token>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="icx metrics"'},
            )
        # Awaited first, then rendered without a pause: a concurrent scrape cannot swap the
        # snapshot in between.
        self._backlog.latest = await self._reader.get()
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())
