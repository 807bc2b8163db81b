"""Help channels: a department member's resolution reaction on a colleague's message in one of
the department's help channels asks the message's author for feedback after the grace period;
taking the reaction back within it withdraws the prompt; putting it back asks again
(core.resolutions). Anyone else's reaction, another reaction, a message by a member or by an
app: nothing happens, and nobody is told (a reaction is not a conversation with icx).

Slack wants events acknowledged within 3 s and retries them otherwise, so each event is
acknowledged at once and handled after, in a background task: the look-ups (users.info, user
groups) may take longer. A process that dies in between loses that reaction: Slack does not
send an acknowledged event again (README, "Asking for feedback where service happens").
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bots.slack.membership import SlackMembership
from bots.tasks import BackgroundTasks
from core.asks import Ask
from core.context import Icx
from core.departments import Department
from core.intake import PersonIn
from core.locks import KeyedLocks
from core.ports import DirectoryUnavailable, Person
from core.resolutions import marked, unmarked
from storage.unavailable import is_unavailable

log = logging.getLogger(__name__)

SOURCE = "slack-help"
# Slack or the database not answering right now: tried again before the reaction is given up.
RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 30.0)
SEEN_EVENTS = 10_000


def reference(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


class HelpChannelTriggers:
    def __init__(self, icx: Icx, membership: SlackMembership, tasks: BackgroundTasks) -> None:
        self._icx = icx
        self._membership = membership
        self._tasks = tasks
        self._help = {c: d for d in icx.company.departments for c in d.help.slack_channels}
        # The events of one message are handled in the order they arrived: a reaction taken
        # back a second after it was added must find the interaction the addition records.
        self._turns = KeyedLocks()
        # Event ids handled by this process: a retried delivery is not handled twice.
        self._seen: OrderedDict[str, None] = OrderedDict()

    def register(self, app: AsyncApp) -> None:
        app.event("reaction_added")(self._on_added)
        app.event("reaction_removed")(self._on_removed)

    async def _on_added(
        self, ack: Any, body: dict[str, Any], event: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await ack()
        found = self._resolution(body, event)
        if found is not None:
            department, ref = found
            retried = bool(request.headers.get("x-slack-retry-num"))
            self._later(ref, lambda: self._added(department, ref, event, retried=retried))

    async def _on_removed(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await ack()
        found = self._resolution(body, event)
        if found is not None:
            _, ref = found
            self._later(ref, lambda: self._removed(ref, str(event.get("user") or "")))

    def _resolution(
        self, body: dict[str, Any], event: dict[str, Any]
    ) -> tuple[Department, str] | None:
        """The department and message reference, when the event is the resolution reaction
        on a message in a help channel, seen for the first time."""
        item = event.get("item") or {}
        department = self._help.get(str(item.get("channel", "")))
        if department is None or item.get("type") != "message" or not item.get("ts"):
            return None
        # A skin tone arrives as "white_check_mark::skin-tone-2"; it is the same mark.
        if str(event.get("reaction", "")).split("::")[0] != department.help.reaction:
            return None
        if not self._first_time(str(body.get("event_id", ""))):
            return None
        return department, reference(item["channel"], str(item["ts"]))

    def _first_time(self, event_id: str) -> bool:
        if not event_id:
            return True
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        while len(self._seen) > SEEN_EVENTS:
            self._seen.popitem(last=False)
        return True

    def _later(self, ref: str, work: Callable[[], Awaitable[None]]) -> None:
        async def in_turn() -> None:
            async with self._turns.hold(ref):
                await _retrying(work, ref)

        self._tasks.spawn(in_turn())

    async def _added(
        self, department: Department, ref: str, event: dict[str, Any], *, retried: bool
    ) -> None:
        author, reactor = event.get("item_user"), event.get("user")
        if not author or not reactor or author == reactor:
            return  # a message by an app (no item_user), or a member marking their own
        provider = await self._member(department, str(reactor))
        if provider is None:
            return
        requester = await self._membership.directory.by_id(str(author))
        if requester is None or requester.is_bot:
            return
        if await self._membership.is_member(department, requester):
            return  # a colleague's own question in their department's channel
        request = Ask(
            department=department,
            service=None,
            requester=PersonIn(slack_user_id=requester.user_id),
            provider=provider,
            source=SOURCE,
            reference=ref,
        )
        send_after = self._icx.clock() + timedelta(minutes=department.help.grace_minutes)
        # A retry may repeat an addition already handled and since taken back: only a fresh
        # delivery asks again.
        outcome = await marked(self._icx, request, send_after, may_reinstate=not retried)
        log.info(
            "help channel resolution %s: %s%s",
            request.reference,
            outcome.status,
            f" ({outcome.reason.value})" if outcome.reason else "",
        )

    async def _removed(self, ref: str, reactor: str) -> None:
        if reactor and await unmarked(self._icx, SOURCE, ref, Person("slack", reactor)):
            log.info("help channel resolution %s taken back: prompt withdrawn", ref)

    async def _member(self, department: Department, user_id: str) -> Person | None:
        person = await self._membership.directory.by_id(user_id)
        if person is None or person.is_bot:
            return None
        return person if await self._membership.is_member(department, person) else None


async def _retrying(work: Callable[[], Awaitable[None]], ref: str) -> None:
    """Slack or the database cannot answer right now: tried again, as the reaction was
    acknowledged and Slack will not send it again."""
    for delay in (*RETRY_DELAYS, None):
        try:
            await work()
            return
        except Exception as error:
            if not (isinstance(error, DirectoryUnavailable) or is_unavailable(error)):
                raise
            what = "Slack" if isinstance(error, DirectoryUnavailable) else "the database"
            if delay is None:
                log.error("help channel reaction on %s given up: %s unavailable", ref, what)
                return
            log.warning("help channel reaction on %s: %s unavailable; retrying", ref, what)
            await asyncio.sleep(delay)
