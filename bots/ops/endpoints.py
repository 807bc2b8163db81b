"""Puts the operations side on the HTTP server: request ids and metrics around every request,
and GET /healthz, /readyz and /metrics."""

from aiohttp import web

from bots.ops import readiness, request_ids
from bots.ops.metrics import MetricsEndpoint
from bots.runtime import Runtime


async def healthz(_: web.Request) -> web.Response:
    """The process is alive and serving HTTP; whether it can work is /readyz's question."""
    return web.json_response({"status": "ok"})


def install(app: web.Application, runtime: Runtime) -> None:
    token = runtime.config.settings.icx_metrics_token
    metrics = MetricsEndpoint(
        runtime.db, runtime.icx.clock, token.get_secret_value() if token else None
    )
    # Outermost first: the request id is set before anything measured or logged runs.
    request_ids.install(app)
    app.middlewares.append(metrics.http.middleware())
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readiness.handler(runtime))
    app.router.add_get("/metrics", metrics.handle)
