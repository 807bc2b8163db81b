"""POST /api/v1/webhooks/{tool}: one handler for every helpdesk. It checks what is common
(configured, JSON, size, signature), lets the tool's connector read the payload, and ends in
the same `record_interaction` as the intake API: same policy, idempotency and refusals."""

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bots.http_body import BodyTooLarge, read_body
from bots.intake_api import outcome_response, people_unavailable
from bots.webhooks import jira, servicenow, zendesk
from bots.webhooks.connector import Connector, PayloadInvalid
from core.context import Icx
from core.helpdesks import Ignored, Tool, to_interaction
from core.intake import IntakeRejected, record_interaction
from core.ports import DirectoryUnavailable
from core.settings import Settings

log = logging.getLogger(__name__)

# Jira sends the whole issue, description and all; a resolution is never this large.
MAX_BODY = 1024 * 1024
CONNECTORS: dict[Tool, Connector] = {
    c.tool: c for c in (jira.CONNECTOR, servicenow.CONNECTOR, zendesk.CONNECTOR)
}

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _problem(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _ignored(connector: Connector, reason: str) -> web.Response:
    # Reasons name tickets, projects and groups, never people: safe for the log.
    log.info("%s webhook ignored: %s", connector.name, reason)
    return web.json_response({"status": "ignored", "reason": reason}, status=202)


def secret_variable(tool: Tool) -> str:
    return f"ICX_{tool.value.upper()}_WEBHOOK_SECRET"


def webhook_handler(icx: Icx, settings: Settings) -> Handler:
    secrets = {tool: getattr(settings, secret_variable(tool).lower()) for tool in CONNECTORS}

    async def handle(request: web.Request) -> web.Response:
        try:
            connector = CONNECTORS[Tool(request.match_info["tool"])]
        except ValueError:
            known = ", ".join(t.value for t in CONNECTORS)
            return _problem(404, "unknown_helpdesk", f"icx takes webhooks from: {known}")
        secret = secrets[connector.tool]
        if secret is None:
            return _problem(
                404,
                "not_configured",
                f"{connector.name} webhooks are off: set {secret_variable(connector.tool)} "
                "to the webhook's secret and restart icx",
            )
        if request.content_type != "application/json":
            return _problem(415, "unsupported_media_type", "send the body as application/json")
        try:
            raw = await read_body(request, MAX_BODY)
        except BodyTooLarge:
            return _problem(413, "too_large", f"the body may be at most {MAX_BODY} bytes")
        if not connector.authentic(request.headers, raw, secret.get_secret_value(), icx.clock()):
            log.warning("%s webhook with a missing, wrong or stale signature", connector.name)
            return _problem(401, "unauthorized", connector.how_to_sign)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as error:
            return _problem(400, "invalid_json", f"the body is not valid JSON: {error}")
        try:
            resolved = connector.read(body)
        except PayloadInvalid as error:
            return _problem(
                400, "invalid_payload", f"not a {connector.name} ticket payload: {error}"
            )
        if isinstance(resolved, Ignored):
            return _ignored(connector, resolved.reason)
        interaction = to_interaction(icx.company, resolved)
        if isinstance(interaction, Ignored):
            return _ignored(connector, f"{resolved.ticket}: {interaction.reason}")
        try:
            outcome = await record_interaction(icx, interaction)
        except IntakeRejected as rejected:
            # The mapping is checked at start-up, so this is a platform that is not connected.
            return _problem(400, "invalid_request", str(rejected))
        except DirectoryUnavailable as error:
            return people_unavailable(error)
        log.info(
            "%s %s recorded as interaction %s (%s)",
            connector.name,
            resolved.ticket,
            outcome.interaction_id,
            outcome.status if outcome.reason is None else outcome.reason.value,
        )
        return outcome_response(outcome)

    return handle
