"""What every core operation needs, assembled once per process."""

from collections.abc import Callable
from dataclasses import dataclass, field

from core.clock import Clock, utcnow
from core.departments import Company
from core.identity import Keyer
from core.locks import KeyedLocks
from core.ports import Directory
from storage.db import Database


@dataclass
class Icx:
    company: Company
    db: Database
    keyer: Keyer
    directories: dict[str, Directory] = field(default_factory=dict)
    clock: Clock = utcnow
    # Called after a prompt is committed, so a sender can deliver it without polling.
    on_prompt_scheduled: Callable[[], None] = lambda: None
    # Serialises the budget check and the prompt insert per person (see core.intake).
    person_locks: KeyedLocks = field(default_factory=KeyedLocks)
