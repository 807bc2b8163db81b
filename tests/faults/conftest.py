"""Fixtures of the fault tests: the faulty Slack stand-in, `icx serve` processes that are
stopped whatever happens, and a throwaway PostgreSQL cluster."""

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from storage.db import Database
from storage.migrate import upgrade
from tests.faults.postgres import Cluster, find_binaries, why_not_runnable
from tests.faults.servers import IcxServer, environment, write_company
from tests.faults.slack import FaultySlack

# Read at import: the suite's autouse fixture clears ICX_* variables before every test.
SCALE = max(1.0, float(os.environ.get("ICX_FAULT_SCALE", "1") or 1))


def scaled(count: int) -> int:
    """Sizes for CI by default; ICX_FAULT_SCALE=5 makes a manual run five times larger."""
    return int(count * SCALE)


@pytest.fixture
async def slack() -> AsyncIterator[FaultySlack]:
    standin = FaultySlack()
    await standin.start()
    yield standin
    standin.release_hung.set()
    await standin.stop()


ServerFactory = Callable[..., IcxServer]


@pytest.fixture
async def servers(
    slack: FaultySlack, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """Makes `icx serve` processes on a database (not started); all are stopped at the end,
    and their logs' tails shown when the test failed."""
    made: list[IcxServer] = []
    config = write_company(tmp_path)

    def make(database_url: str, name: str = "icx", **env: str) -> IcxServer:
        server = IcxServer(environment(database_url, slack.api_url, config, **env), tmp_path, name)
        made.append(server)
        return server

    yield make
    await asyncio.gather(*(server.stop() for server in made))
    if getattr(request.node, "failed", False):
        for server in made:
            print(f"--- {server.name} log ---\n{server.tail(80)}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True  # type: ignore[attr-defined]
    return report


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own, started; removed afterwards."""
    binaries = find_binaries()
    reason = why_not_runnable(binaries)
    if reason is not None:
        # Not failed under CI either: a CI machine may reach PostgreSQL as a service container
        # without having its server binaries; every other PostgreSQL test still runs there.
        pytest.skip(reason)
    assert binaries is not None
    made = Cluster.create(binaries)
    try:
        made.start()
        yield made
    finally:
        made.destroy()


@pytest.fixture
async def cluster_db(cluster: Cluster) -> AsyncIterator[Database]:
    database = Database(cluster.url)
    await upgrade(database.engine)
    yield database
    await database.dispose()
