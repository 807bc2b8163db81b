"""What happens at Acme over the seeded weeks, drawn from a seeded random generator: who needs
which department when, and how each person answers a prompt. No I/O here; history.py plays it
through the real core."""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

from bots.demo.company import CHARACTERS, Company, DemoPerson
from core.departments import Department
from core.intake import InteractionIn, PersonIn

# Where each department's interactions come from, and how its tickets are numbered.
SOURCES: dict[str, tuple[str, str]] = {
    "finance": ("jira", "FIN-{n}"),
    "it": ("servicenow", "INC00{n}"),
    "people": ("workday", "HR-{n}"),
    "procurement": ("coupa", "PO-{n}"),
    "legal": ("jira", "LEG-{n}"),
    "facilities": ("slack-workflow", "FAC-{n}"),
}
FIRST_TICKET = 4101
# The effort (1–7) a satisfaction level (1–5) usually comes with.
TYPICAL_EFFORT = {1: 2.0, 2: 2.8, 3: 4.0, 4: 5.4, 5: 6.3}
COMMENTS = {
    "low": (
        "Took three reminders before anyone picked it up.",
        "Nobody told me the request was closed.",
        "I had to fill in the same form twice.",
        "The policy page contradicts what I was told.",
    ),
    "high": (
        "Quick and friendly, thank you!",
        "Solved before I finished my coffee.",
        "Clear explanation of what happens next.",
        "Went out of their way to help.",
    ),
}


@dataclass(frozen=True)
class PlannedInteraction:
    at: datetime
    requester: DemoPerson
    request: InteractionIn


@dataclass(frozen=True)
class PlannedAnswer:
    """How one person reacts to one delivered prompt."""

    delay: timedelta  # from delivery to the first tap
    satisfaction: int | None  # None: they do not answer
    effort: int | None = None
    reasons: tuple[str, ...] = ()
    comment: str | None = None
    external_customer: bool = False
    contact_consent: bool = False
    snooze: bool = False  # "Don't ask me for 30 days"


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; the daily means here are small."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class Planner:
    def __init__(self, company: Company, rng: random.Random, start: datetime, end: datetime):
        self._company = company
        self._rng = rng
        self._start = start
        self._end = end
        self._numbers = count(FIRST_TICKET)

    def progress(self, moment: datetime) -> float:
        return (moment - self._start) / (self._end - self._start)

    def interactions(
        self, departments: tuple[Department, ...], scale: float
    ) -> list[PlannedInteraction]:
        days = (self._end - self._start).days
        planned: list[PlannedInteraction] = []
        for department in departments:
            character = CHARACTERS[department.key]
            for day in range(days):
                day_start = self._start + timedelta(days=day)
                weekly = character.weekly_volume.at(self.progress(day_start)) * scale
                for _ in range(_poisson(self._rng, weekly / 7)):
                    at = day_start + timedelta(seconds=self._rng.uniform(0, 86_400))
                    planned.append(self._interaction(department, at))
        return sorted(planned, key=lambda p: p.at)

    def _interaction(self, department: Department, at: datetime) -> PlannedInteraction:
        rng, company = self._rng, self._company
        members = company.members(department.key)
        provider = rng.choice(members)
        if rng.random() < 0.02:
            # Someone in the department logged and closed their own ticket.
            requester = provider
        else:
            pool = [
                p
                for p in company.people
                if p.team != department.key and p is not company.live.requester
            ]
            requester = rng.choices(pool, weights=[p.activity for p in pool])[0]
        # Ticket tools often know the email only; chat workflows know the Slack id.
        if requester.in_slack and (requester.is_bot or rng.random() < 0.7):
            requester_ref = PersonIn(slack_user_id=requester.user_id)
        else:
            requester_ref = PersonIn(email=requester.email)
        provider_ref: PersonIn | None
        roll = rng.random()
        if roll < 0.1:
            provider_ref = None
        elif roll < 0.55:
            provider_ref = PersonIn(slack_user_id=provider.user_id)
        else:
            provider_ref = PersonIn(email=provider.email)
        source, pattern = SOURCES[department.key]
        request = InteractionIn(
            department=department.key,
            service=rng.choice(department.services).key if department.services else None,
            requester=requester_ref,
            provider=provider_ref,
            source=source,
            reference=pattern.format(n=next(self._numbers)),
            occurred_at=at - timedelta(minutes=rng.uniform(1, 30)),
        )
        return PlannedInteraction(at, requester, request)

    def answer(self, person: DemoPerson, department: Department, sent: datetime) -> PlannedAnswer:
        rng = self._rng
        # Most answers come within the hour; some the next day.
        delay = timedelta(minutes=min(2 * 24 * 60, rng.lognormvariate(math.log(25), 1.3)))
        if rng.random() >= person.responsiveness:
            return PlannedAnswer(delay, None, snooze=rng.random() < 0.03)
        character = CHARACTERS[department.key]
        if rng.random() < character.satisfied.at(self.progress(sent)):
            satisfaction = rng.choices((4, 5), weights=(55, 45))[0]
        else:
            satisfaction = rng.choices((1, 2, 3), weights=(20, 35, 45))[0]
        if rng.random() >= 0.75:
            return PlannedAnswer(delay, satisfaction)
        typical = TYPICAL_EFFORT[satisfaction] + character.effort_shift
        effort = min(7, max(1, round(rng.gauss(typical, 0.9))))
        reasons: tuple[str, ...] = ()
        if rng.random() < 0.3:
            keys = [r.key for r in department.effective_reasons]
            # Unhappy people point at speed and communication (listed first) more often.
            weights = [3.0 if i < 2 and satisfaction <= 3 else 1.0 for i in range(len(keys))]
            picked = {rng.choices(keys, weights=weights)[0] for _ in range(rng.choice((1, 1, 2)))}
            reasons = tuple(k for k in keys if k in picked)
        comment = None
        if rng.random() < 0.1:
            comment = rng.choice(COMMENTS["low" if satisfaction <= 3 else "high"])
        return PlannedAnswer(
            delay,
            satisfaction,
            effort,
            reasons,
            comment,
            external_customer=comment is not None and rng.random() < 0.2,
            contact_consent=comment is not None and rng.random() < 0.3,
        )
