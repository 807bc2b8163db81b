"""GET /readyz: whether this process can do its work now — the database answers and carries the
schema this icx needs, the outbox and the scheduler run, and each configured chat platform is
set up. Cheap enough to be asked every few seconds: one short query, no call to a platform
(the Slack identity is the one checked at start-up). Details name what failed and what to do,
never a secret, a URL or a raw error message."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bots.runtime import Runtime
from storage.migrate import schema_state

TIMEOUT = 2.0  # seconds for each check; a probe's own timeout is usually a few more


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


async def database(runtime: Runtime) -> Check:
    try:
        state = await asyncio.wait_for(schema_state(runtime.db.engine), TIMEOUT)
    except TimeoutError:
        return Check(False, f"no answer within {TIMEOUT:g} s")
    except Exception as error:  # driver errors can quote the URL: only the kind is shown
        return Check(False, f"unreachable ({type(error).__name__})")
    problem = state.problem()
    return Check(problem is None, problem or f"reachable, schema at {state.current}")


def background(runtime: Runtime, name: str, running: bool) -> Check:
    if not runtime.options.background:
        return Check(True, "not run by this process")
    return Check(running, "running" if running else f"the {name} is not running")


async def slack(runtime: Runtime) -> Check:
    bot = runtime.slack
    assert bot is not None
    try:
        # Answered from memory: start-up already asked Slack (auth.test) and keeps the answer.
        await asyncio.wait_for(bot.identify(), TIMEOUT)
    except Exception as error:
        return Check(False, f"bot identity unknown ({type(error).__name__})")
    if not runtime.socket_mode:
        return Check(True, "identity known; events over HTTP")
    if not runtime.options.listen:
        return Check(True, "identity known; Socket Mode not used by this process")
    if await _socket_connected(runtime):
        return Check(True, "identity known; Socket Mode connected")
    return Check(False, "Socket Mode not connected (reconnecting; check SLACK_APP_TOKEN)")


async def _socket_connected(runtime: Runtime) -> bool:
    return runtime.slack is not None and await runtime.slack.socket_connected()


def teams(runtime: Runtime) -> Check:
    app = runtime.teams
    assert app is not None
    if app.app_id:
        return Check(True, "app configured; authentication on")
    return Check(True, "authentication OFF (ICX_TEAMS_WITHOUT_AUTH): local testing only")


async def checks(runtime: Runtime) -> dict[str, Check]:
    found = {
        # First, so a load balancer stops sending work as soon as SIGTERM arrives.
        "accepting": Check(False, "shutting down")
        if runtime.draining
        else Check(True, "taking work"),
        "database": await database(runtime),
        "outbox": background(runtime, "outbox", runtime.outbox.running),
        "scheduler": background(runtime, "scheduler", runtime.scheduler.running),
    }
    if runtime.slack is not None:
        found["slack"] = await slack(runtime)
    if runtime.teams is not None:
        found["teams"] = teams(runtime)
    return found


def handler(runtime: Runtime) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def readyz(_: web.Request) -> web.Response:
        found = await checks(runtime)
        failing = sorted(name for name, check in found.items() if not check.ok)
        body = {
            "status": "not ready" if failing else "ready",
            "failing": failing,
            "checks": {name: check.as_json() for name, check in found.items()},
        }
        # No caching by a proxy: the answer is about this moment.
        headers = {"Cache-Control": "no-store"}
        return web.json_response(body, status=503 if failing else 200, headers=headers)

    return readyz
