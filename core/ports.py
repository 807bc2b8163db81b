"""The small interface the core speaks to a chat platform through (errbot-style backends).

A platform adapter provides a Directory (who is this person?) and a Messenger (deliver a prompt).
"""

from dataclasses import dataclass
from typing import Protocol

from core.departments import Department, Service
from core.posts import Post


@dataclass(frozen=True)
class Person:
    platform: str
    user_id: str
    is_bot: bool = False
    locale: str | None = None
    email: str | None = None
    # False when the platform knows the person but the bot cannot write to them.
    reachable: bool = True

    @property
    def address(self) -> str:
        return f"{self.platform}:{self.user_id}"


class DirectoryUnavailable(Exception):
    """The platform could not be asked right now; the caller may try again later."""


class Directory(Protocol):
    platform: str
    # Slack's directory lists every member of the workspace, so "not found" means no such
    # person; Teams' lists only people who installed the app, so it means "cannot be reached".
    knows_everyone: bool

    async def by_id(self, user_id: str) -> Person | None: ...

    async def by_email(self, email: str) -> Person | None: ...


@dataclass(frozen=True)
class PromptView:
    """What a platform needs to render and deliver a prompt."""

    prompt_id: str
    recipient: str
    locale: str
    department: Department
    service: Service | None
    provider: str | None
    snooze_days: int


@dataclass(frozen=True)
class MessageRef:
    channel_id: str
    message_ts: str


class DeliveryError(Exception):
    """A failed send. `retry_after` comes from a rate limit; `platform_wide` says that limit
    holds every send to the platform back (Slack), not just this conversation's (Teams)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        platform_wide: bool = True,
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.platform_wide = platform_wide


class Messenger(Protocol):
    platform: str

    async def deliver_prompt(self, view: PromptView) -> MessageRef: ...


class Publisher(Protocol):
    """Posts to a department's or leadership's channel on one platform."""

    platform: str

    async def publish(self, channel: str, post: Post) -> MessageRef: ...
