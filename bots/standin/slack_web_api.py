"""A local stand-in for Slack's Web API (and response_url): answers the methods icx calls the
way Slack does, records every call, and fails on demand (HTTP 5xx, or 429 with Retry-After).

Point SLACK_API_URL at `{url}/api/` and put `{url}/respond/<id>` in payloads' response_url.
File uploads take Slack's three steps: files.getUploadURLExternal hands out `{url}/upload/<file
id>`, the bytes are POSTed there (recorded as the call "upload"), files.completeUploadExternal
finishes them; an image block may then show the file by its id (`slack_file`).
"""

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bots.standin import polling
from bots.standin.rate_limits import PostLimits


@dataclass(frozen=True)
class Call:
    method: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Posted:
    """A chat.postMessage the stand-in accepted: when (time.monotonic()), what, and its ts."""

    at: float
    payload: dict[str, Any]
    ts: str


@dataclass
class Fault:
    status: int
    retry_after: int | None = None
    method: str | None = None  # None: whichever call comes next


@dataclass
class StandInUser:
    id: str
    name: str
    email: str | None = None
    is_bot: bool = False
    locale: str = "en-US"
    deleted: bool = False

    def as_slack(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "real_name": self.name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "locale": self.locale,
            "profile": {"email": self.email, "real_name": self.name},
        }


@dataclass
class SlackStandIn:
    bot_user_id: str = "UICXBOT01"
    team_id: str = "T0ACME001"
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    users: dict[str, StandInUser] = field(default_factory=dict)
    # Slack user groups (S… id) and the user ids in each.
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    # Uploaded bytes by file id; completed files (id -> {"title", "channel_id"}).
    uploads: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""
    # Socket Mode: acks icx sent back over the socket; set reject_app_token to refuse it.
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    reject_app_token: bool = False
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    _file_ids: Any = field(default_factory=lambda: itertools.count(1))
    _pending_files: dict[str, int] = field(default_factory=dict)  # file id -> declared length
    _processing_posts: int = 0
    # Opt-in (limit_posts): Slack's chat.postMessage rate limits; what got through, and when.
    post_limits: PostLimits | None = None
    posted: list[Posted] = field(default_factory=list)

    # --- set-up ---------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, **details: Any) -> StandInUser:
        user = StandInUser(user_id, name, **details)
        self.users[user_id] = user
        return user

    def fail_next(self, count: int, status: int = 503, method: str | None = None) -> None:
        self.faults.extend(Fault(status, None, method) for _ in range(count))

    def rate_limit_next(self, count: int, retry_after: int = 1, method: str | None = None) -> None:
        self.faults.extend(Fault(429, retry_after, method) for _ in range(count))

    def limit_posts(self, workspace_rate: float, workspace_burst: float) -> PostLimits:
        """From now on chat.postMessage keeps Slack's limits: one message a second per
        channel and `workspace_rate` a second workspace-wide (after a burst), else 429."""
        self.post_limits = PostLimits(workspace_rate, workspace_burst)
        return self.post_limits

    def delay_file_processing(self, posts: int) -> None:
        """Slack processes a completed upload in the background: until it is done, a message
        showing the file answers invalid_blocks. The next `posts` such messages do."""
        self._processing_posts = posts

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{token}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, token: str = "r1") -> str:
        return f"{self.url}/respond/{token}"

    # --- Socket Mode ----------------------------------------------------------------------

    @property
    def socket_connected(self) -> bool:
        return any(not socket.closed for socket in self._sockets)

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Delivers an event, interaction or command the way Slack does over Socket Mode."""
        envelope_id = f"env-{next(self._ts)}"
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }
        for socket in self._sockets:
            if not socket.closed:
                await socket.send_json(message)
        return envelope_id

    def ack_for(self, envelope_id: str) -> dict[str, Any] | None:
        return next((a for a in self.socket_acks if a.get("envelope_id") == envelope_id), None)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1})
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return socket

    # --- inspection -----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, check: Callable[[], Any], within: float = 5.0) -> Any:
        return await polling.wait_for(check, within, lambda: self.calls)

    # --- the API --------------------------------------------------------------------------

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        payload: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                payload.update(await request.json())
            else:
                payload.update(dict(await request.post()))
        for key in ("blocks", "view", "files"):
            if isinstance(payload.get(key), str):
                payload[key] = json.loads(payload[key])
        return payload

    def _fault_for(self, method: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.method in (None, method):
                return self.faults.pop(index)
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await self._payload(request)
        self.calls.append(Call(method, payload))
        fault = self._fault_for(method) or self._over_limit(method, payload)
        if fault is not None:
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            body = {
                "ok": False,
                "error": "ratelimited" if fault.status == 429 else "internal_error",
            }
            return web.json_response(body, status=fault.status, headers=headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer = handler(payload)
        if method == "chat.postMessage" and answer.get("ok"):
            self.posted.append(Posted(time.monotonic(), payload, str(answer["ts"])))
        return web.json_response(answer)

    def _over_limit(self, method: str, payload: dict[str, Any]) -> Fault | None:
        if method != "chat.postMessage" or self.post_limits is None:
            return None
        retry_after = self.post_limits.refuse(str(payload.get("channel", "")))
        return None if retry_after is None else Fault(429, retry_after, method)

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: takes the file's bytes, raw or as the multipart field `file`, and
        answers in plain text as files.slack.com does."""
        file_id = request.match_info["file_id"]
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file")
            data = part.file.read() if isinstance(part, web.FileField) else b""
        else:
            data = await request.read()
        self.calls.append(
            Call(
                "upload",
                {"file_id": file_id, "bytes": len(data), "content_type": request.content_type},
            )
        )
        fault = self._fault_for("upload")
        if fault is not None:
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            return web.Response(text="error", status=fault.status, headers=headers)
        if file_id not in self._pending_files:
            return web.Response(text="not found", status=404)
        self.uploads[file_id] = data
        return web.Response(text=f"OK - {len(data)}")

    async def _respond(self, request: web.Request) -> web.Response:
        self.calls.append(Call("response_url", await request.json()))
        return web.Response(text="ok")

    def _apps_connections_open(self, _: dict[str, Any]) -> dict[str, Any]:
        if self.reject_app_token:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "BICX01",
        }

    def _chat_postMessage(self, payload: dict[str, Any]) -> dict[str, Any]:
        channel = str(payload.get("channel", ""))
        invalid = self._invalid_slack_files(payload.get("blocks"))
        if invalid:
            return {"ok": False, "error": "invalid_blocks", "errors": invalid}
        if channel.startswith(("U", "W")):
            if channel not in self.users or self.users[channel].deleted:
                return {"ok": False, "error": "user_not_found"}
            channel = "D" + channel[1:]
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}

    def _invalid_slack_files(self, blocks: Any) -> list[str]:
        """Image blocks must show files whose upload was completed (and processed)."""
        shown = [
            (index, block["slack_file"].get("id"))
            for index, block in enumerate(blocks if isinstance(blocks, list) else [])
            if isinstance(block, dict) and isinstance(block.get("slack_file"), dict)
        ]
        if shown and self._processing_posts > 0:
            self._processing_posts -= 1
            return [f"invalid slack file [json-pointer:/blocks/{i}/slack_file]" for i, _ in shown]
        return [
            f"invalid slack file [json-pointer:/blocks/{index}/slack_file]"
            for index, file_id in shown
            if file_id not in self.files
        ]

    def _files_getUploadURLExternal(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(payload.get("length", ""))
        except ValueError:
            length = 0
        if not payload.get("filename") or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F0ICX{next(self._file_ids):06d}"
        self._pending_files[file_id] = length
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, payload: dict[str, Any]) -> dict[str, Any]:
        files = payload.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        if any(not isinstance(f, dict) or f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        completed = []
        for f in files:
            title = f.get("title") or f["id"]
            self.files[f["id"]] = {"title": title, "channel_id": payload.get("channel_id")}
            completed.append({"id": f["id"], "title": title})
        return {"ok": True, "files": completed}

    def _chat_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": payload.get("channel"), "ts": payload.get("ts")}

    def _views_open(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V0001"}}

    def _users_info(self, payload: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(payload.get("user")))
        return (
            {"ok": True, "user": user.as_slack()}
            if user
            else {"ok": False, "error": "user_not_found"}
        )

    def _usergroups_users_list(self, payload: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(payload.get("usergroup")))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(group)}

    def _users_lookupByEmail(self, payload: dict[str, Any]) -> dict[str, Any]:
        email = str(payload.get("email", "")).casefold()
        for user in self.users.values():
            if user.email and user.email.casefold() == email:
                return {"ok": True, "user": user.as_slack()}
        return {"ok": False, "error": "users_not_found"}
