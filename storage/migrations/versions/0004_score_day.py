"""Maintained per-day and per-month score aggregates, backfilled from the raw rows; covering
indexes for the partial edge days of a period.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "responses",
    "satisfied",
    "effort_n",
    "effort_sum",
    "effort_squares",
    "easy",
    "delivered",
    "answered",
)


def _day(column: str, dialect: str) -> str:
    # Timestamps are stored as naive UTC on both databases (storage.types.UTCDateTime), so
    # the date part is the UTC day; SQLite's date() gives the 'YYYY-MM-DD' that sa.Date reads.
    return f"CAST({column} AS DATE)" if dialect == "postgresql" else f"date({column})"


def backfill_sql(dialect: str) -> list[str]:
    """Counts every raw row into score_day, then score_day into score_month (both must be
    empty). Written out in SQL, frozen with this revision, so later changes to the application
    cannot change what it did; the benchmark data generator fills its tables with these same
    statements."""
    answered, sent = _day("answered_at", dialect), _day("sent_at", dialect)
    month = (
        "CAST(date_trunc('month', day) AS DATE)"
        if dialect == "postgresql"
        else "date(day, 'start of month')"
    )
    sums = ", ".join(f"SUM({c})" for c in COLUMNS)
    days = f"""
        INSERT INTO score_day (department, day, {", ".join(COLUMNS)})
        SELECT department, day, {sums}
        FROM (
            SELECT department, {answered} AS day,
                   COUNT(*) AS responses,
                   SUM(CASE WHEN satisfaction >= 4 THEN 1 ELSE 0 END) AS satisfied,
                   COUNT(effort) AS effort_n,
                   COALESCE(SUM(effort), 0) AS effort_sum,
                   COALESCE(SUM(effort * effort), 0) AS effort_squares,
                   SUM(CASE WHEN effort >= 5 THEN 1 ELSE 0 END) AS easy,
                   0 AS delivered,
                   0 AS answered
            FROM response
            GROUP BY department, {answered}
            UNION ALL
            SELECT department, {sent}, 0, 0, 0, 0, 0, 0, COUNT(*), COUNT(answered_at)
            FROM prompt
            WHERE sent_at IS NOT NULL
            GROUP BY department, {sent}
        ) AS counted
        GROUP BY department, day
    """
    months = f"""
        INSERT INTO score_month (department, month, {", ".join(COLUMNS)})
        SELECT department, {month}, {sums}
        FROM score_day
        GROUP BY department, {month}
    """
    return [days, months]


def backfill(connection: Connection) -> None:
    for statement in backfill_sql(connection.dialect.name):
        connection.execute(sa.text(statement))


def upgrade() -> None:
    op.create_table(
        "score_day",
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(column, sa.Integer(), nullable=False) for column in COLUMNS),
        sa.PrimaryKeyConstraint("department", "day"),
    )
    op.create_table(
        "score_month",
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        *(sa.Column(column, sa.Integer(), nullable=False) for column in COLUMNS),
        sa.PrimaryKeyConstraint("department", "month"),
    )
    backfill(op.get_bind())
    # Wider indexes in place of the (department, time) ones: same prefix for every query that
    # used those, and they also hold what the edge-day counts need (index-only scans).
    op.create_index(
        "ix_response_tally",
        "response",
        ["department", "answered_at", "satisfaction", "effort"],
        unique=False,
    )
    op.drop_index("ix_response_department_answered", table_name="response")
    op.create_index(
        "ix_prompt_tally", "prompt", ["department", "sent_at", "answered_at"], unique=False
    )
    op.drop_index("ix_prompt_department_sent", table_name="prompt")


def downgrade() -> None:
    op.create_index("ix_prompt_department_sent", "prompt", ["department", "sent_at"], unique=False)
    op.drop_index("ix_prompt_tally", table_name="prompt")
    op.create_index(
        "ix_response_department_answered", "response", ["department", "answered_at"], unique=False
    )
    op.drop_index("ix_response_tally", table_name="response")
    op.drop_table("score_month")
    op.drop_table("score_day")
