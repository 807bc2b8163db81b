"""What /metrics reads at scrape time besides counters: the database's view of work in progress
and the connection pool. Each collector only reads what it is handed; nothing here waits."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from core.backlog import Backlog
from core.domain import PromptStatus


class Forward(Collector):
    """Another registry's metrics (the core's counters) as part of this one."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield from self._source.collect()


class BacklogCollector(Collector):
    """The latest backlog snapshot, set by the /metrics handler just before it renders."""

    def __init__(self) -> None:
        self.latest: Backlog | None = None

    def collect(self) -> Iterator[Metric]:
        latest = self.latest
        yield GaugeMetricFamily(
            "icx_backlog_query_ok",
            "1 when the database answered the backlog query (the icx_prompts, icx_outbox_* and "
            "icx_dispatches metrics) in time; 0 leaves those out",
            value=1 if latest is not None else 0,
        )
        if latest is None:
            return
        prompts = GaugeMetricFamily("icx_prompts", "Prompts by status", labels=["status"])
        for status in sorted({*PromptStatus, *latest.prompts}):
            prompts.add_metric([status], latest.prompts.get(status, 0))
        yield prompts
        yield GaugeMetricFamily(
            "icx_outbox_pending", "Prompts not delivered yet, due or not", value=latest.pending
        )
        yield GaugeMetricFamily(
            "icx_outbox_due", "Pending prompts due for delivery now", value=latest.due
        )
        yield GaugeMetricFamily(
            "icx_outbox_oldest_due_age_seconds",
            "Age of the oldest prompt due for delivery (0 when none waits)",
            value=latest.oldest_due_age,
        )
        dispatches = GaugeMetricFamily(
            "icx_dispatches",
            "Posts that go out once (digest, org_digest, low_alert, drop_alert) by status: "
            'status="posted" counts those posted',
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(latest.dispatches.items()):
            dispatches.add_metric([kind, status], count)
        yield dispatches


class PoolCollector(Collector):
    """SQLAlchemy's connection pool, as far as the pool class reports it."""

    _STATS = (
        ("size", "size", "Connections the pool keeps (pool_size)"),
        ("checked_out", "checkedout", "Connections in use"),
        ("checked_in", "checkedin", "Idle connections in the pool"),
        ("overflow", "overflow", "Connections open beyond pool_size"),
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = self._engine.pool  # read each time: dispose() replaces it
        for name, method, doc in self._STATS:
            stat = getattr(pool, method, None)
            if callable(stat):
                # QueuePool counts overflow from -pool_size; below zero means none in use.
                yield GaugeMetricFamily(f"icx_db_pool_{name}", doc, value=max(0, int(stat())))
