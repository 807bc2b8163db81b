"""Assembling a running icx from its configuration: database, core, Slack, background work."""

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bots.slack.app import SlackBot
from bots.slack.publisher import SlackPublisher
from bots.tasks import BackgroundTasks
from core.clock import Clock, utcnow
from core.config import Config, ConfigError, require
from core.context import Icx
from core.digester import Digester
from core.dispatch import Dispatches
from core.identity import Keyer
from core.outbox import Outbox
from core.ports import Messenger, Publisher
from core.scheduler import Cadence, Scheduler
from core.settings import Settings
from storage.db import Database
from storage.migrate import schema_state

if TYPE_CHECKING:
    from bots.teams.app import TeamsApp

log = logging.getLogger(__name__)


class SchemaOutOfDate(ConfigError):
    pass


@dataclass
class RuntimeOptions:
    clock: Clock = utcnow
    housekeeping_every: float = 300.0
    background: bool = True  # outbox and scheduler (tests and the CLI drive them by hand)
    listen: bool = True  # Socket Mode; off for one-off commands that only post


class Runtime:
    def __init__(self, config: Config, options: RuntimeOptions | None = None) -> None:
        self.config = config
        self.options = options or RuntimeOptions()
        settings = config.settings
        require(settings, "icx_secret_key", "icx_api_token", purpose="icx serve")
        if not (settings.slack_enabled or settings.teams_enabled):
            raise ConfigError(
                "icx serve needs a chat platform: for Slack set SLACK_BOT_TOKEN and "
                "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode); for Microsoft Teams "
                "set MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD."
            )
        assert settings.icx_secret_key is not None
        try:
            keyer = Keyer(settings.icx_secret_key.get_secret_value())
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.db = Database(settings.database_url)
        self.icx = Icx(config.company, self.db, keyer, clock=self.options.clock)
        self.tasks = BackgroundTasks()
        messengers: dict[str, Messenger] = {}
        publishers: dict[str, Publisher] = {}
        self.slack = self._slack(settings) if settings.slack_enabled else None
        if self.slack is not None:
            self.icx.directories["slack"] = self.slack.directory
            messengers["slack"] = self.slack.messenger
            publishers["slack"] = SlackPublisher(self.slack.client)
        self.teams = self._teams(settings) if settings.teams_enabled else None
        if self.teams is not None:
            from bots.teams.publisher import TeamsPublisher

            self.icx.directories["teams"] = self.teams.directory
            messengers["teams"] = self.teams.messenger
            publishers["teams"] = TeamsPublisher(self.teams.messenger)
        self.outbox = Outbox(self.icx, messengers)
        self.icx.on_prompt_scheduled = self.outbox.wake
        self.dispatches = Dispatches(self.db)
        self.digester = Digester(self.icx, publishers, self.dispatches)
        self.scheduler = Scheduler(
            self.icx, self.digester, Cadence(housekeeping=self.options.housekeeping_every)
        )
        # Set once shutdown begins, for readiness: a replica that is stopping takes no new
        # work while what is in flight finishes.
        self.draining = False

    def _teams(self, settings: Settings) -> "TeamsApp":
        # Imported only where Teams is configured: botbuilder is some 25 MB of memory.
        from bots.teams.app import TeamsApp

        return TeamsApp(self.icx, settings)

    def _slack(self, settings: Settings) -> SlackBot:
        if settings.slack_app_token is None:
            require(settings, "slack_signing_secret", purpose="Slack over HTTP")
        assert settings.slack_bot_token is not None
        secret = settings.slack_signing_secret
        return SlackBot(
            self.icx,
            bot_token=settings.slack_bot_token.get_secret_value(),
            signing_secret=secret.get_secret_value() if secret else "",
            api_url=settings.slack_api_url,
            tasks=self.tasks,
        )

    @property
    def socket_mode(self) -> bool:
        return self.config.settings.slack_app_token is not None

    async def start(self) -> None:
        problem = (await schema_state(self.db.engine)).problem()
        if problem is not None:
            raise SchemaOutOfDate(problem)
        if self.slack is not None:
            app_token = self.config.settings.slack_app_token
            listen = app_token is not None and self.options.listen
            await self.slack.start(app_token.get_secret_value() if listen and app_token else None)
        if self.teams is not None:
            await self.teams.check_channels(self.config.company)
        if self.options.background:
            self.outbox.start()
            self.scheduler.start()

    @property
    def shutdown_timeout(self) -> float:
        return self.config.settings.icx_shutdown_timeout

    async def stop_background(self, within: float) -> None:
        """Takes no more background work: the outbox's sends in flight and the scheduled jobs
        in flight (digests, alerts) finish and record their outcome, for up to `within`
        seconds; whatever still runs then is cut off."""
        self.draining = True
        await asyncio.gather(self._stop_outbox(within), self.scheduler.stop(within))

    async def _stop_outbox(self, within: float) -> None:
        try:
            await asyncio.wait_for(self.outbox.stop(), within)
        except TimeoutError:
            # Their rows stay leased: another process (or this one, restarted) sends them once
            # the lease runs out. Late, not lost.
            log.warning("prompt sends still in flight after %.0f s were cut off", within)

    async def stop(self, within: float | None = None) -> None:
        """Stops everything within `within` seconds (default ICX_SHUTDOWN_TIMEOUT): background
        work finishes or is cut off, work started by requests (redrawing a message after a tap)
        is waited for, digest claims cut off are released for other processes, connections
        are closed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.shutdown_timeout if within is None else within)

        def left() -> float:
            return max(0.0, deadline - loop.time())

        await self.stop_background(left())
        await self.tasks.drain(within=left())
        await self._release_claims(max(left(), 1.0))
        if self.slack is not None:
            await self.slack.stop()
        await self.db.dispose()

    async def _release_claims(self, within: float) -> None:
        try:
            released = await asyncio.wait_for(self.dispatches.release(self.icx.clock()), within)
        except Exception as error:  # the database may be what is going away
            log.warning(
                "could not release digest and alert claims (%s); they are taken over when "
                "their lease runs out",
                type(error).__name__,
            )
            return
        if released:
            log.info("released %d digest and alert claims for other processes", released)
