"""The one HTTP server of `icx serve`: Slack, Teams, the intake API and health."""

import asyncio
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from bots.intake_api import handle_intake
from bots.runtime import Runtime
from bots.slack.adapter import MAX_BODY

log = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    settings = runtime.config.settings
    token = settings.icx_api_token
    assert token is not None

    async def intake(request: web.Request) -> web.Response:
        return await handle_intake(request, runtime.icx, token.get_secret_value())

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_post("/api/v1/interactions", intake)
    app.router.add_get("/healthz", health)
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

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.runtime.stop()


async def start_server(runtime: Runtime, host: str, port: int) -> RunningServer:
    runner = web.AppRunner(create_app(runtime), access_log=None)
    try:
        await runtime.start()
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        # Whatever did start (HTTP session, database pool, loops) is closed, not leaked.
        await runner.cleanup()
        await runtime.stop()
        raise
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
        log.info("stopping")
        await server.stop()
