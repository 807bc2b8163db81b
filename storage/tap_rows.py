"""The rows one tap on a prompt reads and writes, as SQL statements built once per database.

A tap is icx's hottest path (Slack gives 3 s, and a busy morning brings hundreds a second), so
it runs a handful of statements on a plain connection: one read of the prompt with its response
and the person's snooze, one write, and the score sums (storage.aggregates). Statements built
once are compiled once; the ORM would build, compile and track each of them on every tap.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import OptOut, Prompt, Response
from storage.upsert import insert_for

PROMPT = Prompt.__table__  # type: ignore[attr-defined]
RESPONSE = Response.__table__  # type: ignore[attr-defined]
OPT_OUT = OptOut.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PromptRow:
    """What a tap needs of its prompt: to check it, to count it and to redraw it."""

    id: str
    department: str
    service: str | None
    segment: str
    platform: str
    recipient_key: str | None
    channel_id: str | None
    message_ts: str | None
    locale: str | None
    status: str
    sent_at: datetime | None
    answered_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class ResponseRow:
    department: str
    answered_at: datetime
    satisfaction: int
    effort: int | None
    reasons: list[str]
    comment: str | None
    external_customer: bool
    contact_consent: bool


@dataclass(frozen=True)
class TapRows:
    prompt: PromptRow
    response: ResponseRow | None
    snoozed_until: datetime | None


PROMPT_COLUMNS = tuple(PROMPT.c[name] for name in PromptRow.__dataclass_fields__)
RESPONSE_COLUMNS = tuple(RESPONSE.c[name] for name in ResponseRow.__dataclass_fields__)

_READ = (
    sa.select(*PROMPT_COLUMNS, *RESPONSE_COLUMNS, OPT_OUT.c.until)
    .select_from(
        PROMPT.outerjoin(RESPONSE, RESPONSE.c.prompt_id == PROMPT.c.id).outerjoin(
            OPT_OUT, OPT_OUT.c.respondent_key == PROMPT.c.recipient_key
        )
    )
    .where(PROMPT.c.id == sa.bindparam("prompt_id"))
)
# SQLite: a write takes the database's one write lock, held until commit, so what is read
# after it is current (a plain read there runs outside the transaction and may be overtaken).
# PostgreSQL: the rows alone, apart from the read, because a locking read that waited returns
# the locked rows as they are now but the rows joined to them as they were when it began; in
# one order everywhere, so that lockers of several prompts cannot deadlock.
_IDS = sa.bindparam("prompt_ids", expanding=True)
_LOCK = {
    "sqlite": sa.update(PROMPT).where(PROMPT.c.id.in_(_IDS)).values(status=PROMPT.c.status),
    "postgresql": sa.select(PROMPT.c.id)
    .where(PROMPT.c.id.in_(_IDS))
    .order_by(PROMPT.c.id)
    .with_for_update(),
}
_MARK_ANSWERED = (
    sa.update(PROMPT)
    .where(PROMPT.c.id == sa.bindparam("prompt_id"))
    .values(status=sa.bindparam("answered_status"), answered_at=sa.bindparam("now"))
)
# The columns to set come with each execution's parameters, besides the `target` prompt id.
_UPDATE_RESPONSE = (
    sa.update(RESPONSE)
    .where(RESPONSE.c.prompt_id == sa.bindparam("target"))
    .returning(*RESPONSE_COLUMNS)
)


async def lock(connection: AsyncConnection, prompt_ids: Sequence[str]) -> None:
    """Holds the prompts until the transaction ends: two taps on one take turns, each seeing
    what the other wrote. Take it before reading what a change changes or counts."""
    await connection.execute(_LOCK[connection.dialect.name], {"prompt_ids": list(prompt_ids)})


async def read(connection: AsyncConnection, prompt_id: str) -> TapRows | None:
    row = (await connection.execute(_READ, {"prompt_id": prompt_id})).first()
    if row is None:
        return None
    values = tuple(row)
    prompt = PromptRow(*values[: len(PROMPT_COLUMNS)])
    answer = ResponseRow(*values[len(PROMPT_COLUMNS) : -1])
    # Every response has a satisfaction: without one, the outer join found none.
    response = answer if answer.satisfaction is not None else None
    return TapRows(prompt, response, values[-1])


def _response_row(row: Any) -> ResponseRow:
    return ResponseRow(*tuple(row))


@cache
def _answering(dialect: str) -> Any:
    insert = insert_for(dialect, RESPONSE)
    return insert.on_conflict_do_update(
        index_elements=["prompt_id"],
        set_={
            "satisfaction": insert.excluded.satisfaction,
            "updated_at": insert.excluded.updated_at,
        },
    ).returning(*RESPONSE_COLUMNS)


async def answer(
    connection: AsyncConnection, prompt: PromptRow, satisfaction: int, now: datetime
) -> ResponseRow:
    """The one-tap answer: creates the response, or changes its satisfaction."""
    assert prompt.recipient_key is not None
    row = (
        await connection.execute(
            _answering(connection.dialect.name),
            {
                "prompt_id": prompt.id,
                "department": prompt.department,
                "service": prompt.service,
                "segment": prompt.segment,
                "respondent_key": prompt.recipient_key,
                "satisfaction": satisfaction,
                "reasons": [],
                "external_customer": False,
                "contact_consent": False,
                "answered_at": now,
                "updated_at": now,
            },
        )
    ).one()
    return _response_row(row)


async def mark_answered(
    connection: AsyncConnection, prompt_id: str, status: str, now: datetime
) -> None:
    await connection.execute(
        _MARK_ANSWERED, {"prompt_id": prompt_id, "answered_status": status, "now": now}
    )


async def update_response(
    connection: AsyncConnection, prompt_id: str, values: dict[str, object]
) -> ResponseRow | None:
    """Sets `values` on the prompt's response; None when it has none yet."""
    # The statement sets whichever columns the parameters name: a misspelt one would be left out.
    unknown = values.keys() - RESPONSE.c.keys()
    if unknown:
        raise ValueError(f"no such response columns: {sorted(unknown)}")
    row = (await connection.execute(_UPDATE_RESPONSE, {**values, "target": prompt_id})).first()
    return None if row is None else _response_row(row)


@cache
def _snoozing(dialect: str) -> Any:
    insert = insert_for(dialect, OPT_OUT)
    return insert.on_conflict_do_update(
        index_elements=["respondent_key"], set_={"until": insert.excluded.until}
    )


async def snooze(
    connection: AsyncConnection, respondent_key: str, until: datetime, now: datetime
) -> None:
    await connection.execute(
        _snoozing(connection.dialect.name),
        {"respondent_key": respondent_key, "until": until, "created_at": now},
    )
