"""The Bolt app: which Slack action calls which core operation, and what is shown after."""

import asyncio
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack import blocks
from bots.slack.adapter import handle_slack_request
from bots.slack.asking import AskListeners
from bots.slack.directory import SlackDirectory
from bots.slack.failures import answer_failure
from bots.slack.membership import SlackMembership
from bots.slack.messenger import SlackMessenger
from bots.slack.triggers import HelpChannelTriggers
from bots.tasks import BackgroundTasks
from core import prompt_text as words
from core import score_command
from core.answers import Answers, Tap, TapOutcome, TapResult
from core.config import ConfigError
from core.context import Icx
from core.i18n import Translator, negotiate, translator
from core.leaders import Asker
from core.ports import DirectoryUnavailable, Person

log = logging.getLogger(__name__)
LOCALE_LOOKUP_SECONDS = 1.0


class SlackSetupError(ConfigError):
    pass


def _user_of(body: dict[str, Any]) -> str:
    # Slack always names the user; a forged payload that does not is simply nobody's tap.
    return str((body.get("user") or {}).get("id", ""))


class SlackBot:
    """Listeners for prompts (taps, reasons, comment form, snooze) and /icx-score."""

    def __init__(
        self,
        icx: Icx,
        *,
        bot_token: str,
        signing_secret: str,
        api_url: str,
        tasks: BackgroundTasks,
    ) -> None:
        self.icx = icx
        client = AsyncWebClient(token=bot_token, base_url=api_url)
        # Bolt's own client carries no token: each request gets the one from authorize().
        bolt_client = AsyncWebClient(base_url=api_url)
        for web_client in (client, bolt_client):
            # slack_sdk reads HTTPS_PROXY but not NO_PROXY; an internal Slack URL listed there
            # (or a local stand-in) must not go through the proxy.
            if proxy_bypass_environment(urlsplit(api_url).hostname or ""):
                web_client.proxy = None
        self.client = client
        self._socket_mode: AsyncSocketModeHandler | None = None
        self._socket_connect: asyncio.Task[None] | None = None
        self._signing_secret = signing_secret
        self.directory = SlackDirectory(client)
        self.messenger = SlackMessenger(client)
        self.answers = Answers(icx)
        self._tasks = tasks
        self._identity: AuthorizeResult | None = None
        self._identity_lock = asyncio.Lock()
        # Taps are committed inside the listener, before the HTTP answer: the answer is saved
        # when Slack hears "ok", and the inline runner acknowledges faster than the default one.
        self.app = AsyncApp(
            client=bolt_client,
            signing_secret=signing_secret,
            process_before_response=True,
            authorize=self._authorizer(),
            # bots/slack/adapter.py verifies every HTTP request before Bolt sees it; Socket
            # Mode requests are not signed.
            request_verification_enabled=False,
        )
        self._register()

    async def identify(self) -> AuthorizeResult:
        """One auth.test for the process, instead of one per concurrent request on a cold start."""
        async with self._identity_lock:
            if self._identity is None:
                try:
                    auth = await self.client.auth_test()
                except SlackApiError as error:
                    raise SlackSetupError(
                        f"Slack rejected SLACK_BOT_TOKEN ({error.response.get('error')}); copy "
                        "the Bot User OAuth Token from the app's OAuth & Permissions page"
                    ) from error
                except (aiohttp.ClientError, TimeoutError) as error:
                    raise SlackSetupError(
                        f"cannot reach Slack at {self.client.base_url} ({error}); check the "
                        "network, HTTPS_PROXY/NO_PROXY and SLACK_API_URL"
                    ) from error
                self._identity = AuthorizeResult(
                    enterprise_id=auth.get("enterprise_id"),
                    team_id=auth.get("team_id"),
                    bot_user_id=auth.get("user_id"),
                    bot_id=auth.get("bot_id"),
                    bot_token=self.client.token,
                )
            return self._identity

    async def start(self, app_token: str | None = None) -> None:
        """Opens one HTTP session for all Web API calls, checks the token, and connects over
        Socket Mode when an app token is given."""
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.client.session = session
        self.app.client.session = session
        await self.identify()
        if app_token is not None:
            url = await self._socket_url(app_token)
            handler = AsyncSocketModeHandler(self.app, app_token, web_client=self.client)
            handler.client.wss_uri = url
            self._socket_mode = handler
            # The socket client retries a lost or failed connection forever; in the background
            # that keeps the intake API and health checks up while it does.
            self._socket_connect = asyncio.create_task(handler.connect_async())

    async def socket_connected(self) -> bool:
        """Whether Socket Mode is connected right now (False over HTTP, or before connecting)."""
        socket = self._socket_mode.client if self._socket_mode is not None else None
        return socket is not None and bool(await socket.is_connected())

    async def _socket_url(self, app_token: str) -> str:
        """Asked once here so that a wrong app token stops start-up with a reason."""
        try:
            opened = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as error:
            raise SlackSetupError(
                f"Slack rejected SLACK_APP_TOKEN ({error.response.get('error')}); create an "
                "app-level token with the connections:write scope on the app's Basic "
                "Information page, and turn on Socket Mode"
            ) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SlackSetupError(
                f"cannot reach Slack at {self.client.base_url} ({error})"
            ) from error
        return str(opened["url"])

    async def stop(self) -> None:
        if self._socket_mode is not None:
            await self._socket_mode.close_async()
            self._socket_mode = None
        if self._socket_connect is not None:
            await asyncio.gather(self._socket_connect, return_exceptions=True)
            self._socket_connect = None
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = self.app.client.session = None

    def http_handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await handle_slack_request(request, self.app, self._signing_secret)

        return handle

    def _authorizer(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        # Bolt passes arguments by parameter name, so this must be a plain function.
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return await self.identify()

        return authorize

    def _register(self) -> None:
        app = self.app
        app.action(re.compile(r"^icx_csat_[1-5]$"))(self._on_satisfaction)
        app.action(re.compile(r"^icx_ces_[1-7]$"))(self._on_effort)
        app.action("icx_reasons")(self._on_reasons)
        app.action("icx_comment")(self._on_comment_button)
        app.action("icx_snooze")(self._on_snooze)
        app.action(re.compile(r"^icx_change_(csat|ces)$"))(self._on_change)
        app.view(blocks.COMMENT_MODAL)(self._on_comment_submitted)
        app.command("/icx-score")(self._on_score)
        # A database outage answers 503 (not Bolt's 500) on every listener.
        app.error(answer_failure)
        # Asking for feedback where service happens: help-channel reactions, the message
        # shortcut and /icx-ask.
        membership = SlackMembership(self.icx.company, self.directory, self.client)
        HelpChannelTriggers(self.icx, membership, self._tasks).register(app)
        AskListeners(self.icx, membership, self._tasks).register(app)
        # Last: any other button (an old message, a forged payload) is acknowledged and explained.
        app.action(re.compile(".*"))(self._on_unknown_action)

    # --- taps -----------------------------------------------------------------------------

    @staticmethod
    def _tap(body: dict[str, Any], prompt_id: str) -> Tap:
        container = body.get("container") or {}
        return Tap(
            platform="slack",
            user_id=_user_of(body),
            prompt_id=prompt_id,
            channel_id=container.get("channel_id"),
            message_ts=container.get("message_ts"),
        )

    async def _on_satisfaction(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        tap = self._tap(body, action.get("value", ""))
        outcome = await self.answers.satisfaction(tap, int(action["action_id"].rsplit("_", 1)[1]))
        await ack()
        self._show(outcome, tap, respond)

    async def _on_effort(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        tap = self._tap(body, action.get("value", ""))
        outcome = await self.answers.effort(tap, int(action["action_id"].rsplit("_", 1)[1]))
        await ack()
        self._show(outcome, tap, respond)

    async def _on_reasons(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        tap = self._tap(body, str(action.get("block_id", "")).partition(":")[2])
        chosen = [o["value"] for o in action.get("selected_options") or []]
        outcome = await self.answers.reasons(tap, chosen)
        await ack()
        self._show(outcome, tap, respond)

    async def _on_snooze(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        tap = self._tap(body, action.get("value", ""))
        outcome = await self.answers.snooze(tap)
        await ack()
        self._show(outcome, tap, respond)

    async def _on_change(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        """Brings back an earlier question, the chosen answer highlighted, to change it."""
        tap = self._tap(body, action.get("value", ""))
        outcome = await self.answers.current(tap)
        await ack()
        self._show(outcome, tap, respond, stage=action["action_id"].rsplit("_", 1)[1])

    async def _on_comment_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        tap = self._tap(body, action.get("value", ""))
        outcome = await self.answers.current(tap)
        await ack()
        if outcome.state is None:
            self._tasks.spawn(self._explain(outcome, tap.user_id, respond))
            return
        if not (tap.channel_id and tap.message_ts):
            return  # not a tap on a message (Slack always sends the container): nothing to open
        t = translator(outcome.state.locale)
        modal = blocks.comment_modal(outcome.state, tap.channel_id, tap.message_ts, t)
        self._tasks.spawn(self.messenger.open_modal(body["trigger_id"], modal))

    async def _on_comment_submitted(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            if not isinstance(meta, dict):
                raise ValueError("private_metadata is not an object")
            values = view["state"]["values"]
            comment = values["comment"]["comment"].get("value")
            flags = {o["value"] for o in values["flags"]["flags"].get("selected_options") or []}
            # Text where text belongs: the core strips the comment and compares the ids.
            texts = (comment, meta.get("prompt_id"), meta.get("channel"), meta.get("ts"))
            if not all(v is None or isinstance(v, str) for v in texts):
                raise TypeError("a form field is not text")
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            t = await self._translator_for(_user_of(body))
            await ack(response_action="errors", errors={"comment": words.malformed_form(t)})
            return
        tap = Tap(
            "slack",
            _user_of(body),
            str(meta.get("prompt_id", "")),
            meta.get("channel"),
            meta.get("ts"),
        )
        outcome = await self.answers.details(
            tap, comment, "external_customer" in flags, "contact_consent" in flags
        )
        if not outcome.recorded:
            t = await self._translator_for(tap.user_id)
            await ack(
                response_action="errors", errors={"comment": words.refusal(outcome.result, t)}
            )
            return
        await ack()
        self._show(outcome, tap, respond=None)

    async def _on_unknown_action(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        log.info("ignored an unknown Slack action")
        self._tasks.spawn(self._explain(TapOutcome(TapResult.UNKNOWN), _user_of(body), respond))

    def _show(self, outcome: TapOutcome, tap: Tap, respond: Any, stage: str | None = None) -> None:
        """After the ack: redraw the message with what is now recorded, or explain a refusal."""
        state = outcome.state
        if state is None:
            self._tasks.spawn(self._explain(outcome, tap.user_id, respond))
            return
        if tap.channel_id and tap.message_ts:
            t = translator(state.locale)
            self._tasks.spawn(
                self.messenger.redraw(
                    tap.channel_id,
                    tap.message_ts,
                    blocks.blocks_for(state, t, stage),
                    blocks.fallback_text(state, t),
                )
            )

    async def _explain(self, outcome: TapOutcome, user_id: str, respond: Any) -> None:
        if respond is None:
            return
        t = await self._translator_for(user_id)
        await respond(
            text=words.refusal(outcome.result, t), response_type="ephemeral", replace_original=False
        )

    # --- commands ---------------------------------------------------------------------------

    async def _on_score(self, ack: Any, command: dict[str, Any]) -> None:
        user_id = str(command.get("user_id") or "")
        person = await self._person_of(user_id)
        t = translator(negotiate(person.locale if person else None))
        # Slack sends &, < and > in command text as HTML entities ("People &amp; HR").
        typed = html.unescape(command.get("text") or "")
        # The answer is ephemeral: only the asker reads it (so it may carry comments, if they
        # lead the department). The signed request vouches for the user id.
        asker = Asker("slack", user_id, person.email if person else None)
        answer = await score_command.answer(self.icx, typed, t, asker=asker)
        await ack(response_type="ephemeral", text=answer.title, blocks=blocks.score_blocks(answer))

    async def _person_of(self, user_id: str) -> Person | None:
        try:
            return await asyncio.wait_for(self.directory.by_id(user_id), LOCALE_LOOKUP_SECONDS)
        except (DirectoryUnavailable, TimeoutError):
            return None

    async def _translator_for(self, user_id: str) -> Translator:
        person = await self._person_of(user_id)
        return translator(negotiate(person.locale if person else None))
