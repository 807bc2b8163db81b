"""Who a Teams person is, as far as icx can know: those who installed the app (and so can be
prompted). Teams offers no look-up of people the bot has never met."""

from core.ports import Person
from storage.teams_conversations import USER, TeamsConversations, user_key


class TeamsDirectory:
    platform = "teams"
    knows_everyone = False

    def __init__(self, conversations: TeamsConversations) -> None:
        self._conversations = conversations

    async def by_id(self, user_id: str) -> Person | None:
        found = await self._conversations.find(USER, user_key(user_id))
        if found is None:
            # Someone icx may not write to yet: the intake records them as unreachable.
            return Person("teams", user_key(user_id), reachable=False)
        return Person("teams", found.key, locale=found.locale, email=found.email)

    async def by_email(self, email: str) -> Person | None:
        found = await self._conversations.user_by_email(email)
        if found is None:
            return None
        return Person("teams", found.key, locale=found.locale, email=found.email)
