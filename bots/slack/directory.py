"""Who a Slack user is (bot? locale? email?), cached so taps and intake do not hammer the API."""

import time
from collections import OrderedDict

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bots.slack.errors import as_delivery_error
from core.ports import DirectoryUnavailable, Person

CACHE_SECONDS = 3600.0
CACHE_ENTRIES = 10_000
NOT_FOUND = {"user_not_found", "users_not_found"}


class SlackDirectory:
    platform = "slack"
    knows_everyone = True

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        # Bounded and short-lived: it holds emails, which are not kept anywhere else.
        self._cache: OrderedDict[str, tuple[float, Person | None]] = OrderedDict()

    async def by_id(self, user_id: str) -> Person | None:
        return await self._cached(
            f"id:{user_id}", "users.info", {"user": user_id, "include_locale": True}
        )

    async def by_email(self, email: str) -> Person | None:
        return await self._cached(
            f"email:{email.casefold()}", "users.lookupByEmail", {"email": email}
        )

    async def _cached(self, key: str, method: str, params: dict[str, object]) -> Person | None:
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            self._cache.move_to_end(key)
            return hit[1]
        try:
            response = await self._client.api_call(method, http_verb="GET", params=params)
        except SlackApiError as error:
            if error.response.get("error") in NOT_FOUND:
                self._remember(key, None)
                return None
            raise DirectoryUnavailable(str(as_delivery_error(error))) from error
        except Exception as error:
            raise DirectoryUnavailable(str(as_delivery_error(error))) from error
        user = response["user"]
        if user.get("deleted"):
            self._remember(key, None)
            return None
        person = Person(
            platform="slack",
            user_id=user["id"],
            is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
            locale=user.get("locale"),
            email=(user.get("profile") or {}).get("email"),
        )
        self._remember(key, person)
        return person

    def _remember(self, key: str, person: Person | None) -> None:
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, person)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
