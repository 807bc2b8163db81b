"""The departments YAML: departments, their services and reasons, prompt policy, directory."""

import re
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.helpdesks import Helpdesks, check_unambiguous
from core.i18n import N_, SUPPORTED_LOCALES

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"

# Used when a department lists no reasons of its own.
DEFAULT_REASONS: tuple[tuple[str, str], ...] = (
    ("speed", N_("Speed")),
    ("communication", N_("Communication")),
    ("expertise", N_("Expertise")),
    ("outcome", N_("The outcome")),
    ("ease", N_("Ease of the process")),
    ("courtesy", N_("Courtesy")),
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Service(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=80)


class Reason(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=60)
    # A reason from the built-in list is translated through the catalogs.
    builtin: bool = False


DEFAULT_SCHEDULE = "0 9 * * mon"  # Monday 09:00 in the department's time zone
SLACK_CHANNEL = r"^[CG][A-Z0-9]{2,}$"
TEAMS_CHANNEL = r"^19:[^\s]+@thread\.[a-z0-9]+$"
SLACK_USER = r"^[UW][A-Z0-9]{2,20}$"
SLACK_USERGROUP = r"^S[A-Z0-9]{2,20}$"
AAD_OBJECT_ID = r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$"


def _cron(value: str) -> str:
    try:
        CronTrigger.from_crontab(value)
    except ValueError as error:
        raise ValueError(
            f"{value!r} is not a cron expression ({error}); write minute hour day month "
            "weekday, e.g. '0 9 * * mon' for Mondays at 09:00"
        ) from None
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a known time zone; use an IANA name such as Europe/Berlin"
        ) from None
    return value


class SlackChannels(_Strict):
    digest_channel: str | None = Field(default=None, pattern=SLACK_CHANNEL)
    alert_channel: str | None = Field(default=None, pattern=SLACK_CHANNEL)


class Members(_Strict):
    """Who provides the department's service: only they may close a request with the
    resolution reaction or ask for feedback in the department's name."""

    slack_users: tuple[Annotated[str, Field(pattern=SLACK_USER)], ...] = ()
    # Everyone in these Slack user groups (the S… id from the group's page) is a member.
    slack_usergroups: tuple[Annotated[str, Field(pattern=SLACK_USERGROUP)], ...] = ()
    teams_users: tuple[Annotated[str, Field(pattern=AAD_OBJECT_ID)], ...] = ()
    # Matched against the person's email on either platform, case-insensitively.
    emails: tuple[Annotated[str, Field(pattern=EMAIL, max_length=320)], ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.slack_users or self.slack_usergroups or self.teams_users or self.emails)

    def lists(self, platform: str, user_id: str, email: str | None) -> bool:
        """Named directly (user groups are resolved by the platform adapter, which can ask)."""
        ids = self.slack_users if platform == "slack" else self.teams_users
        if user_id.casefold() in {i.casefold() for i in ids}:
            return True
        return bool(email) and email.casefold() in {e.casefold() for e in self.emails}


class HelpChannels(_Strict):
    """Slack channels where colleagues ask the department for help. A member's resolution
    reaction on a question there asks its author for feedback, after a grace period in which
    taking the reaction back cancels it."""

    slack_channels: tuple[Annotated[str, Field(pattern=SLACK_CHANNEL)], ...] = ()
    reaction: str = Field(default="white_check_mark", pattern=r"^[a-z0-9_+'-]{1,100}$")
    grace_minutes: int = Field(default=10, ge=0, le=24 * 60)

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)


class TeamsChannels(_Strict):
    """Teams channel ids (19:…@thread.tacv2), reached through the conversation reference the
    bot stored when it was added to the team."""

    digest_channel: str | None = Field(default=None, pattern=TEAMS_CHANNEL)
    alert_channel: str | None = Field(default=None, pattern=TEAMS_CHANNEL)


def _shipped(value: str) -> str:
    if value not in SUPPORTED_LOCALES:
        raise ValueError(f"{value!r} is not a shipped language; use one of {SUPPORTED_LOCALES}")
    return value


class Digest(_Strict):
    """When the weekly digest is posted; it always reports the last complete ISO week."""

    schedule: str = DEFAULT_SCHEDULE

    _valid_schedule = field_validator("schedule")(_cron)


class Leadership(_Strict):
    """Where the organisation digest (every department side by side) goes."""

    slack_channel: str | None = Field(default=None, pattern=SLACK_CHANNEL)
    teams_channel: str | None = Field(default=None, pattern=TEAMS_CHANNEL)
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = "UTC"
    locale: str = "en"

    _valid_schedule = field_validator("schedule")(_cron)
    _valid_zone = field_validator("timezone")(_zone)
    _valid_locale = field_validator("locale")(_shipped)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Translation(_Strict):
    """A department's names in one more language; whatever is left out falls back to the
    default text, never to an empty string."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    services: dict[str, str] = Field(default_factory=dict)
    reasons: dict[str, str] = Field(default_factory=dict)

    @field_validator("services", "reasons")
    @classmethod
    def _no_empty_names(cls, value: dict[str, str]) -> dict[str, str]:
        empty = sorted(k for k, v in value.items() if not v.strip())
        if empty:
            raise ValueError(f"empty translation for {', '.join(empty)}")
        return value


class Policy(_Strict):
    cooldown_days: int = Field(default=14, ge=0, le=365)
    weekly_budget: int = Field(default=3, ge=1, le=50)
    expiry_days: int = Field(default=7, ge=1, le=90)
    reporting_min_n: int = Field(default=5, ge=3, le=1000)
    comment_min_n: int = Field(default=10, ge=3, le=1000)
    snooze_days: int = Field(default=30, ge=1, le=365)
    erase_recipient_after_hours: int = Field(default=1, ge=0, le=24 * 30)
    # Raw responses are deleted after this; never below the longest period icx can report
    # (731 days). A 731-day score's comparison with the 731 days before reaches further back
    # than the default keeps, and says "too few responses then" once those are gone.
    retention_days: int = Field(default=1095, ge=731, le=3650)

    @model_validator(mode="after")
    def _comments_need_more(self) -> "Policy":
        if self.comment_min_n < self.reporting_min_n:
            raise ValueError(
                "comment_min_n must be at least reporting_min_n: comments identify people "
                "more easily than numbers"
            )
        return self

    @property
    def expiry(self) -> timedelta:
        return timedelta(days=self.expiry_days)


class Department(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=80)
    aliases: tuple[str, ...] = ()
    timezone: str = "UTC"
    locale: str = "en"
    services: tuple[Service, ...] = ()
    reasons: tuple[Reason, ...] = ()
    slack: SlackChannels = SlackChannels()
    teams: TeamsChannels = TeamsChannels()
    digest: Digest = Digest()
    leaders: tuple[str, ...] = ()
    members: Members = Members()
    help: HelpChannels = HelpChannels()
    helpdesk: Helpdesks = Helpdesks()
    translations: dict[str, Translation] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _zone(value)

    @field_validator("locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        return _shipped(value)

    @field_validator("reasons", mode="before")
    @classmethod
    def _reasons_from_strings(cls, value: object) -> object:
        # `- Speed` is accepted as shorthand for `{key: speed, name: Speed}`.
        if isinstance(value, list):
            return [
                {"key": re.sub(r"[^a-z0-9]+", "-", item.lower()).strip("-"), "name": item}
                if isinstance(item, str)
                else item
                for item in value
            ]
        return value

    @field_validator("translations")
    @classmethod
    def _shipped_languages(cls, value: dict[str, Translation]) -> dict[str, Translation]:
        unknown = sorted(set(value) - set(SUPPORTED_LOCALES))
        if unknown:
            raise ValueError(
                f"no catalog for {', '.join(unknown)}; translations may be given for "
                f"{', '.join(SUPPORTED_LOCALES)}"
            )
        return value

    @model_validator(mode="after")
    def _translations_name_known_keys(self) -> "Department":
        services = {s.key for s in self.services}
        reasons = {r.key for r in self.effective_reasons}
        for locale, translation in self.translations.items():
            for label, given, known in (
                ("services", translation.services, services),
                ("reasons", translation.reasons, reasons),
            ):
                unknown = sorted(set(given) - known)
                if unknown:
                    raise ValueError(
                        f"translations.{locale}.{label} names unknown key(s) {', '.join(unknown)}"
                    )
        return self

    @model_validator(mode="after")
    def _unique_children(self) -> "Department":
        for label, keys in (
            ("services", [s.key for s in self.services]),
            ("reasons", [r.key for r in self.reasons]),
        ):
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            if repeated:
                raise ValueError(f"{label} repeat the key(s) {', '.join(repeated)}")
        return self

    @model_validator(mode="after")
    def _helpdesk_names_known_services(self) -> "Department":
        self.helpdesk.check_services({s.key for s in self.services})
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def effective_reasons(self) -> tuple[Reason, ...]:
        if self.reasons:
            return self.reasons
        return tuple(Reason(key=k, name=n, builtin=True) for k, n in DEFAULT_REASONS)

    def service(self, key: str | None) -> Service | None:
        return next((s for s in self.services if s.key == key), None)

    def names(self) -> tuple[str, ...]:
        """Everything a person may call it, in any language."""
        translated = tuple(t.name for t in self.translations.values() if t.name)
        return (self.key, self.name, *self.aliases, *translated)

    def display_name(self, locale: str) -> str:
        translation = self.translations.get(locale)
        return translation.name if translation and translation.name else self.name

    def service_name(self, service: Service, locale: str) -> str:
        translation = self.translations.get(locale)
        return translation.services.get(service.key, service.name) if translation else service.name

    def reason_name(self, reason: Reason, locale: str) -> str | None:
        """The configured translation, if any (built-in reasons also have the catalogs)."""
        translation = self.translations.get(locale)
        return translation.reasons.get(reason.key) if translation else None


class Directory(_Strict):
    """Who counts as a funder or an influencer; everyone else is an end-user."""

    segments: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - {"funder", "influencer"})
        if unknown:
            raise ValueError(
                f"unknown segment(s) {', '.join(unknown)}; list people under funder or "
                "influencer (everyone else is an end-user)"
            )
        return value

    def segment_of(self, *identifiers: str | None) -> str:
        wanted = {i.lower() for i in identifiers if i}
        for segment in ("funder", "influencer"):
            if wanted & {m.lower() for m in self.segments.get(segment, ())}:
                return segment
        return "end-user"


class Company(_Strict):
    """Everything the departments YAML holds."""

    policy: Policy = Policy()
    directory: Directory = Directory()
    leadership: Leadership = Leadership()
    departments: tuple[Department, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_unambiguous(self) -> "Company":
        owner: dict[str, str] = {}
        for department in self.departments:
            for name in {n.casefold() for n in department.names()}:
                if name in owner and owner[name] != department.key:
                    raise ValueError(
                        f"the name {name!r} is used by both {owner[name]} and {department.key}; "
                        "keys, names and aliases must each point to one department"
                    )
                owner[name] = department.key
        return self

    @model_validator(mode="after")
    def _channels_kept_apart(self) -> "Company":
        """A department's channels carry its comments (GUIDE §6): no other department's, and
        not the leadership channel."""
        owner: dict[str, str] = {}
        for department in self.departments:
            channels = {
                department.slack.digest_channel,
                department.slack.alert_channel,
                department.teams.digest_channel,
                department.teams.alert_channel,
            } - {None}
            for channel in channels:
                assert channel is not None
                if channel in owner and owner[channel] != department.key:
                    raise ValueError(
                        f"channel {channel} is configured for both {owner[channel]} and "
                        f"{department.key}; each department's digests and alerts (with its "
                        "comments) need channels of their own"
                    )
                owner[channel] = department.key
        leadership = {self.leadership.slack_channel, self.leadership.teams_channel} - {None}
        shared = sorted(c for c in leadership if c in owner)
        if shared:
            raise ValueError(
                f"leadership channel {shared[0]} is also a channel of {owner[shared[0]]}; "
                "department comments must stay in the department's own channels"
            )
        return self

    @model_validator(mode="after")
    def _help_channels_kept_apart(self) -> "Company":
        owner: dict[str, str] = {}
        for department in self.departments:
            for channel in department.help.slack_channels:
                if owner.setdefault(channel, department.key) != department.key:
                    raise ValueError(
                        f"help channel {channel} is listed by both {owner[channel]} and "
                        f"{department.key}; a resolution there must belong to one department"
                    )
        return self

    @model_validator(mode="after")
    def _helpdesks_unambiguous(self) -> "Company":
        check_unambiguous([(d.key, d.helpdesk) for d in self.departments])
        return self

    def department(self, key: str) -> Department | None:
        return next((d for d in self.departments if d.key == key), None)
