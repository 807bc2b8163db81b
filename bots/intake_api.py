"""POST /api/v1/interactions: the public intake contract (README: Intake API)."""

import hmac
import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bots.http_body import BodyTooLarge, read_body
from core.context import Icx
from core.intake import IntakeOutcome, IntakeRejected, InteractionIn, record_interaction
from core.ports import DirectoryUnavailable

MAX_BODY = 64 * 1024


def _problem(status: int, error: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": error, "message": message, **extra}, status=status)


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


async def parse_intake(request: web.Request, token: str) -> InteractionIn | web.Response:
    """Everything before the core: the token, the body and the contract; the parsed request, or
    the problem to answer with. (The intake benchmark's baseline runs exactly this.)"""
    if not _authorized(request, token):
        response = _problem(401, "unauthorized", "send Authorization: Bearer <ICX_API_TOKEN>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="icx"'
        return response
    if request.content_type != "application/json":
        return _problem(415, "unsupported_media_type", "send the body as application/json")
    try:
        raw = await read_body(request, MAX_BODY)
    except BodyTooLarge:
        return _problem(413, "too_large", f"the body may be at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:
        return _problem(400, "invalid_json", f"the body is not valid JSON: {error}")
    try:
        interaction = InteractionIn.model_validate(body)
    except ValidationError as error:
        problems = [
            {"field": _field(tuple(e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
            for e in error.errors(include_url=False)
        ]
        return _problem(
            400, "invalid_request", "the body does not match the contract", problems=problems
        )
    return interaction


async def handle_intake(request: web.Request, icx: Icx, token: str) -> web.Response:
    interaction = await parse_intake(request, token)
    if isinstance(interaction, web.Response):
        return interaction
    try:
        outcome = await record_interaction(icx, interaction)
    except IntakeRejected as rejected:
        problems = [{"field": p.field, "message": p.message} for p in rejected.problems]
        return _problem(
            400, "invalid_request", "the body names something unknown", problems=problems
        )
    except DirectoryUnavailable as error:
        return people_unavailable(error)
    return outcome_response(outcome)


def people_unavailable(error: DirectoryUnavailable) -> web.Response:
    response = _problem(503, "platform_unavailable", f"cannot look up the people now: {error}")
    response.headers["Retry-After"] = "30"
    return response


def outcome_response(outcome: IntakeOutcome) -> web.Response:
    """The intake API's answer; helpdesk webhooks answer the same way, so an automation reads
    both alike."""
    prompt: dict[str, Any] = {"id": outcome.prompt_id, "status": outcome.status}
    if outcome.reason is not None:
        prompt["reason"] = outcome.reason.value
    return web.json_response(
        {"interaction_id": outcome.interaction_id, "created": outcome.created, "prompt": prompt},
        status=201 if outcome.created else 200,
    )
