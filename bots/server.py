"""The one HTTP server of `icx serve`: Slack, Teams, the intake API, health and metrics."""

import asyncio
import gc
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from bots.db_errors import database_unavailable
from bots.intake_api import handle_intake
from bots.ops import endpoints
from bots.runtime import Runtime
from bots.slack.adapter import MAX_BODY
from bots.webhooks import webhook_handler

log = logging.getLogger(__name__)

# Of the shutdown time (ICX_SHUTDOWN_TIMEOUT): for requests and background sends in flight.
DRAIN_SHARE = 0.75


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    settings = runtime.config.settings
    token = settings.icx_api_token
    assert token is not None

    async def intake(request: web.Request) -> web.Response:
        return await handle_intake(request, runtime.icx, token.get_secret_value())

    app.router.add_post("/api/v1/interactions", intake)
    app.router.add_post("/api/v1/webhooks/{tool}", webhook_handler(runtime.icx, settings))
    endpoints.install(app, runtime)
    # Innermost, so request logs and metrics see the 503 it answers for a database outage.
    app.middlewares.append(database_unavailable)
    if runtime.slack is not None and not runtime.socket_mode:
        app.router.add_post("/slack/events", runtime.slack.http_handler())
    if runtime.teams is not None:
        app.router.add_post("/api/messages", runtime.teams.http_handler())
    return app


@dataclass
class RunningServer:
    runtime: Runtime
    runner: web.AppRunner
    url: str

    async def stop(self, within: float | None = None) -> None:
        """Graceful, and done within `within` seconds (default ICX_SHUTDOWN_TIMEOUT): stops
        listening (a load balancer's new connections go to another replica), lets requests
        and background sends in flight finish, then what the requests started, then closes."""
        budget = self.runtime.shutdown_timeout if within is None else within
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        self.runtime.draining = True
        # Requests and background work wind down side by side; most of the time is theirs,
        # the rest is for what the requests started and for closing.
        await asyncio.gather(
            self._stop_http(budget * DRAIN_SHARE),
            self.runtime.stop_background(budget * DRAIN_SHARE),
        )
        await self.runtime.stop(max(0.0, deadline - loop.time()))

    async def _stop_http(self, within: float) -> None:
        try:
            # The runner waits for handlers in flight (its shutdown_timeout), then cancels them.
            await asyncio.wait_for(self.runner.cleanup(), within)
        except TimeoutError:
            log.warning("requests still in flight after %.0f s were cut off", within)


async def start_server(runtime: Runtime, host: str, port: int) -> RunningServer:
    # cleanup() waits this long for handlers in flight and as long again for cancelled ones.
    shutdown_timeout = runtime.shutdown_timeout * DRAIN_SHARE / 2
    runner = web.AppRunner(create_app(runtime), access_log=None, shutdown_timeout=shutdown_timeout)
    try:
        await runtime.start()
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        # Whatever did start (HTTP session, database pool, loops) is closed, not leaked.
        await runner.cleanup()
        await runtime.stop()
        raise
    # What start-up loaded (modules, catalogs, the Slack and database clients) lives as long as
    # the process. Frozen, it is left out of every later full collection, which otherwise
    # walks it all and stops the event loop for tens of milliseconds: measured, the p99 of a
    # Slack tap at 200/s went from 38-59 ms to 10 ms (tests/perf/slack_taps.py).
    gc.freeze()
    bound = runner.addresses[0]
    return RunningServer(runtime, runner, f"http://{bound[0]}:{bound[1]}")


async def serve_forever(runtime: Runtime, host: str, port: int) -> None:
    server = await start_server(runtime, host, port)
    log.info("icx listening on %s", server.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await _shut_down(server)


async def _shut_down(server: RunningServer) -> None:
    loop = asyncio.get_running_loop()
    # A second signal while draining means "now": nothing more is waited for.
    main = asyncio.current_task()
    if main is not None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, main.cancel)
    log.info(
        "stopping: no new connections; requests and sends in flight finish (at most %g s)",
        server.runtime.shutdown_timeout,
    )
    began = loop.time()
    try:
        await server.stop()
    except asyncio.CancelledError:
        log.warning("stopped at once on a second signal; work in flight was cut off")
        return
    log.info("stopped in %.1f s", loop.time() - began)
