"""Assembling Teams: Bot Framework authentication from the one settings object, the adapter,
the bot, and the directory and messenger the core uses."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import requests
from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticateRequestResult

from bots.teams.bot import TeamsBot
from bots.teams.credentials import CachedCredentialFactory
from bots.teams.directory import TeamsDirectory
from bots.teams.endpoint import CannotAuthenticate, NotAuthenticated, handle_activity
from bots.teams.messenger import TeamsMessenger
from bots.teams.msrest_patch import apply as apply_msrest_patch
from core.context import Icx
from core.departments import Company
from core.settings import Settings
from storage.teams_conversations import TeamsConversations

log = logging.getLogger(__name__)
apply_msrest_patch()

AUTH_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True)
class BotFrameworkConfig:
    """The attribute names botbuilder's configuration objects are read by."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str | None


def bot_framework_config(settings: Settings) -> BotFrameworkConfig:
    password = settings.microsoft_app_password
    return BotFrameworkConfig(
        APP_ID=settings.microsoft_app_id or "",
        APP_PASSWORD=password.get_secret_value() if password else "",
        APP_TYPE=settings.microsoft_app_type.value,
        APP_TENANTID=settings.microsoft_app_tenant_id,
    )


class TeamsApp:
    def __init__(self, icx: Icx, settings: Settings) -> None:
        config = bot_framework_config(settings)
        self.app_id = config.APP_ID
        self.credentials = CachedCredentialFactory(config)
        self._auth = ConfigurationBotFrameworkAuthentication(
            config, credentials_factory=self.credentials
        )
        self.adapter = CloudAdapter(self._auth)
        self.adapter.on_turn_error = self._on_turn_error
        conversations = TeamsConversations(icx.db)
        self.directory = TeamsDirectory(conversations)
        self.messenger = TeamsMessenger(self.adapter, self.app_id, conversations)
        self.bot = TeamsBot(icx, conversations, tenants=settings.teams_tenants)
        if self.app_id and not settings.teams_tenants:
            log.warning(
                "Teams: no MICROSOFT_APP_TENANT_ID or ICX_TEAMS_TENANTS set, so people of any "
                "Microsoft 365 organisation who install the app are served; set your tenant id"
            )
        if not self.app_id:
            log.warning(
                "Teams authentication is OFF (ICX_TEAMS_WITHOUT_AUTH, no MICROSOFT_APP_ID): "
                "anyone who can reach /api/messages can act as any Teams user. Local testing only."
            )

    async def check_channels(self, company: Company) -> None:
        """Says at start-up which configured channels icx cannot post to yet, instead of the
        first digest failing quietly."""
        for department in company.departments:
            for channel in (department.teams.digest_channel, department.teams.alert_channel):
                if channel is not None and not await self.messenger.can_post(channel):
                    log.warning(
                        "Teams channel %s of %s is not known to icx yet: add the icx app to its "
                        "team (or @mention icx there once)",
                        channel,
                        department.key,
                    )

    def http_handler(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await handle_activity(request, self.adapter, self.authenticate, self.bot.on_turn)

        return handle

    async def authenticate(self, activity: Activity, header: str) -> AuthenticateRequestResult:
        check = self._auth.authenticate_request
        try:
            if not self.app_id:
                return await check(activity, header)
            # botbuilder fetches Microsoft's signing keys with the blocking `requests` library
            # and no timeout; in a worker thread that fetch cannot stall every other request,
            # and a hung one answers 503 (Bot Framework retries) instead of never.
            return await asyncio.wait_for(
                asyncio.to_thread(asyncio.run, check(activity, header)), AUTH_TIMEOUT
            )
        except (requests.RequestException, TimeoutError) as error:
            log.error("cannot fetch Bot Framework signing keys: %s", error)
            raise CannotAuthenticate("Bot Framework signing keys unavailable") from None
        # PermissionError, PyJWTError, and bare Exception / IndexError (endorsements, algorithm,
        # unknown key): the caller learns only that it is refused; the log says why.
        except Exception as error:
            log.info("refused a Teams request: %s: %s", type(error).__name__, error)
            raise NotAuthenticated(
                "not authorized: missing or invalid Bot Framework token"
            ) from None

    async def _on_turn_error(self, context: TurnContext, error: Exception) -> None:
        if context.activity.type == "event":
            # A proactive send: the outbox or the digester records and retries the failure.
            raise error
        # An answer already committed stays committed; the activity is logged, not lost silently.
        log.error(
            "Teams %s activity failed",
            context.activity.type,
            exc_info=(type(error), error, error.__traceback__),
        )
        raise error
