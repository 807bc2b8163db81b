"""Posting digests and alerts to every configured channel, each exactly once (core.dispatch):
claim first, then compose (numbers, chart, words) only if something was claimed, then publish
through the platform's Publisher and record the outcome."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from core import digest_text
from core.alerts import LowAnswer, drop, low_answers_since
from core.context import Icx
from core.departments import Department
from core.digest import TrendPoint, department_digest, org_digest
from core.dispatch import Dispatches, DispatchKey
from core.i18n import Translator, translator
from core.ports import DeliveryError, DirectoryUnavailable, Publisher
from core.posts import Image, Post
from core.weeks import IsoWeek

log = logging.getLogger(__name__)

# Builds the post once something was claimed, so nothing is computed for nothing.
Compose = Callable[[], Awaitable[Post]]

# Beyond the prompt's expiry: an answer given at its last moment is still found.
LOW_ANSWER_LOOKBACK = timedelta(days=1)
RETRY = timedelta(minutes=2)
EMAIL_LOOKUP_SECONDS = 5.0


@dataclass(frozen=True)
class Destination:
    platform: str
    channel: str

    @property
    def address(self) -> str:
        return f"{self.platform}:{self.channel}"


@dataclass(frozen=True)
class Outcome:
    destination: Destination
    posted: bool
    error: str | None = None


def digest_destinations(department: Department) -> list[Destination]:
    return _configured(department.slack.digest_channel, department.teams.digest_channel)


def alert_destinations(department: Department) -> list[Destination]:
    return _configured(department.slack.alert_channel, department.teams.alert_channel)


def _configured(slack: str | None, teams: str | None) -> list[Destination]:
    pairs = (("slack", slack), ("teams", teams))
    return [Destination(platform, channel) for platform, channel in pairs if channel]


class Digester:
    def __init__(self, icx: Icx, publishers: dict[str, Publisher], dispatches: Dispatches) -> None:
        self._icx = icx
        self._publishers = publishers
        self._dispatches = dispatches

    # --- composing (also for `icx digest --dry-run`) ----------------------------------------

    async def department_post(self, department: Department, week: IsoWeek) -> Post:
        async with self._icx.db.session() as session:
            digest = await department_digest(session, self._icx.company, department, week)
        t = translator(department.locale)
        if not digest.shown:
            # Below the minimum the digest shows no numbers, and the chart's are numbers too.
            return digest_text.department_post(digest, t)
        title = department.display_name(t.locale)
        # Matplotlib is CPU work: off the event loop, so taps are not kept waiting.
        image = await asyncio.to_thread(_draw_trend, digest.trend, t, title)
        return digest_text.department_post(digest, t, image)

    async def organisation_post(self, week: IsoWeek) -> Post:
        locale = self._icx.company.leadership.locale
        async with self._icx.db.session() as session:
            digest = await org_digest(session, self._icx.company, week, locale)
        return digest_text.org_post(digest, translator(locale))

    # --- posting ------------------------------------------------------------------------------

    async def department(
        self, department: Department, week: IsoWeek, force: bool = False
    ) -> list[Outcome]:
        keys = {
            d: DispatchKey("digest", department.key, week.label, d.address)
            for d in self._reachable(digest_destinations(department))
        }
        return await self._post(keys, lambda: self.department_post(department, week), force)

    async def organisation(self, week: IsoWeek, force: bool = False) -> list[Outcome]:
        leadership = self._icx.company.leadership
        destinations = self._reachable(
            _configured(leadership.slack_channel, leadership.teams_channel)
        )
        keys = {d: DispatchKey("org_digest", "org", week.label, d.address) for d in destinations}
        return await self._post(keys, lambda: self.organisation_post(week), force)

    async def low_answers(self) -> list[Outcome]:
        company = self._icx.company
        # Answers change only while their prompt is live: looking back one expiry period (and
        # a day) finds every alert a downtime delayed; dispatch rows keep each one single.
        since = self._icx.clock() - company.policy.expiry - LOW_ANSWER_LOOKBACK
        async with self._icx.db.session() as session:
            found = await low_answers_since(session, {d.key: d for d in company.departments}, since)
        outcomes: list[Outcome] = []
        for alert in found:
            keys = {
                d: DispatchKey("low_alert", alert.prompt_id, "", d.address)
                for d in self._reachable(alert_destinations(alert.department))
            }
            outcomes += await isolated(
                f"alert {alert.prompt_id}", self._post(keys, self._low_answer_post(alert))
            )
        return outcomes

    def _low_answer_post(self, alert: LowAnswer) -> Compose:
        # Composed only once claimed: the sweep runs every 20 s over days of answers, and the
        # email look-up asks the platform.
        async def compose() -> Post:
            email = await self._email_of(alert.contact_address)
            return digest_text.low_answer_post(alert, translator(alert.department.locale), email)

        return compose

    async def drops(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for department in self._icx.company.departments:
            destinations = self._reachable(alert_destinations(department))
            if destinations:
                outcomes += await isolated(
                    f"drop check {department.key}", self._drop(department, destinations)
                )
        return outcomes

    async def _drop(self, department: Department, destinations: list[Destination]) -> list[Outcome]:
        now = self._icx.clock()
        minimum = self._icx.company.policy.reporting_min_n
        async with self._icx.db.session() as session:
            alert = await drop(session, department, now, minimum)
        if alert is None:
            return []
        # At most one drop alert per department and week.
        week = IsoWeek.containing(now, department.zone).label
        keys = {d: DispatchKey("drop_alert", department.key, week, d.address) for d in destinations}
        post = digest_text.drop_post(alert, translator(department.locale))
        return await self._post(keys, _ready(post))

    async def _email_of(self, address: str | None) -> str | None:
        """The consenting person's email, for channels on a platform that cannot mention them."""
        platform, _, user_id = (address or "").partition(":")
        directory = self._icx.directories.get(platform)
        if directory is None or not user_id:
            return None
        try:
            person = await asyncio.wait_for(directory.by_id(user_id), EMAIL_LOOKUP_SECONDS)
        except (DirectoryUnavailable, TimeoutError):
            return None
        return person.email if person is not None else None

    def _reachable(self, destinations: list[Destination]) -> list[Destination]:
        return [d for d in destinations if d.platform in self._publishers]

    async def _post(
        self,
        keys: dict[Destination, DispatchKey],
        compose: Compose,
        force: bool = False,
    ) -> list[Outcome]:
        # Each destination is claimed just before its own send, so a lease only ever has to
        # cover one publish; the post is composed once, when the first claim succeeds.
        post: Post | None = None
        outcomes = []
        for destination, key in keys.items():
            if not await self._dispatches.claim(key, self._icx.clock(), force):
                continue
            if post is None:
                try:
                    post = await compose()
                except Exception:
                    await self._dispatches.retry_later(
                        key, "could not compose the post", self._icx.clock() + RETRY
                    )
                    raise
            outcomes.append(await self._publish(key, destination, post))
        return outcomes

    async def _publish(self, key: DispatchKey, destination: Destination, post: Post) -> Outcome:
        publisher = self._publishers[destination.platform]
        try:
            ref = await publisher.publish(destination.channel, post)
        except DeliveryError as error:
            if error.permanent:
                log.error("%s for %s failed for good: %s", key.kind, destination.address, error)
                await self._dispatches.failed(key, str(error))
            else:
                wait = timedelta(seconds=error.retry_after) if error.retry_after else RETRY
                await self._dispatches.retry_later(key, str(error), self._icx.clock() + wait)
            return Outcome(destination, False, str(error))
        except Exception as error:  # a bug must not lose the post: retried like an outage
            log.exception("%s for %s failed", key.kind, destination.address)
            await self._dispatches.retry_later(key, type(error).__name__, self._icx.clock() + RETRY)
            return Outcome(destination, False, type(error).__name__)
        await self._dispatches.posted(key, self._icx.clock(), f"{ref.channel_id}/{ref.message_ts}")
        return Outcome(destination, True)


def _ready(post: Post) -> Compose:
    async def compose() -> Post:
        return post

    return compose


async def isolated(what: str, work: Awaitable[list[Outcome]]) -> list[Outcome]:
    """One department's or alert's failure (a bug, a database hiccup) is logged and retried by
    the next pass; it does not hold back the others."""
    try:
        return await work
    except Exception:
        log.exception("%s failed; the next pass tries again", what)
        return []


def _draw_trend(trend: Sequence[TrendPoint], t: Translator, title: str) -> Image:
    """Imports matplotlib (about 40 MB) here, in the worker thread, the first time a digest is
    drawn, rather than when the server starts: most of a server's life it is not needed."""
    from core.chart import trend_chart

    return trend_chart(trend, t, title)
