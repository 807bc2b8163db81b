"""Stored Teams conversation references: remembered when the bot meets a person or a channel,
forgotten when the app is removed. References are kept as JSON; only bots/teams knows their
shape."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, delete, select

from storage.db import Database
from storage.models import TeamsConversation
from storage.upsert import insert_for

USER = "user"
CHANNEL = "channel"


@dataclass(frozen=True)
class Conversation:
    kind: str
    key: str
    reference: dict[str, Any]
    team_id: str | None = None
    tenant_id: str | None = None
    email: str | None = None
    name: str | None = None
    locale: str | None = None


def user_key(aad_object_id: str) -> str:
    # Teams writes object ids in lowercase, intake callers may not.
    return aad_object_id.lower()


class TeamsConversations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def remember(self, conversation: Conversation, now: datetime) -> None:
        values = {
            "reference": conversation.reference,
            "team_id": conversation.team_id,
            "tenant_id": conversation.tenant_id,
            "locale": conversation.locale,
            "updated_at": now,
        }
        if conversation.email is not None:
            # A turn without the member look-up (it failed) keeps the address learnt earlier.
            values["email"] = conversation.email.casefold()
        if conversation.name is not None:
            values["name"] = conversation.name
        insert = insert_for(self._db.dialect, TeamsConversation).values(
            kind=conversation.kind, key=conversation.key, **values
        )
        async with self._db.transaction() as session:
            await session.exec(
                insert.on_conflict_do_update(index_elements=["kind", "key"], set_=values)
            )

    async def find(self, kind: str, key: str) -> Conversation | None:
        return await self._first(
            select(TeamsConversation).where(
                TeamsConversation.kind == kind, TeamsConversation.key == key
            )
        )

    async def user_by_email(self, email: str) -> Conversation | None:
        return await self._first(
            select(TeamsConversation).where(
                TeamsConversation.kind == USER, TeamsConversation.email == email.casefold()
            )
        )

    async def any_channel(self) -> Conversation | None:
        """The most recently seen team channel: its service URL and bot identity reach the other
        channels of the organisation too."""
        return await self._first(
            select(TeamsConversation)
            .where(TeamsConversation.kind == CHANNEL)
            .order_by(col(TeamsConversation.updated_at).desc())
        )

    async def forget(self, kind: str, key: str) -> None:
        async with self._db.transaction() as session:
            await session.exec(
                delete(TeamsConversation).where(
                    col(TeamsConversation.kind) == kind, col(TeamsConversation.key) == key
                )
            )

    async def forget_team(self, team_id: str) -> None:
        async with self._db.transaction() as session:
            await session.exec(
                delete(TeamsConversation).where(col(TeamsConversation.team_id) == team_id)
            )

    async def _first(self, query: Any) -> Conversation | None:
        async with self._db.session() as session:
            row = (await session.exec(query.limit(1))).first()
        if row is None:
            return None
        return Conversation(
            kind=row.kind,
            key=row.key,
            reference=dict(row.reference),
            team_id=row.team_id,
            tenant_id=row.tenant_id,
            email=row.email,
            name=row.name,
            locale=row.locale,
        )
