"""Asking a colleague for feedback by hand, in a department's name: the "Ask for feedback"
message shortcut (a form, then the message's author is asked) and `/icx-ask @person
[department] [service]`. Only the department's members may; the provider is told the outcome
ephemerally, in their language.

Each request is acknowledged at once and handled after, in a background task (the look-ups
may take longer than the 3 s Slack waits); the outcome goes to the request's response_url.
"""

import html
import logging
import re
import uuid
from collections.abc import Coroutine
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack import ask_modal
from bots.slack.blocks import escape
from bots.slack.errors import as_delivery_error
from bots.slack.membership import SlackMembership
from bots.tasks import BackgroundTasks
from core import ask_text
from core.ask_command import Unclear, choose
from core.asks import Ask, ask
from core.context import Icx
from core.departments import Department, Service
from core.i18n import Translator, negotiate, translator
from core.intake import PersonIn
from core.ports import DirectoryUnavailable, Person
from storage.unavailable import is_unavailable

log = logging.getLogger(__name__)

COMMAND = "/icx-ask"
SHORTCUT_SOURCE = "slack-message"
COMMAND_SOURCE = "slack-ask"
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# With "Escape channels, users, and links" on, Slack sends a mention as <@U123|name>.
MENTION = re.compile(r"^\s*<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>(.*)$", re.DOTALL)


class AskListeners:
    def __init__(self, icx: Icx, membership: SlackMembership, tasks: BackgroundTasks) -> None:
        self._icx = icx
        self._membership = membership
        self._tasks = tasks

    def register(self, app: AsyncApp) -> None:
        # Literal names: tests/test_manifest.py checks them against manifest.yml.
        app.message_shortcut("icx_ask_feedback")(self._on_shortcut)
        app.view(ask_modal.ASK_MODAL)(self._on_submission)
        app.command("/icx-ask")(self._on_command)

    # --- the message shortcut ---------------------------------------------------------------

    async def _on_shortcut(
        self, ack: Any, shortcut: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        self._tasks.spawn(self._guarded(respond, self._open_form(shortcut, client, respond)))

    async def _open_form(
        self, shortcut: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        provider, mine, t = await self._provider(str((shortcut.get("user") or {}).get("id", "")))
        if provider is None or not mine:
            await _tell(respond, ask_text.not_a_member([], t))
            return
        message = shortcut.get("message") or {}
        author = str(message.get("user") or "")
        if not SLACK_USER.match(author) or message.get("bot_id"):
            await _tell(respond, ask_text.not_a_person(t))
            return
        if author == provider.user_id:
            await _tell(respond, ask_text.cannot_ask_yourself(t))
            return
        target = ask_modal.AskTarget(
            requester=author,
            channel=str((shortcut.get("channel") or {}).get("id", "")),
            ts=str(message.get("ts") or shortcut.get("message_ts") or ""),
            response_url=str(shortcut.get("response_url") or ""),
        )
        try:
            await client.views_open(
                trigger_id=shortcut["trigger_id"], view=ask_modal.ask_view(mine, target, t)
            )
        except SlackApiError as error:
            # Most often the trigger expired (3 s) because Slack was slow to answer look-ups.
            log.warning("could not open the ask form: %s", as_delivery_error(error))
            await _tell(respond, ask_text.try_again(t))

    async def _on_submission(
        self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            submitted = ask_modal.read_submission(view)
        except (ValueError, KeyError, TypeError, AttributeError):
            await ack()  # not a form icx drew: closed, nothing done
            log.info("ignored an ask form that could not be read")
            return
        await ack()
        respond = AsyncRespond(response_url=submitted.target.response_url, proxy=client.proxy)
        user_id = str((body.get("user") or {}).get("id", ""))
        self._tasks.spawn(self._guarded(respond, self._submit(user_id, submitted, respond)))

    async def _submit(
        self, user_id: str, submitted: ask_modal.Submitted, respond: AsyncRespond
    ) -> None:
        provider, mine, t = await self._provider(user_id)
        picked = ask_modal.chosen(self._icx.company, submitted)
        if provider is None or picked is None or picked[0] not in mine:
            await _tell(respond, ask_text.not_a_member([d.display_name(t.locale) for d in mine], t))
            return
        target = submitted.target
        await self._ask(
            provider,
            *picked,
            requester=target.requester,
            source=SHORTCUT_SOURCE,
            reference=f"{target.channel}:{target.ts}",
            respond=respond,
            t=t,
        )

    # --- /icx-ask -----------------------------------------------------------------------------

    async def _on_command(self, ack: Any, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        self._tasks.spawn(self._guarded(respond, self._command(command, respond)))

    async def _command(self, command: dict[str, Any], respond: AsyncRespond) -> None:
        provider, mine, t = await self._provider(str(command.get("user_id", "")))
        mention = MENTION.match(command.get("text") or "")
        if mention is None:
            example = (mine or self._icx.company.departments)[0].key
            await _tell(respond, ask_text.usage(COMMAND, example, t))
            return
        if provider is None or not mine:
            await _tell(respond, ask_text.not_a_member([], t))
            return
        requester, rest = mention.group(1), html.unescape(mention.group(2))
        example = f"{COMMAND} <@{requester}> {mine[0].key}"
        choice = choose(self._icx.company, mine, rest, example, t)
        if isinstance(choice, Unclear):
            await _tell(respond, choice.message)
            return
        await self._ask(
            provider,
            choice.department,
            choice.service,
            requester=requester,
            # Unique per use of the command: asking the same person twice is two requests
            # (the policy still keeps them from being asked too often).
            source=COMMAND_SOURCE,
            reference=f"ask:{command.get('trigger_id') or uuid.uuid4().hex}",
            respond=respond,
            t=t,
        )

    # --- shared -------------------------------------------------------------------------------

    async def _provider(self, user_id: str) -> tuple[Person | None, list[Department], Translator]:
        person = await self._membership.directory.by_id(user_id) if user_id else None
        t = translator(negotiate(person.locale if person else None))
        if person is None or person.is_bot:
            return None, [], t
        return person, await self._membership.departments_of(person), t

    async def _ask(
        self,
        provider: Person,
        department: Department,
        service: Service | None,
        *,
        requester: str,
        source: str,
        reference: str,
        respond: AsyncRespond,
        t: Translator,
    ) -> None:
        request = Ask(
            department=department,
            service=service.key if service else None,
            requester=PersonIn(slack_user_id=requester),
            provider=provider,
            source=source,
            reference=reference,
        )
        try:
            outcome = await ask(self._icx, request)
        except Exception as error:
            explanation = _unavailable(error, t)
            if explanation is None:
                raise
            await _tell(respond, explanation)
            return
        await _tell(respond, ask_text.outcome_text(outcome, f"<@{requester}>", department, t))

    async def _guarded(self, respond: AsyncRespond, work: Coroutine[Any, Any, None]) -> None:
        """Slack or the database cannot answer right now: the provider is told to try again,
        not left waiting for an answer that never comes (in English when even their language
        could not be looked up)."""
        try:
            await work
        except Exception as error:
            explanation = _unavailable(error, translator(None))
            if explanation is None:
                raise
            await _tell(respond, explanation)


def _unavailable(error: Exception, t: Translator) -> str | None:
    """What to tell the provider when Slack or the database cannot answer; None for a bug."""
    if isinstance(error, DirectoryUnavailable):
        cause = type(error.__cause__ or error).__name__
        log.warning("asking for feedback failed: Slack unavailable (%s)", cause)
        return ask_text.try_again(t)
    if is_unavailable(error):
        log.warning("asking for feedback failed: database unavailable (%s)", type(error).__name__)
        return ask_text.cannot_save(t)
    return None


async def _tell(respond: AsyncRespond, text: str) -> None:
    await respond(text=escape(text), response_type="ephemeral", replace_original=False)
