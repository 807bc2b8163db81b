"""The example company: Acme's service departments, their people, and how each department is
doing. Everything is generated from a fixed seed, so every run tells the same story."""

import random
from dataclasses import dataclass
from typing import Any

SEED = 20_26
EMAIL_DOMAIN = "acme.example"


@dataclass(frozen=True)
class Trend:
    """A value that moves from `start` to `end` over part of the history (progress 0 = the
    first day, 1 = today): flat before `ramp[0]`, linear until `ramp[1]`, flat after."""

    start: float
    end: float
    ramp: tuple[float, float] = (0.0, 1.0)

    def at(self, progress: float) -> float:
        begin, finish = self.ramp
        share = min(1.0, max(0.0, (progress - begin) / (finish - begin)))
        return self.start + (self.end - self.start) * share


def steady(value: float) -> Trend:
    return Trend(value, value)


@dataclass(frozen=True)
class Character:
    """How a department is experienced: what the seeded history draws answers from."""

    weekly_volume: Trend  # interactions per week at full scale
    satisfied: Trend  # chance that an answer is 4 or 5 of 5
    effort_shift: float  # added to the effort a satisfaction level usually comes with


DEPARTMENTS: list[dict[str, Any]] = [
    {
        "key": "finance",
        "name": "Finance",
        "translations": {"zh_Hans": {"name": "财务部"}},
        "aliases": ["fin", "accounting"],
        "timezone": "Europe/Berlin",
        "services": [
            {"key": "expense-reimbursement", "name": "Expense reimbursement"},
            {"key": "supplier-payment", "name": "Supplier payment"},
            {"key": "payroll-question", "name": "Payroll question"},
        ],
        "reasons": ["Speed", "Clear communication", "Got it right first time", "Policy made sense"],
        "slack": {"digest_channel": "C0FINANCE1", "alert_channel": "C0FINALERT"},
    },
    {
        "key": "it",
        "name": "IT",
        "translations": {"zh_Hans": {"name": "信息技术部"}},
        "aliases": ["helpdesk", "it-support"],
        "timezone": "America/New_York",
        "services": [
            {"key": "laptop", "name": "Laptop setup"},
            {"key": "access", "name": "Access request"},
            {"key": "software", "name": "Software install"},
            {"key": "incident", "name": "Incident support"},
        ],
        "slack": {"digest_channel": "C0ITHELP01"},
    },
    {
        "key": "people",
        "name": "People & HR",
        "translations": {"zh_Hans": {"name": "人力资源部"}},
        "aliases": ["hr", "people-ops"],
        "timezone": "Asia/Shanghai",
        "services": [
            {"key": "onboarding", "name": "Onboarding"},
            {"key": "leave", "name": "Leave request"},
            {"key": "benefits", "name": "Benefits question"},
        ],
        "slack": {"digest_channel": "C0PEOPLE01"},
    },
    {
        "key": "procurement",
        "name": "Procurement",
        "translations": {"zh_Hans": {"name": "采购部"}},
        "aliases": ["purchasing"],
        "timezone": "Europe/Berlin",
        "services": [
            {"key": "purchase-order", "name": "Purchase order"},
            {"key": "new-supplier", "name": "New supplier onboarding"},
        ],
        "reasons": ["Speed", "Clear communication", "Fewer approvals", "Knew the suppliers"],
    },
    {
        "key": "legal",
        "name": "Legal",
        "translations": {"zh_Hans": {"name": "法务部"}},
        "aliases": ["counsel"],
        "timezone": "Europe/London",
        "services": [
            {"key": "contract-review", "name": "Contract review"},
            {"key": "nda", "name": "NDA"},
        ],
    },
    {
        "key": "facilities",
        "name": "Facilities",
        "translations": {"zh_Hans": {"name": "行政后勤部"}},
        "aliases": ["workplace", "office"],
        "timezone": "Europe/Berlin",
        "services": [
            {"key": "desk-move", "name": "Desk move"},
            {"key": "repair", "name": "Repair"},
            {"key": "meeting-rooms", "name": "Meeting rooms"},
        ],
    },
]

# Volumes are the interactions icx hears about (the ticket tools connected to it), not all work.
CHARACTERS: dict[str, Character] = {
    "finance": Character(steady(9), steady(0.72), 0.0),
    "it": Character(steady(17), steady(0.82), 0.4),
    # A new onboarding process landed about a month ago: the change /icx-score should show.
    "people": Character(steady(8), Trend(0.4, 0.9, ramp=(0.4, 0.5)), 0.0),
    "procurement": Character(steady(6), steady(0.55), -0.9),
    # A contract-renewal push early on, quiet since: too few answers lately to show numbers.
    "legal": Character(Trend(3.0, 0.5, ramp=(0.3, 0.6)), steady(0.68), -0.4),
    "facilities": Character(steady(6), steady(0.76), 0.3),
}

# Home teams and their sizes at full scale; the service departments' members are providers.
TEAMS: dict[str, int] = {
    "finance": 18,
    "it": 24,
    "people": 12,
    "procurement": 8,
    "legal": 5,
    "facilities": 10,
    "sales": 70,
    "engineering": 80,
    "marketing": 25,
    "customer-support": 40,
    "operations": 15,
}

FIRST_NAMES = (
    "Ada Alex Amara Ana Andrés Anja Arjun Aylin Ben Bianca Carla Chloé Daniel Dara Diego Elif "
    "Elena Emma Farah Felix Grace Hana Hugo Ines Isaac Ivan Jamal Jonas Julia Kai Karin Kofi Lara "
    "Leo Lina Luca Maja Marco Maya Mehmet Nadia Nico Nora Omar Paula Priya Rafael Rosa Sam Sara "
    "Selin Sofia Tariq Theo Tom Uma Vera Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Adeyemi Alvarez Bauer Becker Costa Demir Dubois Eriksen Fischer Garcia Hansen Ito Jansen "
    "Kaya Keller Kowalski Larsen Lopez Mendes Meyer Moreau Nakamura Novak Okafor Olsen Patel "
    "Rossi Santos Schmidt Silva Singh Suzuki Tanaka Vogel Weber Wójcik Yilmaz Zimmermann"
).split()
# The Shanghai office, whose Slack is set to Chinese.
CHINESE_NAMES = (
    "Chen Jing, Li Wei, Wang Fang, Zhang Min, Liu Yang, Huang Lei, Zhao Xin, Wu Hao, Zhou Ting, "
    "Xu Lin, Sun Yu, Ma Li, Zhu Hong, Hu Jun, Guo Mei"
).split(", ")


@dataclass(frozen=True)
class DemoPerson:
    user_id: str
    name: str
    email: str
    team: str
    locale: str = "en-US"
    activity: float = 1.0  # how often they need a department, relative to others
    responsiveness: float = 0.6  # chance that they answer a prompt at all
    in_slack: bool = True  # contractors are known by email only: icx cannot reach them
    is_bot: bool = False


@dataclass(frozen=True)
class LiveCast:
    """The people of the live part; they have no history, so no policy holds their prompt back."""

    requester: DemoPerson
    provider: DemoPerson
    leader: DemoPerson


@dataclass(frozen=True)
class Company:
    people: list[DemoPerson]
    live: LiveCast
    funders: list[DemoPerson]
    influencers: list[DemoPerson]

    def members(self, team: str) -> list[DemoPerson]:
        return [p for p in self.people if p.team == team and p.in_slack and not p.is_bot]

    @property
    def in_slack(self) -> list[DemoPerson]:
        return [p for p in self.people if p.in_slack]

    def departments_yaml(self) -> dict[str, Any]:
        """What an operator would write in departments.yml, as parse_company takes it."""
        departments = []
        for department in DEPARTMENTS:
            key = department["key"]
            leader = self.live.leader if key == "finance" else self.members(key)[0]
            departments.append({**department, "leaders": [leader.user_id]})
        return {
            "policy": {"cooldown_days": 14, "weekly_budget": 3, "reporting_min_n": 5},
            "directory": {
                "segments": {
                    "funder": [p.user_id for p in self.funders],
                    "influencer": [p.email for p in self.influencers],
                }
            },
            "departments": departments,
        }


def _user_id(rng: random.Random, taken: set[str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        candidate = "U0" + "".join(rng.choice(alphabet) for _ in range(8))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _email(name: str, taken: set[str], domain: str = EMAIL_DOMAIN) -> str:
    base = ".".join(name.lower().split()).translate(str.maketrans("éóñ", "eon"))
    email, suffix = f"{base}@{domain}", 2
    while email in taken:
        email, suffix = f"{base}{suffix}@{domain}", suffix + 1
    taken.add(email)
    return email


def build(scale: float = 1.0, *, live_locale: str = "en-US", seed: int = SEED) -> Company:
    """About 300 people in Slack at scale 1, plus a few contractors and a ticketing bot."""
    rng = random.Random(seed)
    ids: set[str] = set()
    emails: set[str] = set()
    people: list[DemoPerson] = []

    def person(name: str, team: str, domain: str = EMAIL_DOMAIN, **details: Any) -> DemoPerson:
        made = DemoPerson(_user_id(rng, ids), name, _email(name, emails, domain), team, **details)
        people.append(made)
        return made

    # The people with a role in the story come first, so their ids stay put across scales.
    live = LiveCast(
        requester=person("Mia Chen", "sales", locale=live_locale),
        provider=person("Ana Silva", "finance"),
        leader=person("Lena Park", "finance", locale=live_locale),
    )
    funders = [person(n, "leadership") for n in ("Grace Okafor", "Jonas Weber", "Priya Patel")]
    influencers = [person(n, "leadership") for n in ("Marco Rossi", "Nadia Kaya", "Tom Larsen")]
    for team, size in TEAMS.items():
        for _ in range(max(2, round(size * scale))):
            shanghai = rng.random() < 0.12
            if shanghai:
                name, locale = rng.choice(CHINESE_NAMES), "zh-CN"
            else:
                name, locale = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", "en-US"
            person(
                name,
                team,
                locale=locale,
                activity=rng.lognormvariate(0, 0.6),
                # Some people answer almost always, some almost never; about 60 % on average.
                responsiveness=min(0.97, max(0.05, rng.betavariate(3.2, 2.0))),
            )
    for name in ("Kim Contractor", "Lee Temp", "Pat Agency"):
        person(name, "contractors", "staffing.example", in_slack=False, activity=0.5)
    person("Jira Automation", "bots", is_bot=True, activity=0.5)
    return Company(people, live, funders, influencers)
