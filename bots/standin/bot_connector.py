"""A local stand-in for the Bot Framework Connector service (Teams' `serviceUrl`) and for the
Bot Framework token-signing keys: answers the REST calls botbuilder's ConnectorClient makes the
way the service does, records every call, and fails on demand (5xx, 429 with Retry-After, or
403 for a conversation whose user removed the app).

Put `service_url` in an activity's `serviceUrl`; botbuilder then sends replies, updates and
member look-ups here. To test authentication, point the bot's
`TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL` at `openid_metadata_url` and send activities with
`Authorization: Bearer {sign_token(app_id)}`.

It imports no botbuilder on purpose: it plays the remote side, and must keep working when the
SDK behind bots/teams is replaced.
"""

import asyncio
import base64
import http.server
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bots.standin import polling

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
DEFAULT_TENANT_ID = "5b7c4d2e-8f1a-4e3b-9c6d-2a1f0e9d8c7b"


@dataclass(frozen=True)
class ConnectorCall:
    """One request as the stand-in received it.

    `path` is the raw request path (conversation ids still percent-encoded, as sent);
    `conversation_id` and `activity_id` are decoded. `status` is what the stand-in answered.
    """

    verb: str
    path: str
    conversation_id: str | None
    activity_id: str | None
    body: dict[str, Any] | None
    authorization: str | None
    status: int = 0


@dataclass
class ConnectorFault:
    status: int
    retry_after: float | None = None
    path_contains: str | None = None  # None: whichever Connector call comes next


@dataclass
class StandInMember:
    """A conversation member as Teams describes it (a TeamsChannelAccount)."""

    user_id: str
    aad_object_id: str
    name: str
    email: str | None = None
    upn: str | None = None
    tenant_id: str = DEFAULT_TENANT_ID

    def as_teams(self) -> dict[str, Any]:
        given, _, surname = self.name.partition(" ")
        return {
            "id": self.user_id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "email": self.email,
            "userPrincipalName": self.upn or self.email,
            "givenName": given,
            "surname": surname or None,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


@dataclass
class BotConnectorStandIn:
    tenant_id: str = DEFAULT_TENANT_ID
    calls: list[ConnectorCall] = field(default_factory=list)
    faults: list[ConnectorFault] = field(default_factory=list)
    members: dict[str, StandInMember] = field(default_factory=dict)
    blocked_conversations: set[str] = field(default_factory=set)
    # Paths of OpenID metadata and key fetches (kept apart from `calls`: no faults apply).
    key_fetches: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _signing_key: rsa.RSAPrivateKey | None = None
    _foreign_key: rsa.RSAPrivateKey | None = None
    _kid: str = ""
    _key_server: http.server.ThreadingHTTPServer | None = None
    _key_thread: threading.Thread | None = None
    _key_server_url: str = ""
    _instance: str = field(default_factory=lambda: secrets.token_hex(6))

    # --- set-up ---------------------------------------------------------------------------

    def add_member(
        self,
        user_id: str,
        aad_object_id: str,
        name: str,
        email: str | None = None,
        upn: str | None = None,
    ) -> StandInMember:
        member = StandInMember(user_id, aad_object_id, name, email, upn, self.tenant_id)
        self.members[user_id] = member
        return member

    def fail_next(self, count: int, status: int = 502, path_contains: str | None = None) -> None:
        self.faults.extend(ConnectorFault(status, None, path_contains) for _ in range(count))

    def rate_limit_next(
        self, count: int, retry_after: float | None = 1, path_contains: str | None = None
    ) -> None:
        self.faults.extend(ConnectorFault(429, retry_after, path_contains) for _ in range(count))

    def unreachable_conversation(self, conversation_id: str) -> None:
        """From now on, sends and updates to this conversation answer 403
        ConversationBlockedByUser, as Teams does once the user removed the app."""
        self.blocked_conversations.add(conversation_id)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        # The published signing key; sign_token(key="foreign") makes an unpublished second one.
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = base64.urlsafe_b64encode(secrets.token_bytes(20)).decode().rstrip("=")
        app = web.Application()
        conversation = "/v3/conversations/{conversation_id}"
        activity = conversation + "/activities/{activity_id}"
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post(conversation + "/activities", self._send)
        app.router.add_post(activity, self._send)
        app.router.add_put(activity, self._update)
        app.router.add_delete(activity, self._delete)
        app.router.add_get(conversation + "/members", self._members)
        app.router.add_get(conversation + "/members/{member_id}", self._member)
        # Also served here for clients that fetch asynchronously; botbuilder must be given
        # `openid_metadata_url` (see there).
        app.router.add_get("/openid/.well-known/openidconfiguration", self._openid_configuration)
        app.router.add_get("/openid/keys", self._keys)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        self._start_key_server(host)
        return self.service_url

    async def stop(self) -> None:
        if self._key_server is not None:
            await asyncio.to_thread(self._key_server.shutdown)
            self._key_server.server_close()
            self._key_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def service_url(self) -> str:
        """What Teams puts in `serviceUrl`: always with the trailing slash."""
        return f"{self.url}/"

    # --- tokens ---------------------------------------------------------------------------

    @property
    def openid_metadata_url(self) -> str:
        """Where the bot should fetch the OpenID metadata.

        Served from a separate thread, not from the event loop: botbuilder fetches it with the
        blocking `requests` library from inside its (async) request handler, which would
        deadlock against a server on the same loop. The query string makes the URL unique per
        stand-in, because botbuilder caches keys per URL for a day in a class attribute, and a
        later stand-in may be given the same port.
        """
        return (
            f"{self._key_server_url}/openid/.well-known/openidconfiguration"
            f"?stand-in={self._instance}"
        )

    def sign_token(
        self,
        app_id: str,
        *,
        service_url: str | None = None,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        lifetime: int = 3600,
        key: str = "own",
    ) -> str:
        """A token as the Bot Framework channel signs it for a bot (RS256, `kid` header).

        A negative `lifetime` gives an expired token (botbuilder allows 5 minutes of clock
        skew, so use less than -300). `key="foreign"` signs with an unpublished key under the
        published kid: a forged token.
        """
        if self._signing_key is None:
            raise RuntimeError("start() the stand-in first")
        if key == "own":
            signer = self._signing_key
        elif key == "foreign":
            if self._foreign_key is None:
                self._foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            signer = self._foreign_key
        else:
            raise ValueError(f"key must be 'own' or 'foreign', not {key!r}")
        now = int(time.time())
        claims = {
            "serviceurl": self.service_url if service_url is None else service_url,
            "nbf": min(now, now + lifetime) - 300,
            "exp": now + lifetime,
            "iss": issuer,
            "aud": app_id,
        }
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": self._kid})

    def _openid_document(self, base: str) -> dict[str, Any]:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{base}openid/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def _jwks(self) -> dict[str, Any]:
        assert self._signing_key is not None
        jwk = RSAAlgorithm.to_jwk(self._signing_key.public_key(), as_dict=True)
        jwk.update(kid=self._kid, use="sig", endorsements=["msteams"])
        return {"keys": [jwk]}

    def _start_key_server(self, host: str) -> None:
        standin = self

        class KeyHandler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                standin.key_fetches.append(self.path)
                if path == "/openid/.well-known/openidconfiguration":
                    body = standin._openid_document(standin._key_server_url + "/")
                elif path == "/openid/keys":
                    body = standin._jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._key_server = http.server.ThreadingHTTPServer((host, 0), KeyHandler)
        self._key_server.daemon_threads = True
        bound = self._key_server.server_address
        self._key_server_url = f"http://{bound[0]}:{bound[1]}"
        self._key_thread = threading.Thread(
            target=self._key_server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop() waits for one poll
            name="bot-connector-keys",
            daemon=True,
        )
        self._key_thread.start()

    # --- inspection -----------------------------------------------------------------------

    def sent(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Activities the stand-in accepted (send or reply), optionally in one conversation."""
        return self._bodies("POST", conversation_id)

    def updated(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Activities the stand-in accepted as updates (PUT), optionally in one conversation."""
        return self._bodies("PUT", conversation_id)

    def _bodies(self, verb: str, conversation_id: str | None) -> list[dict[str, Any]]:
        return [
            c.body
            for c in self.calls
            if c.verb == verb
            and "/activities" in c.path
            and c.body is not None
            and 200 <= c.status < 300
            and (conversation_id is None or c.conversation_id == conversation_id)
        ]

    async def wait_for(self, check: Callable[[], Any], within: float = 5.0) -> Any:
        return await polling.wait_for(check, within, lambda: self.calls)

    # --- the service ----------------------------------------------------------------------

    def _new_activity_id(self) -> str:
        # Teams' message ids are epoch milliseconds.
        return str(1_700_000_000_000 + next(self._ids))

    def _fault_for(self, request: web.Request) -> ConnectorFault | None:
        paths = (request.path, request.raw_path)  # decoded, and as sent (percent-encoded)
        for index, fault in enumerate(self.faults):
            if fault.path_contains is None or any(fault.path_contains in p for p in paths):
                return self.faults.pop(index)
        return None

    async def _handle(
        self,
        request: web.Request,
        answer: Callable[[web.Request, dict[str, Any] | None], web.Response],
    ) -> web.Response:
        """Records the call and answers it: a pending fault first, else the route's answer."""
        body: dict[str, Any] | None = None
        malformed = False
        if request.can_read_body:
            text = await request.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                malformed = True
        fault = self._fault_for(request)
        if fault is not None:
            response = self._fault_response(fault)
        elif malformed:
            response = _error(400, "BadSyntax", "The request body is not valid JSON.")
        else:
            response = answer(request, body)
        self.calls.append(
            ConnectorCall(
                verb=request.method,
                path=request.raw_path,
                conversation_id=request.match_info.get("conversation_id"),
                activity_id=request.match_info.get("activity_id"),
                body=body,
                authorization=request.headers.get("Authorization"),
                status=response.status,
            )
        )
        return response

    @staticmethod
    def _fault_response(fault: ConnectorFault) -> web.Response:
        phrase = HTTPStatus(fault.status).phrase
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return _error(fault.status, phrase.replace(" ", ""), f"{phrase}.", headers)

    def _blocked(self, request: web.Request) -> web.Response | None:
        if request.match_info.get("conversation_id") in self.blocked_conversations:
            return _error(
                403,
                "ConversationBlockedByUser",
                "User blocked the conversation with the bot.",
            )
        return None

    async def _send(self, request: web.Request) -> web.Response:
        def answer(request: web.Request, _: dict[str, Any] | None) -> web.Response:
            blocked = self._blocked(request)
            if blocked is not None:
                return blocked
            return web.json_response({"id": self._new_activity_id()}, status=201)

        return await self._handle(request, answer)

    async def _update(self, request: web.Request) -> web.Response:
        def answer(request: web.Request, _: dict[str, Any] | None) -> web.Response:
            blocked = self._blocked(request)
            if blocked is not None:
                return blocked
            return web.json_response({"id": request.match_info["activity_id"]})

        return await self._handle(request, answer)

    async def _delete(self, request: web.Request) -> web.Response:
        return await self._handle(request, lambda *_: web.Response(status=200))

    async def _members(self, request: web.Request) -> web.Response:
        return await self._handle(
            request,
            lambda *_: web.json_response([m.as_teams() for m in self.members.values()]),
        )

    async def _member(self, request: web.Request) -> web.Response:
        def answer(request: web.Request, _: dict[str, Any] | None) -> web.Response:
            wanted = request.match_info["member_id"]
            for member in self.members.values():
                if wanted in (member.user_id, member.aad_object_id):
                    return web.json_response(member.as_teams())
            return _error(
                404, "MemberNotFoundInConversation", "The member is not in the conversation."
            )

        return await self._handle(request, answer)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        def answer(_: web.Request, body: dict[str, Any] | None) -> web.Response:
            result: dict[str, Any] = {
                "id": f"a:new-conv-{next(self._ids)}",
                "serviceUrl": self.service_url,
            }
            if body and body.get("activity"):
                result["activityId"] = self._new_activity_id()
            return web.json_response(result, status=201)

        return await self._handle(request, answer)

    async def _unknown(self, request: web.Request) -> web.Response:
        """Anything botbuilder calls that the stand-in does not know: recorded, then 404."""
        return await self._handle(
            request,
            lambda r, _: _error(404, "NotFound", f"No route for {r.method} {r.path}."),
        )

    async def _openid_configuration(self, request: web.Request) -> web.Response:
        self.key_fetches.append(request.path_qs)
        return web.json_response(self._openid_document(self.service_url))

    async def _keys(self, request: web.Request) -> web.Response:
        self.key_fetches.append(request.path_qs)
        return web.json_response(self._jwks())
