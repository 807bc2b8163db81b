"""The small interface the core speaks to a chat platform through (errbot-style backends).

A platform adapter provides a Directory (who is this person?) and a Messenger (deliver a prompt).
"""

from dataclasses import dataclass
from typing import Protocol

from core.departments import Department, Service


@dataclass(frozen=True)
class Person:
    platform: str
    user_id: str
    is_bot: bool = False
    locale: str | None = None
    email: str | None = None

    @property
    def address(self) -> str:
        return f"{self.platform}:{self.user_id}"


class DirectoryUnavailable(Exception):
    """The platform could not be asked right now; the caller may try again later."""


class Directory(Protocol):
    platform: str

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
    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Messenger(Protocol):
    platform: str

    async def deliver_prompt(self, view: PromptView) -> MessageRef: ...
