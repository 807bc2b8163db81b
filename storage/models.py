"""The tables. Identities of respondents are stored only as keyed hashes (see core.identity)."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from storage.types import UTCDateTime


def _utc(*, nullable: bool = False, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class Interaction(SQLModel, table=True):
    """One delivered service, from any source. (source, reference) makes intake idempotent."""

    __tablename__ = "interaction"
    __table_args__ = (
        sa.UniqueConstraint("source", "reference", name="uq_interaction_source_reference"),
    )

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=64)
    service: str | None = Field(default=None, max_length=64)
    source: str = Field(max_length=64)
    reference: str = Field(max_length=200)
    requester_key: str | None = Field(default=None, max_length=64)
    provider_ref: str | None = Field(default=None, max_length=320)
    occurred_at: datetime = Field(sa_column=_utc())
    created_at: datetime = Field(sa_column=_utc())


class Prompt(SQLModel, table=True):
    """The chat message asking for feedback on one interaction; also the outbox row."""

    __tablename__ = "prompt"
    __table_args__ = (
        sa.Index("ix_prompt_outbox", "status", "next_attempt_at"),
        sa.Index("ix_prompt_recipient_created", "recipient_key", "created_at"),
        # Covers the delivered/answered count of a period's partial edge days (core.scores).
        sa.Index("ix_prompt_tally", "department", "sent_at", "answered_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    interaction_id: int = Field(foreign_key="interaction.id", unique=True)
    department: str = Field(max_length=64)
    service: str | None = Field(default=None, max_length=64)
    platform: str = Field(max_length=16)
    recipient_key: str | None = Field(default=None, max_length=64)
    # Needed to deliver and update the message; erased once answered or expired.
    recipient_address: str | None = Field(default=None, max_length=64)
    channel_id: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=64)
    segment: str = Field(default="end-user", max_length=16)
    locale: str | None = Field(default=None, max_length=16)
    status: str = Field(max_length=16)
    skip_reason: str | None = Field(default=None, max_length=32)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(sa_column=_utc())
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    answered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    expires_at: datetime = Field(sa_column=_utc())
    erased_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class Response(SQLModel, table=True):
    """One per prompt, updated in place when the person changes an answer."""

    __tablename__ = "response"
    __table_args__ = (
        # Covers the counts of a period's partial edge days (core.scores) without the table.
        sa.Index("ix_response_tally", "department", "answered_at", "satisfaction", "effort"),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5", name="ck_response_satisfaction"),
        sa.CheckConstraint("effort IS NULL OR effort BETWEEN 1 AND 7", name="ck_response_effort"),
    )

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: str = Field(foreign_key="prompt.id", unique=True, max_length=32)
    department: str = Field(max_length=64)
    service: str | None = Field(default=None, max_length=64)
    segment: str = Field(default="end-user", max_length=16)
    respondent_key: str = Field(max_length=64, index=True)
    satisfaction: int
    effort: int | None = Field(default=None)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    comment: str | None = Field(default=None, max_length=3000)
    external_customer: bool = Field(default=False)
    contact_consent: bool = Field(default=False)
    # Present only while the person consents to be contacted.
    contact_address: str | None = Field(default=None, max_length=80)
    answered_at: datetime = Field(sa_column=_utc())
    updated_at: datetime = Field(sa_column=_utc())


class ScoreDay(SQLModel, table=True):
    """What one department's answers and prompts add up to on one UTC day: responses by the
    day of the first answer, delivered and answered prompts by the day of delivery. Kept
    equal to the raw rows in the same transaction as every change to them (storage.aggregates),
    and kept when retention deletes the raw rows (GUIDE §6)."""

    __tablename__ = "score_day"

    department: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    responses: int = Field(default=0)
    satisfied: int = Field(default=0)  # satisfaction 4–5
    effort_n: int = Field(default=0)
    effort_sum: int = Field(default=0)
    effort_squares: int = Field(default=0)
    easy: int = Field(default=0)  # effort 5–7
    delivered: int = Field(default=0)
    answered: int = Field(default=0)  # of the prompts delivered that day


class ScoreMonth(SQLModel, table=True):
    """score_day summed per calendar month (UTC), kept in the same transactions: a period of
    two years reads two dozen of these per department instead of 730 days."""

    __tablename__ = "score_month"

    department: str = Field(primary_key=True, max_length=64)
    month: date = Field(primary_key=True)  # its first day
    responses: int = Field(default=0)
    satisfied: int = Field(default=0)
    effort_n: int = Field(default=0)
    effort_sum: int = Field(default=0)
    effort_squares: int = Field(default=0)
    easy: int = Field(default=0)
    delivered: int = Field(default=0)
    answered: int = Field(default=0)


class OptOut(SQLModel, table=True):
    """A person who asked not to be prompted until a date."""

    __tablename__ = "opt_out"

    respondent_key: str = Field(primary_key=True, max_length=64)
    until: datetime = Field(sa_column=_utc())
    created_at: datetime = Field(sa_column=_utc())


class TeamsConversation(SQLModel, table=True):
    """Where the bot can write in Microsoft Teams: a stored ConversationReference for each person
    who installed the app and each channel of a team it was added to. Proactive messages are
    impossible without one, so this is the Teams directory (kept until the app is removed)."""

    __tablename__ = "teams_conversation"
    __table_args__ = (sa.UniqueConstraint("kind", "key", name="uq_teams_conversation_kind_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "user" or "channel"
    # A person's Entra ID (AAD) object id, lowercase; or a channel's conversation id.
    key: str = Field(max_length=200)
    team_id: str | None = Field(default=None, max_length=200, index=True)
    tenant_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320, index=True)  # casefolded
    name: str | None = Field(default=None, max_length=200)  # to @mention a provider
    locale: str | None = Field(default=None, max_length=35)
    reference: dict[str, object] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=_utc())


class Dispatch(SQLModel, table=True):
    """A post that must go out exactly once (a digest for a period and channel, an alert): claimed
    here before it is posted and marked posted after, so replicas sharing the database post it
    once and a claim whose holder died is taken over when its lease runs out."""

    __tablename__ = "dispatch"
    __table_args__ = (
        sa.UniqueConstraint("kind", "subject", "period", "channel", name="uq_dispatch_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # digest, org_digest, low_alert, drop_alert
    subject: str = Field(max_length=64)  # department key, "org", or a prompt id
    period: str = Field(max_length=32)  # 2026-W46, or "" for one-off alerts
    channel: str = Field(max_length=220)  # platform:channel id
    status: str = Field(max_length=16)  # claimed, posted, failed
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    message_ref: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=_utc())
    posted_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
