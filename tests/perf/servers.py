"""Server processes: the icx server (and, in tests.perf.baselines, the baselines) each in a
process of its own, so that none steals another's event loop and each one's memory is its own.

Started with `spawn`: a child imports only the module of its target function, so this module
and tests.perf.baselines import nothing heavy at their top. (Run the benchmarks as
`python -m tests.perf`: a package's __main__ is the one main module that spawned children do
not import again.)
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.perf.report import peak_rss_mib

if TYPE_CHECKING:
    from core.config import Config

HOST = "127.0.0.1"
# Spawning and importing botbuilder takes a few seconds on a busy machine.
START_WITHIN = 60.0

Stop = Callable[[], Awaitable[None]]
Start = Callable[[], Awaitable[tuple[str, Stop]]]


def new_log_file() -> str:
    """Where the servers write warnings and errors (e.g. why a request answered 500); kept
    after the run, and named in the report."""
    handle, path = tempfile.mkstemp(prefix="icx-perf-", suffix=".log")
    os.close(handle)
    return path


def errors_logged(log_file: str) -> int:
    return sum(" ERROR " in line for line in Path(log_file).read_text().splitlines())


def child_logging(log_file: str) -> None:
    # To a file: thousands of failed requests would bury the report in tracebacks.
    logging.basicConfig(
        filename=log_file,
        level=logging.WARNING,
        format="%(asctime)s %(processName)s %(levelname)s %(name)s: %(message)s",
    )
    # The benchmarks turn Teams authentication off on purpose; the warning says so every start.
    logging.getLogger("bots.teams.app").setLevel(logging.ERROR)
    # botbuilder's schema lacks fields Teams really sends (channelData.source): one line per
    # install, thousands of them in preparation.
    logging.getLogger("msrest.serialization").setLevel(logging.ERROR)


async def serve_until_told(start: Start, conn: Connection) -> None:
    """Starts a server, sends its URL to the orchestrator, and stops it when told to (or when
    the orchestrator goes away)."""
    url, stop = await start()
    conn.send(url)
    try:
        await asyncio.to_thread(conn.recv)
    except EOFError:
        pass
    await stop()


def serve_icx(config: Config, log_file: str, background: bool, conn: Connection) -> None:
    """What `icx serve` runs, nothing more: the real Runtime and server, real clock; with
    `background` the outbox and scheduler run as in production."""
    from bots.runtime import Runtime, RuntimeOptions
    from bots.server import start_server

    child_logging(log_file)

    async def start() -> tuple[str, Stop]:
        runtime = Runtime(config, RuntimeOptions(background=background))
        server = await start_server(runtime, HOST, 0)
        return server.url, server.stop

    asyncio.run(serve_until_told(start, conn))


@dataclass
class ServerProcess:
    name: str
    process: SpawnProcess
    conn: Connection
    url: str

    def peak_rss_mib(self) -> float:
        return peak_rss_mib(self.process.pid)

    def cpu_seconds(self) -> float:
        # utime and stime, fields 14 and 15 of /proc/<pid>/stat (after the parenthesized name).
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def settle(self, within: float = 120.0) -> float:
        """Waits until the server is idle; returns how long that took. A server that fell
        behind keeps working on requests whose sender gave up: that work must neither compete
        with the next measurement nor be missing from a commit check."""
        began = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - began < within:
            await asyncio.sleep(0.25)
            now = self.cpu_seconds()
            if now - before < 0.025:  # under a tenth of a core: background loops only
                break
            before = now
        return time.monotonic() - began


@asynccontextmanager
async def server_process(
    name: str, target: Callable[..., None], *args: Any
) -> AsyncIterator[ServerProcess]:
    """Runs `target(*args, conn)` in a spawned process until the block ends."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), name=name, daemon=True)
    process.start()
    theirs.close()
    try:
        if not await asyncio.to_thread(ours.poll, START_WITHIN):
            raise RuntimeError(f"the {name} server did not start within {START_WITHIN:.0f} s")
        url = ours.recv()
    except EOFError:
        raise RuntimeError(
            f"the {name} server exited on start (exit code {process.exitcode})"
        ) from None
    try:
        yield ServerProcess(name, process, ours, url)
    finally:
        ours.send("stop")
        await asyncio.to_thread(process.join, 30)
        if process.is_alive():
            process.kill()


def scrub_environment() -> None:
    """No developer's Slack or Teams settings, proxies or DATABASE_URL leak into the servers
    (they read the environment, and spawned processes inherit it)."""
    for name in list(os.environ):
        upper = name.upper()
        if upper.startswith(("SLACK_", "MICROSOFT_", "ICX_")) and upper != "ICX_TEST_POSTGRES":
            del os.environ[name]
        if upper in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "DATABASE_URL"):
            del os.environ[name]
