"""Names shared across the domain."""

from enum import StrEnum


class PromptStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ANSWERED = "answered"
    EXPIRED = "expired"
    FAILED = "failed"
    SKIPPED = "skipped"


# Prompts that count against the cooldown and the weekly budget: the person was, or is about
# to be, asked.
ASKING_STATUSES = (
    PromptStatus.PENDING,
    PromptStatus.SENT,
    PromptStatus.ANSWERED,
    PromptStatus.EXPIRED,
)


class SkipReason(StrEnum):
    UNKNOWN_USER = "unknown_user"
    # Known, but the platform gives no way to write to them (Teams: the app is not installed).
    UNREACHABLE = "unreachable"
    BOT = "bot"
    REQUESTER_IS_PROVIDER = "requester_is_provider"
    OPTED_OUT = "opted_out"
    COOLDOWN = "cooldown"
    WEEKLY_BUDGET = "weekly_budget"
    # Withdrawn before it was sent (the resolution reaction was taken back in the grace period).
    CANCELLED = "cancelled"
