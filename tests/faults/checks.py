"""What a fault may not cost, read from the database afterwards: an acknowledged tap not stored
(or stored twice), an interaction without its prompt, a prompt left half-claimed."""

from collections import Counter
from dataclasses import dataclass

from sqlmodel import col, func, select

from storage.db import Database
from storage.models import Dispatch, Interaction, Prompt, Response
from tests.faults.traffic import Result


@dataclass(frozen=True)
class TapLosses:
    acknowledged: int
    uncommitted: list[str]  # answered 200, yet the tapped value is not stored
    duplicated: list[str]  # more than one response row for a prompt

    def __str__(self) -> str:
        return (
            f"{self.acknowledged} acknowledged taps: {len(self.uncommitted)} not stored, "
            f"{len(self.duplicated)} stored twice"
        )


async def tap_losses(db: Database, results: list[Result]) -> TapLosses:
    async with db.session() as session:
        rows = (await session.exec(select(Response.prompt_id, Response.satisfaction))).all()
    count = Counter(prompt_id for prompt_id, _ in rows)
    stored = dict(rows)
    acknowledged = [r for r in results if r.acknowledged]
    return TapLosses(
        acknowledged=len(acknowledged),
        uncommitted=[r.key for r in acknowledged if stored.get(r.key) != r.value],
        duplicated=[prompt_id for prompt_id, n in count.items() if n > 1],
    )


async def interactions_without_prompt(db: Database) -> int:
    async with db.session() as session:
        return int(
            (
                await session.exec(
                    select(func.count())
                    .select_from(Interaction)
                    .outerjoin(Prompt, col(Prompt.interaction_id) == Interaction.id)
                    .where(col(Prompt.id).is_(None))
                )
            ).one()
        )


async def references(db: Database) -> set[str]:
    async with db.session() as session:
        return set((await session.exec(select(Interaction.reference))).all())


async def prompts_by_status(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter((await session.exec(select(Prompt.status))).all())


async def prompt_states(db: Database) -> dict[str, tuple[str, bool]]:
    """Prompt id -> its status, and whether a sender still holds a lease on it."""
    async with db.session() as session:
        rows = (await session.exec(select(Prompt.id, Prompt.status, Prompt.lease_until))).all()
    return {prompt_id: (status, lease is not None) for prompt_id, status, lease in rows}


async def sent_prompts(db: Database) -> dict[str, str | None]:
    """Prompt id -> the message ts recorded for it, for every prompt marked sent."""
    async with db.session() as session:
        rows = (
            await session.exec(select(Prompt.id, Prompt.message_ts).where(Prompt.status == "sent"))
        ).all()
    return dict(rows)


async def dispatches(db: Database) -> list[Dispatch]:
    async with db.session() as session:
        return list((await session.exec(select(Dispatch))).all())
