"""Who is a member of which department, in Slack: named directly, by email (users.info), or
through a Slack user group (usergroups.users.list). A group's members are cached for a few
minutes, so a burst of reactions asks Slack once and a change in Slack is seen soon."""

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.directory import SlackDirectory
from bots.slack.errors import as_delivery_error
from core.asks import departments_of
from core.departments import Company, Department
from core.locks import KeyedLocks
from core.ports import DirectoryUnavailable, Person

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0


class SlackMembership:
    def __init__(self, company: Company, directory: SlackDirectory, client: AsyncWebClient):
        self._company = company
        self.directory = directory
        self._client = client
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        # Concurrent look-ups of one group on a cold cache wait for the first one's answer.
        self._turns = KeyedLocks()

    async def departments_of(self, person: Person) -> list[Department]:
        """Every department the person belongs to, in the order of the departments file."""
        configured = {g for d in self._company.departments for g in d.members.slack_usergroups}
        groups = [g for g in sorted(configured) if person.user_id in await self._members(g)]
        return departments_of(self._company, person, groups)

    async def is_member(self, department: Department, person: Person) -> bool:
        if department.members.lists(person.platform, person.user_id, person.email):
            return True
        for group in department.members.slack_usergroups:
            if person.user_id in await self._members(group):
                return True
        return False

    async def _members(self, group: str) -> frozenset[str]:
        async with self._turns.hold(group):
            hit = self._groups.get(group)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
            members = await self._fetch(group)
            self._groups[group] = (time.monotonic() + CACHE_SECONDS, members)
            return members

    async def _fetch(self, group: str) -> frozenset[str]:
        try:
            response = await self._client.usergroups_users_list(usergroup=group)
        except SlackApiError as error:
            failure = as_delivery_error(error)
            if failure.retry_after is not None or error.response.status_code >= 500:
                raise DirectoryUnavailable(str(failure)) from error
            # A deleted group, a typo in the departments file, a missing scope: nobody is a
            # member through it until it is fixed (cached like an answer, so it is not asked
            # for on every reaction), and the log says why.
            log.warning("Slack user group %s cannot be read: %s", group, failure)
            return frozenset()
        except Exception as error:
            raise DirectoryUnavailable(str(as_delivery_error(error))) from error
        return frozenset(str(u) for u in response.get("users") or [])
