"""A message for a channel (digest, alert) in words, before any platform's markup: each adapter
renders it (Block Kit, Adaptive Card) and nothing else decides what it says."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    heading: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Image:
    png: bytes
    alt: str
    filename: str
    unavailable: str = ""  # said instead, where a platform cannot show the image


@dataclass(frozen=True)
class Contact:
    """Someone who agreed to be contacted: a label and their platform address (slack:U…,
    teams:<object id>), which each platform turns into a mention."""

    label: str
    address: str
    # The whole line for a platform that cannot mention this address (a Slack person in a
    # Teams channel): their email when known, else where to find them.
    fallback: str = ""


@dataclass(frozen=True)
class Post:
    title: str
    sections: tuple[Section, ...]
    footnote: str = ""
    image: Image | None = None
    contact: Contact | None = None

    @property
    def summary(self) -> str:
        """Notification and screen-reader text."""
        return self.title
