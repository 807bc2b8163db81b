"""The message catalogs stay honest: every message the code uses is translated in every shipped
language, placeholders survive translation, platform locales map to the right catalog, plurals
work, and what a person actually sees — prompts, score answers, digests and alerts, in Slack and
in Teams — is entirely in their language."""

import asyncio
import functools
import gettext
import html
import io
import re
import string
from collections.abc import Coroutine, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy.exc as sa_exc
from babel.messages.mofile import write_mo
from slack_bolt.context.respond.async_respond import AsyncRespond

from bots.slack import ask_modal, asking, blocks
from bots.slack.publisher import post_blocks
from bots.teams import ask as teams_ask
from bots.teams import bot as teams_bot
from bots.teams import cards, task_cards
from bots.teams.messenger import TeamsMessenger
from bots.teams.package import ASK_COMMAND
from bots.teams.publisher import TeamsPublisher, post_card
from core import (
    ask_help_text,
    ask_text,
    catalogs,
    chart,
    digest_text,
    prompt_text,
    score_command,
    score_text,
)
from core.alerts import DropAlert, LowAnswer
from core.answers import PromptState, TapResult
from core.ask_command import Unclear, choose
from core.comments import Comments
from core.config import parse_company
from core.context import Icx
from core.departments import Company, Department
from core.digest import (
    Cell,
    DepartmentDigest,
    LineOfSight,
    OrgDigest,
    ReasonCount,
    Touchpoint,
    TrendPoint,
)
from core.domain import SkipReason
from core.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, Translator, negotiate, translator
from core.intake import IntakeOutcome
from core.periods import Window, window
from core.ports import DirectoryUnavailable
from core.posts import Image, Post
from core.scores import DepartmentScore, Tally
from core.stats import mean_interval, two_proportion_test, wilson
from core.weeks import IsoWeek
from storage.teams_conversations import TeamsConversations

T = TypeVar("T")

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
PROVIDER = "slack:U0PROV0001"

# Finance uses the built-in reasons (translated through the catalogs); IT brings its own
# reasons, which are names from the configuration and stay as they are written.
COMPANY: dict[str, Any] = {
    "departments": [
        {
            "key": "finance",
            "name": "Finance",
            "timezone": "Europe/Berlin",
            "services": [
                {"key": "expense-reimbursement", "name": "Expense reimbursement"},
                {"key": "supplier-payment", "name": "Supplier payment"},
            ],
        },
        {
            "key": "it",
            "name": "IT Helpdesk",
            "timezone": "America/New_York",
            "services": [{"key": "laptop", "name": "Laptop setup"}],
            "reasons": ["Response time", "Friendly staff"],
        },
        {"key": "legal", "name": "Legal"},
    ],
}

# What a person typed, echoed back in an answer: theirs, not ours to translate.
TYPED_DEPARTMENT = "Marketingg"
TYPED_NEAR = "Legl"  # close enough to Legal to be offered it
TYPED_PERIOD = "fortnight"
TYPED_SERVICE = "Payrol"  # a service no department offers, after the ask command's @person

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Slack's <@U…> and Teams' <at>Name</at>: each platform shows the person's name.
MENTION = re.compile(r"<@[A-Z0-9]+>|<at>[^<]*</at>")


# --- catalogs against the code ---------------------------------------------------------------


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalog_matches_the_code(locale: str) -> None:
    report = catalogs.check(locale)
    assert report.missing == [], (
        f"{locale}: used in code but not in the catalog (run `icx catalogs update`)"
    )
    assert report.stale == [], (
        f"{locale}: in the catalog but no longer used (run `icx catalogs update`)"
    )
    assert report.untranslated == [], f"{locale}: messages without a translation"
    assert report.ok


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_translations_keep_every_placeholder(locale: str) -> None:
    wrong: list[str] = []
    for message in catalogs.load(locale):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
        strings = (message.string,) if isinstance(message.string, str) else tuple(message.string)
        expected = set().union(*(_fields(i) for i in ids))
        for translated in strings:
            try:
                found = _fields(translated)
            except ValueError as error:
                wrong.append(f"{ids[0]!r}: {translated!r} is not a valid format string ({error})")
                continue
            if found != expected:
                wrong.append(
                    f"{ids[0]!r}: {translated!r} has {sorted(found)}, not {sorted(expected)}"
                )
    assert wrong == [], "\n".join(wrong)


def test_chinese_catalog_has_one_plural_form() -> None:
    catalog = catalogs.load("zh_Hans")
    assert catalog.num_plurals == 1
    for message in catalog:
        if message.id and not isinstance(message.id, str):
            assert len(message.string) == 1, message.id


# --- choosing a language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("zh-CN", "zh_Hans"),
        ("zh_CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh_Hans", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("en", "en"),
        ("fr-FR", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_negotiate_maps_platform_locales(reported: str | None, expected: str) -> None:
    assert negotiate(reported) == expected


def test_negotiate_takes_the_first_supported_candidate() -> None:
    assert negotiate("fr-FR", "zh-CN", "en-US") == "zh_Hans"
    assert negotiate(None, "", "de-DE", "en-GB", "zh-CN") == "en"
    assert negotiate("zh-Hans", "en-US") == "zh_Hans"
    assert negotiate() == DEFAULT_LOCALE
    assert negotiate("fr-FR", "de-DE") == DEFAULT_LOCALE


def test_translator_falls_back_to_english_for_unshipped_locales() -> None:
    assert translator("fr-FR").locale == "en"
    assert translator("zh-CN").locale == "zh_Hans"


# --- plurals ---------------------------------------------------------------------------------


def test_english_plurals() -> None:
    t = translator("en")
    assert score_text.period_name(window("1d", NOW, ZONE), t) == "the last 1 day"
    assert score_text.period_name(window("30d", NOW, ZONE), t) == "the last 30 days"
    assert score_text.previous_name(window("1d", NOW, ZONE), t) == "the 1 day before"
    assert score_text.previous_name(window("7d", NOW, ZONE), t) == "the 7 days before"
    one = t.ngettext(
        "{n} response, {more} more needed", "{n} responses, {more} more needed", 1, more="4"
    )
    many = t.ngettext(
        "{n} response, {more} more needed", "{n} responses, {more} more needed", 3, more="2"
    )
    assert (one, many) == ("1 response, 4 more needed", "3 responses, 2 more needed")


@pytest.mark.parametrize("days", [1, 2, 30, 365])
def test_chinese_plurals(days: int) -> None:
    t = translator("zh_Hans")
    win = window(f"{days}d", NOW, ZONE)
    for text in (score_text.period_name(win, t), score_text.previous_name(win, t)):
        assert str(days) in text
        assert CJK.search(text), text
        assert not LATIN_WORD.search(text), text


def test_plural_counts_are_formatted_for_the_locale() -> None:
    singular, plural = "{n} response, {more} more needed", "{n} responses, {more} more needed"
    assert translator("en").ngettext(singular, plural, 1234, more="5") == (
        "1,234 responses, 5 more needed"
    )
    chinese = translator("zh_Hans").ngettext(singular, plural, 1, more="4")
    assert "1" in chinese and "4" in chinese and CJK.search(chinese), chinese


# --- what people see -------------------------------------------------------------------------

# The command as each platform has it typed: Slack's slash command, Teams' plain word.
SLACK_COMMAND = score_text.SLASH_COMMAND
TEAMS_COMMAND = teams_bot.COMMAND

# People and what they wrote: theirs, shown as written in every language.
PERSON = "Alex Chen"  # a Teams user who installed the app, shown as an @mention
TEAMS_PERSON = "teams:8c1f2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
EMAIL = "alex.chen@acme.example"
SLACK_CONTACT = "slack:U0REQ00001"
COMMENTS = (
    "Quick and friendly.",
    "The form was confusing.",
    "The supplier form keeps timing out.",
    "Nobody told me the invoice was rejected.",
    "Three weeks and still not paid.",
)
WEEK = IsoWeek(2026, 46)
MINIMUM = 5
COMMENT_MINIMUM = 10
CHART_FILE = "F0CHART001"
# Asking for feedback: the Slack user asked (shown as a mention) about a message in a channel,
# by a provider whose first department is Finance (its key is the examples' department).
ASK_REQUESTER = "U0REQ00001"
ASK_TARGET = ask_modal.AskTarget(
    ASK_REQUESTER, "C0CHANNEL1", "1763630000.000100", "https://hooks.slack.example/actions/1"
)
ASK_EXAMPLE_KEY = "finance"


def _company() -> Company:
    return parse_company(COMPANY)


def _department(company: Company, key: str) -> Department:
    return next(d for d in company.departments if d.key == key)


LOOKED_UP_EMAIL = "mia@acme.example"  # what the digester finds for a consenting person


def proper_names(company: Company) -> list[str]:
    """Names that legitimately stay as written in any language: the product and its command,
    configured names and time zones, and what people typed or are called."""
    names = ["/icx-score", "icx-score", "/icx-ask", "icx-ask", "icx"]
    names += [TYPED_DEPARTMENT, TYPED_NEAR, TYPED_PERIOD, TYPED_SERVICE]
    # A department's key in the ask command's examples, and the departments file's key for
    # its members: typed as written in every language.
    names += [ASK_EXAMPLE_KEY, "members:"]
    names += [*COMMENTS, EMAIL, PERSON, LOOKED_UP_EMAIL, "Slack", "Microsoft Teams"]
    for department in company.departments:
        names += [department.name, *department.aliases, department.timezone]
        names += [s.name for s in department.services]
        names += [r.name for r in department.reasons if not r.builtin]
    return names


def block_texts(value: object) -> Iterator[str]:
    """Every human-readable string in Block Kit: the `text` of text objects, wherever they sit
    (sections, context, buttons, options, placeholders, modal title/submit/close/label/hint),
    and the alt text of images."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("text", "alt_text") and isinstance(item, str):
                yield item
            else:
                yield from block_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from block_texts(item)


# What people read in an Adaptive Card: TextBlock and TextRun text, Action titles, Input labels,
# placeholders and toggle titles, choice titles, image alt text. What a button sends (`data`)
# and mention entities (`msteams`: Teams shows their <at> tag as the person's name) are not read.
CARD_TEXT_KEYS = frozenset(
    {"text", "title", "label", "placeholder", "altText", "errorMessage", "fallbackText"}
)
CARD_UNREAD = frozenset({"data", "msteams"})
# Every other string-valued key the cards use, none of them read by people; a new key fails
# test_every_card_string_is_either_read_or_known until it is sorted into one of the two.
CARD_OTHER_KEYS = frozenset(
    {
        "type",
        "$schema",
        "version",
        "verb",
        "id",
        "style",
        "size",
        "weight",
        "value",
        "valueOn",
        "valueOff",
        "url",
    }
)


def card_texts(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CARD_UNREAD:
                continue
            if key in CARD_TEXT_KEYS and isinstance(item, str):
                yield item
            else:
                yield from card_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from card_texts(item)


def card_keys(value: object) -> Iterator[str]:
    """The keys of every string in a card, outside what it sends and its mention entities."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CARD_UNREAD:
                continue
            if isinstance(item, str):
                yield key
            else:
                yield from card_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from card_keys(item)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _icx(company: Company) -> Icx:
    """Enough of an Icx for what needs no database: help and unknown names or periods."""
    return cast(Icx, SimpleNamespace(company=company, clock=lambda: NOW))


def _state(department: Department, locale: str, **fields: Any) -> PromptState:
    service = department.services[0] if department.services else None
    return PromptState(
        prompt_id="01PROMPT",
        department=department,
        service=service,
        locale=locale,
        expires_at=NOW + timedelta(days=7),
        snooze_days=30,
        **fields,
    )


def _thanks_states(department: Department, locale: str) -> Iterator[tuple[int, PromptState]]:
    for effort in range(1, 8):
        yield (
            effort,
            _state(
                department,
                locale,
                satisfaction=effort % 5 + 1,
                effort=effort,
                reasons=(department.effective_reasons[0].key,),
                comment=COMMENTS[0] if effort % 2 else None,
            ),
        )


def _answered_states(department: Department, locale: str) -> list[PromptState]:
    answered = _state(
        department,
        locale,
        satisfaction=2,
        effort=3,
        reasons=tuple(r.key for r in department.effective_reasons[:2]),
        comment=COMMENTS[1],
        external_customer=True,
        contact_consent=True,
    )
    return [answered, _state(department, locale, satisfaction=5, effort=7)]


SNOOZED_FIELDS: tuple[dict[str, int], ...] = (
    {},
    {"satisfaction": 4},
    {"satisfaction": 4, "effort": 6},
)


def prompt_screens(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """Every prompt stage through the real Slack renderer, as (where, text)."""
    locale = t.locale
    for department in company.departments:
        service = department.services[0] if department.services else None
        for provider in (PROVIDER, EMAIL, None):
            for svc in (service, None):
                rendered = blocks.satisfaction_blocks("01PROMPT", department, svc, provider, 30, t)
                for text in block_texts(rendered):
                    yield f"satisfaction_blocks({department.key})", text
        for satisfaction in range(1, 6):
            state = _state(department, locale, satisfaction=satisfaction)
            for text in block_texts(blocks.effort_blocks(state, t)):
                yield f"effort_blocks({department.key}, {satisfaction})", text
        for effort, state in _thanks_states(department, locale):
            for text in block_texts(blocks.thanks_blocks(state, t)):
                yield f"thanks_blocks({department.key}, {effort})", text
            # The fallback text of a redrawn message.
            yield "thank_you", prompt_text.thank_you(state, t)
        for state in _answered_states(department, locale):
            modal = blocks.comment_modal(state, "D0CHANNEL1", "1763630000.000100", t)
            for text in block_texts(modal):
                yield f"comment_modal({department.key})", text
        snoozed = NOW + timedelta(days=30)
        for fields in SNOOZED_FIELDS:
            state = _state(department, locale, snoozed_until=snoozed, **fields)
            for text in block_texts(blocks.blocks_for(state, t)):
                yield f"blocks_for(snoozed, {sorted(fields)})", text
            yield f"blocks_for(snoozed, {sorted(fields)}) text", blocks.fallback_text(state, t)
        for stage in ("csat", "ces"):
            state = _state(department, locale, satisfaction=3, effort=5)
            for text in block_texts(blocks.blocks_for(state, t, stage)):
                yield f"blocks_for(changing {stage})", text
        # The fallback text of a delivered prompt (Teams' notification text too).
        yield "satisfaction_question", prompt_text.satisfaction_question(department, service, t)
    # The comment form's error when Slack sends something unreadable.
    yield "malformed_form", prompt_text.malformed_form(t)
    for result in TapResult:
        if result is not TapResult.RECORDED:
            # An ephemeral message in Slack, the invoke's message response in Teams.
            yield f"refusal({result.value})", prompt_text.refusal(result, t)


def teams_prompt_cards(company: Company, t: Translator) -> Iterator[tuple[str, cards.Card]]:
    """Every prompt stage as the Teams bot draws it, as (where, card)."""
    locale = t.locale
    for department in company.departments:
        service = department.services[0] if department.services else None
        for provider in (TEAMS_PERSON, EMAIL, None):
            shown, mentions = cards.mention_of(provider, {TEAMS_PERSON: PERSON})
            for svc in (service, None):
                for chosen in (None, 4):
                    card = cards.satisfaction_card(
                        "01PROMPT", department, svc, shown, 30, t, chosen, mentions
                    )
                    yield f"satisfaction_card({department.key})", card
        for satisfaction in range(1, 6):
            state = _state(department, locale, satisfaction=satisfaction)
            yield f"effort_card({department.key}, {satisfaction})", cards.effort_card(state, t)
        for effort, state in _thanks_states(department, locale):
            yield f"thanks_card({department.key}, {effort})", cards.thanks_card(state, t)
        for state in _answered_states(department, locale):
            yield f"thanks_card({department.key}, answered)", cards.thanks_card(state, t)
        snoozed = NOW + timedelta(days=30)
        for fields in SNOOZED_FIELDS:
            state = _state(department, locale, snoozed_until=snoozed, **fields)
            yield f"card_for(snoozed, {sorted(fields)})", cards.card_for(state, t)
        for stage in (None, "csat", "ces"):
            state = _state(department, locale, satisfaction=3, effort=5)
            yield f"card_for(stage {stage})", cards.card_for(state, t, stage)


def _scores(company: Company, spec: str) -> list[DepartmentScore]:
    win = window(spec, NOW, ZONE)
    finance = _department(company, "finance")
    it = _department(company, "it")
    legal = _department(company, "legal")
    risen = Tally(
        responses=40,
        satisfied=36,
        effort_n=30,
        effort_sum=180,
        effort_squares=1130,
        easy=26,
        delivered=50,
        answered=40,
    )
    fallen = Tally(
        responses=40,
        satisfied=10,
        effort_n=8,
        effort_sum=24,
        effort_squares=90,
        easy=2,
        delivered=45,
        answered=40,
    )
    return [
        DepartmentScore(finance, win, risen, Tally(responses=40, satisfied=20), minimum=5),
        DepartmentScore(it, win, fallen, Tally(responses=40, satisfied=30), minimum=5),
        # Within noise, and too few effort answers to show.
        DepartmentScore(
            legal,
            win,
            Tally(responses=20, satisfied=15, effort_n=3, delivered=30, answered=20),
            Tally(responses=20, satisfied=14),
            minimum=5,
        ),
        # Shown now, but too few responses in the previous period to compare.
        DepartmentScore(
            finance, win, Tally(responses=8, satisfied=6, delivered=9, answered=8), Tally(), 5
        ),
        # Gated: not enough responses, and nobody asked.
        DepartmentScore(it, win, Tally(responses=1), Tally(responses=12, satisfied=9), 5),
        DepartmentScore(legal, win, Tally(responses=3, delivered=4, answered=3), Tally(), 5),
    ]


def score_answers(
    company: Company, t: Translator, command: str
) -> list[tuple[str, score_text.ScoreText]]:
    """Every answer to the score command, worded for a platform's way of typing it."""
    answers: list[tuple[str, score_text.ScoreText]] = []
    for spec in ("30d", "1d", "quarter"):
        scores = _scores(company, spec)
        for index, score in enumerate(scores):
            answers.append((f"describe({spec}, {index})", score_text.describe(score, t)))
        overview = score_text.overview(scores, scores[0].window, t, command)
        answers.append((f"overview({spec})", overview))
    icx = _icx(company)
    # Through the command itself, as typed: its titles are the command's own words.
    for typed in ("help", "?", "帮助"):
        answers.append((f"help_text({typed})", _run(score_command.answer(icx, typed, t, command))))
    for typed in (TYPED_DEPARTMENT, TYPED_NEAR):
        answer = _run(score_command.answer(icx, typed, t, command))
        answers.append((f"unknown_department({typed})", answer))
    answer = _run(score_command.answer(icx, f"finance {TYPED_PERIOD}", t, command))
    answers.append(("unknown_period", answer))
    suggestions = [_department(company, "finance"), _department(company, "legal")]
    for found in (suggestions, []):
        line = score_text.unknown_department(TYPED_DEPARTMENT, found, t, command)
        answers.append(("unknown_department", score_text.ScoreText(TYPED_DEPARTMENT, [line])))
    # A department's comments, for its leaders (the rules: tests/test_leader_comments.py).
    finance, win = _department(company, "finance"), _scores(company, "30d")[0].window
    for label, comments in (
        ("below the minimum", Comments(4, 10)),
        ("none", Comments(12, 10)),
        ("all", Comments(12, 10, ("👍", "⏱ 48"), 2)),  # neither language: people type either
        ("the newest", Comments(12, 10, ("👍",), 7)),
    ):
        answers.append((f"comments({label})", score_text.comments(finance, win, comments, t)))
    answers.append(("comments_refused", score_text.comments_refused(t)))
    answers.append(("comments_elsewhere", score_text.comments_elsewhere(t)))
    answers.append(("comments_need_department", score_text.comments_need_department(t, command)))
    return answers


def score_screens(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """Every score answer, through the real Slack renderer, as (where, text)."""
    for where, answer in score_answers(company, t, SLACK_COMMAND):
        yield f"{where} title", answer.title  # the fallback text of the Slack answer
        for text in block_texts(blocks.score_blocks(answer)):
            yield where, text


def teams_score_cards(company: Company, t: Translator) -> Iterator[tuple[str, cards.Card]]:
    """Every score answer as the Teams bot sends it, and its help for anything else typed."""
    for where, answer in score_answers(company, t, TEAMS_COMMAND):
        yield f"score_card {where}", cards.score_card(answer)
    bot = teams_bot.TeamsBot(_icx(company), cast(TeamsConversations, None))
    yield "teams_help", cards.score_card(_run(bot._help(t)))


# --- asking for feedback in a department's name ----------------------------------------------


def _providers(company: Company) -> tuple[tuple[str, list[Department]], ...]:
    """A provider's departments, as a form offers them: one department with services, several
    (one of them without), and one that lists none."""
    finance, it, legal = (_department(company, key) for key in ("finance", "it", "legal"))
    assert finance.key == ASK_EXAMPLE_KEY
    return (("one", [finance]), ("several", [finance, it, legal]), ("no services", [legal]))


def _members(company: Company) -> list[Department]:
    """The departments of the provider in what follows (their first is the examples')."""
    return [_department(company, "finance"), _department(company, "it")]


def ask_refusals(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """Why nobody is asked, on both platforms: not a member (of any department, or of the one
    submitted), and the provider being the one they would ask."""
    names = [d.display_name(t.locale) for d in _members(company)]
    yield "not_a_member(of none)", ask_text.not_a_member([], t)
    yield "not_a_member(of others)", ask_text.not_a_member(names, t)
    yield "cannot_ask_yourself", ask_text.cannot_ask_yourself(t)


def ask_command_answers(
    company: Company, t: Translator, command: str, mentioned: str
) -> Iterator[tuple[str, str]]:
    """The ask command's usage, and what it says of what it cannot read after the @person:
    `command` as the platform has it typed, `mentioned` as the person appears in the text."""
    mine = _members(company)
    finance, legal = _department(company, "finance"), _department(company, "legal")
    yield "usage", ask_text.usage(command, mine[0].key, t)
    example = f"{command} {mentioned} {mine[0].key}"
    for label, departments, typed in (
        ("which department", mine, ""),
        ("not their department", mine, "legal"),
        ("unknown service", mine, f"finance {TYPED_SERVICE}"),
        ("unknown service, one department", [finance], TYPED_SERVICE),
        ("no services", [legal], TYPED_SERVICE),
    ):
        unclear = choose(company, departments, typed, example, t)
        assert isinstance(unclear, Unclear), (label, unclear)
        yield f"choose({label})", unclear.message


def _outcomes() -> Iterator[tuple[str, IntakeOutcome]]:
    """Every outcome of asking: asked, already asked before, and each reason nobody is."""
    yield "created", IntakeOutcome(7, True, "01PROMPT", "scheduled", None)
    yield "already requested", IntakeOutcome(7, False, "01PROMPT", "scheduled", None)
    for reason in SkipReason:
        yield reason.value, IntakeOutcome(7, True, "01PROMPT", "skipped", reason)


def ask_outcomes(company: Company, t: Translator, person: str) -> Iterator[tuple[str, str]]:
    """Every outcome, for every department, with `person` as the platform shows them."""
    for kind, outcome in _outcomes():
        for department in company.departments:
            yield f"outcome({kind})", ask_text.outcome_text(outcome, person, department, t)


def slack_ask_replies(company: Company, t: Translator) -> list[tuple[str, str]]:
    """Everything /icx-ask and the shortcut tell a provider, as (where, the text of the
    ephemeral message), sent the listeners' own way."""
    person = f"<@{ASK_REQUESTER}>"
    replies = [
        *ask_refusals(company, t),
        ("not_a_person", ask_text.not_a_person(t)),
        *ask_command_answers(company, t, asking.COMMAND, person),
        *ask_outcomes(company, t, person),
    ]
    for label, error in (
        ("Slack unavailable", DirectoryUnavailable()),
        ("database unavailable", sa_exc.TimeoutError()),
    ):
        explanation = asking._unavailable(error, t)
        assert explanation is not None, label
        replies.append((f"unavailable({label})", explanation))
    sent: list[str] = []

    async def respond(text: str, response_type: str, **_: Any) -> None:
        assert response_type == "ephemeral"
        sent.append(text)

    async def tell_all() -> list[tuple[str, str]]:
        told: list[tuple[str, str]] = []
        for where, text in replies:
            await asking._tell(cast(AsyncRespond, respond), text)
            told.append((where, sent.pop()))
        return told

    return _run(tell_all())


def slack_ask_screens(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """The "Ask for feedback" shortcut's form and every ephemeral answer to asking, in Slack."""
    for label, departments in _providers(company):
        for text in block_texts(ask_modal.ask_view(departments, ASK_TARGET, t)):
            yield f"ask_view({label})", text
    for where, text in slack_ask_replies(company, t):
        yield f"ask_reply {where}", text


def teams_ask_cards(company: Company, t: Translator) -> Iterator[tuple[str, cards.Card]]:
    """The message action's form, and the icx-ask command's answers as cards in the chat (a
    mentioned person is shown by name, and typed as @name)."""
    for label, departments in _providers(company):
        yield f"ask_form({label})", task_cards.ask_form(departments, PERSON, t)
    title = ask_help_text.action_title(t)
    answers = [
        *ask_refusals(company, t),
        ("person_not_found", ask_help_text.person_not_found(PERSON, t)),
        *ask_command_answers(company, t, ASK_COMMAND, f"@{PERSON}"),
        *ask_outcomes(company, t, PERSON),
    ]
    for where, text in answers:
        # The usage points to the message action too.
        lines = [text, ask_help_text.action_hint(title, t)] if where == "usage" else [text]
        yield f"ask_notice {where}", task_cards.notice_card(title, lines)


def teams_ask_dialogs(company: Company, t: Translator) -> Iterator[tuple[str, str]]:
    """The message action's dialogs: the form's title, and the small dialog of an outcome or a
    refusal (the invoke's message answer, which is no card)."""
    mine = _members(company)
    form = task_cards.ask_form(mine, PERSON, t)
    task = task_cards.continue_with(ask_help_text.action_title(t), form)["task"]["value"]
    yield "ask_dialog title", task["title"]
    assert task["card"]["content"] is form  # its texts: teams_ask_cards
    # A service of another of their departments, submitted with the first.
    it = _department(company, "it")
    elsewhere = teams_ask._service_title(task_cards.service_value(it, "laptop"), mine, t)
    answers = [
        *ask_refusals(company, t),
        ("not_a_person", ask_text.not_a_person(t)),
        ("not_a_colleague", ask_help_text.not_a_colleague(PERSON, t)),
        ("service_elsewhere", ask_help_text.service_elsewhere(elsewhere, mine[0], t)),
        *ask_outcomes(company, t, PERSON),
    ]
    for where, text in answers:
        yield f"ask_dialog {where}", task_cards.message(text)["task"]["value"]


# --- digests and alerts ----------------------------------------------------------------------


def _week_score(department: Department, current: Tally, previous: Tally) -> DepartmentScore:
    periods = WEEK.period(department.zone), WEEK.shifted(-1).period(department.zone)
    return DepartmentScore(department, Window(WEEK.label, *periods), current, previous, MINIMUM)


THIS_WEEK = Tally(
    responses=24,
    satisfied=15,
    effort_n=20,
    effort_sum=90,
    effort_squares=450,
    easy=12,
    delivered=40,
    answered=24,
)
HIGHER_BEFORE = Tally(responses=30, satisfied=27)  # a meaningful fall
LOWER_BEFORE = Tally(responses=30, satisfied=5)  # a meaningful rise
SIMILAR_BEFORE = Tally(responses=20, satisfied=14)  # a fall within noise
SLIGHTLY_LOWER_BEFORE = Tally(responses=20, satisfied=11)  # a rise within noise
SAME_BEFORE = Tally(responses=48, satisfied=30)  # no change at all


def _trend() -> tuple[TrendPoint, ...]:
    """Twelve weeks up to WEEK: some below the minimum, some without enough effort answers."""
    points = []
    for back in range(11, -1, -1):
        n = (4, 12, 20, 3, 16, 25, 9, 18, 2, 14, 22, 24)[back]
        shown = n >= MINIMUM
        effort = mean_interval(n, n * 5.0, n * 26.0) if shown and n >= 12 else None
        points.append(
            TrendPoint(WEEK.shifted(-back), n, wilson(n * 2 // 3, n) if shown else None, effort)
        )
    return tuple(points)


def _digest(department: Department, **changes: Any) -> DepartmentDigest:
    """A full week: touchpoints, reasons, segments, external customers and comments."""
    services = department.services
    reasons = department.effective_reasons
    touchpoints = [
        Touchpoint(s, Cell(8, wilson(3, 8)), ((reasons[0], 3), (reasons[1], 2))) for s in services
    ]
    values: dict[str, Any] = {
        "score": _week_score(department, THIS_WEEK, HIGHER_BEFORE),
        "trend": _trend(),
        "touchpoints": (
            *touchpoints,
            Touchpoint(None, Cell(5, wilson(3, 5))),
            Touchpoint(None, Cell(3, None)),
        ),
        "reasons": tuple(ReasonCount(r, low=i + 1, high=5 - i) for i, r in enumerate(reasons)),
        "segments": (
            ("funder", Cell(2, None)),
            ("influencer", Cell(4, None)),
            ("end-user", Cell(18, wilson(12, 18))),
        ),
        "line_of_sight": LineOfSight(6, wilson(6, 24), wilson(2, 6)),
        "comments": COMMENTS[2:],
    }
    values.update(changes)
    score = values.pop("score")
    return DepartmentDigest(department, WEEK, score, COMMENT_MINIMUM, **values)


def trend_chart(company: Company, t: Translator) -> Image:
    """Finance's chart, titled as the digester titles it."""
    return chart.trend_chart(_trend(), t, _department(company, "finance").display_name(t.locale))


def posts(company: Company, t: Translator, image: Image) -> Iterator[tuple[str, Post]]:
    """Every kind of digest and alert, as the core words it for a channel."""
    finance = _department(company, "finance")
    it = _department(company, "it")
    legal = _department(company, "legal")
    for department in (finance, it):
        yield (
            f"department_post({department.key})",
            digest_text.department_post(_digest(department), t, image),
        )
    for name, previous in (
        ("rise", LOWER_BEFORE),
        ("fall within noise", SIMILAR_BEFORE),
        ("rise within noise", SLIGHTLY_LOWER_BEFORE),
        ("no change", SAME_BEFORE),
        ("no comparison", Tally(responses=2)),
    ):
        digest = _digest(finance, score=_week_score(finance, THIS_WEEK, previous))
        yield f"department_post({name})", digest_text.department_post(digest, t, image)
    few = Tally(responses=8, satisfied=6, delivered=8, answered=8)
    sparse = _digest(
        legal,
        score=_week_score(legal, few, Tally()),
        line_of_sight=LineOfSight(0, wilson(0, 8), None),
        touchpoints=(Touchpoint(None, Cell(8, wilson(6, 8))),),
        reasons=(),
        segments=(),
    )
    yield "department_post(few comments)", digest_text.department_post(sparse, t)
    unshared = _digest(finance, line_of_sight=LineOfSight(3, wilson(3, 24), None))
    yield "department_post(few external)", digest_text.department_post(unshared, t)
    gated = Tally(responses=3, satisfied=1, effort_n=3, effort_sum=9, delivered=10, answered=3)
    hidden = _digest(finance, score=_week_score(finance, gated, HIGHER_BEFORE))
    yield "department_post(gated)", digest_text.department_post(hidden, t, image)
    org = OrgDigest(
        WEEK,
        (
            _week_score(finance, THIS_WEEK, HIGHER_BEFORE),
            _week_score(finance, THIS_WEEK, LOWER_BEFORE),
            _week_score(it, Tally(responses=20, satisfied=15), SIMILAR_BEFORE),
            _week_score(it, THIS_WEEK, Tally()),
            _week_score(legal, Tally(responses=2, satisfied=2), Tally(responses=9, satisfied=8)),
        ),
    )
    yield "org_post", digest_text.org_post(org, t)
    yield "org_post(empty)", digest_text.org_post(OrgDigest(WEEK), t)
    for department, service, reasons, effort in (
        (finance, "expense-reimbursement", ("speed", "outcome", "no-longer-configured"), 2),
        (it, "laptop", tuple(r.key for r in it.effective_reasons), 6),
        (legal, None, (), None),
    ):
        for contact in (None, SLACK_CONTACT, TEAMS_PERSON, EMAIL):
            alert = LowAnswer(
                prompt_id="p7",
                department=department,
                service=service,
                satisfaction=1 if effort else 2,
                effort=effort,
                reasons=reasons,
                comment=COMMENTS[4] if reasons else None,
                contact_address=contact,
                answered_at=datetime(2026, 11, 12, 10, 0, tzinfo=UTC),
            )
            yield (
                f"low_answer_post({department.key}, {contact})",
                digest_text.low_answer_post(alert, t),
            )
            # The email the digester looked up, for a platform that cannot mention them.
            yield (
                f"low_answer_post({department.key}, {contact}, email)",
                digest_text.low_answer_post(alert, t, LOOKED_UP_EMAIL),
            )
    for department in (finance, it):
        drop = DropAlert(
            department, wilson(4, 12), wilson(40, 50), two_proportion_test(4, 12, 40, 50)
        )
        yield f"drop_post({department.key})", digest_text.drop_post(drop, t)


def chart_alt_texts(company: Company, t: Translator, image: Image) -> Iterator[tuple[str, str]]:
    """The chart's alt text (Slack's image alt text and file title, Teams' altText) for every
    kind of trend: full, without effort, with no week shown, with no week at all."""
    title = _department(company, "finance").display_name(t.locale)
    trend = _trend()
    yield "trend_chart(alt)", image.alt
    without_effort = [TrendPoint(p.week, p.n, p.satisfied, None) for p in trend]
    hidden = [TrendPoint(p.week, 3, None, None) for p in trend]
    for name, points in (("no effort", without_effort), ("hidden", hidden), ("empty", [])):
        yield f"alt_text({name})", chart.alt_text(chart.chart_series(points), t, title)
    yield "trend_chart(empty)", chart.trend_chart([], t, title).alt


class _Mentions:
    """What TeamsPublisher asks its messenger about a contact: PERSON installed the app."""

    async def mention_for(self, address: str | None) -> tuple[str | None, list[dict[str, Any]]]:
        return cards.mention_of(address, {TEAMS_PERSON: PERSON})


def post_screens(company: Company, t: Translator, image: Image) -> Iterator[tuple[str, str]]:
    """Every digest and alert through the real Slack renderer, as (where, text)."""
    for where, post in posts(company, t, image):
        yield f"{where} summary", post.summary  # the notification text, on both platforms
        for text in block_texts(post_blocks(post, CHART_FILE if post.image else None)):
            yield f"post_blocks {where}", text


def teams_post_cards(
    company: Company, t: Translator, image: Image
) -> Iterator[tuple[str, cards.Card]]:
    """Every digest and alert as the Teams publisher posts it, contacts as @mentions."""
    publisher = TeamsPublisher(cast(TeamsMessenger, _Mentions()))
    for where, post in posts(company, t, image):
        contact, mentions = _run(publisher._contact(post.contact))
        yield f"post_card {where}", post_card(post, contact, mentions)


def teams_cards(company: Company, t: Translator, image: Image) -> Iterator[tuple[str, cards.Card]]:
    # A chart too large for a card is replaced by a line saying so.
    too_large = Image(b"\x89PNG" + bytes(40_000), image.alt, image.filename, image.unavailable)
    finance = _department(company, "finance")
    big = digest_text.department_post(_digest(finance), t, too_large)
    yield "post_card(too large)", post_card(big)
    yield from teams_prompt_cards(company, t)
    yield from teams_score_cards(company, t)
    yield from teams_ask_cards(company, t)
    yield from teams_post_cards(company, t, image)


def teams_screens(company: Company, t: Translator, image: Image) -> Iterator[tuple[str, str]]:
    """Every Teams card, as (where, text)."""
    for where, card in teams_cards(company, t, image):
        for text in card_texts(card):
            yield where, text
    yield from teams_ask_dialogs(company, t)


def screens(locale: str, t: Translator | None = None) -> list[tuple[str, str]]:
    """Everything a person reads, on both platforms, as (where, text); `t` replaces the
    locale's own translator (to watch it, or to take a translation away)."""
    company = _company()
    t = t or translator(locale)
    assert t.locale == locale
    image = trend_chart(company, t)
    return [
        *prompt_screens(company, t),
        *score_screens(company, t),
        *slack_ask_screens(company, t),
        *post_screens(company, t, image),
        *chart_alt_texts(company, t, image),
        *teams_screens(company, t, image),
    ]


@functools.cache
def _screens(locale: str) -> tuple[tuple[str, str], ...]:
    return tuple(screens(locale))


def english_words(text: str, names: list[str]) -> list[str]:
    """Latin words of two or more letters left once proper names and mentions are removed."""
    text = MENTION.sub(" ", html.unescape(text))  # Slack mrkdwn escapes &, < and >
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", " ", text)
    return LATIN_WORD.findall(text)


def english_in(rendered: Iterable[tuple[str, str]]) -> list[tuple[str, list[str], str]]:
    """(where, English words, text) of every text with English left in it."""
    names = proper_names(_company())
    found = []
    for where, text in rendered:
        words = english_words(text, names)
        if words:
            found.append((where, words, text))
    return found


def leaks() -> list[str]:
    return [
        f"{where}: {words} in {text!r}" for where, words, text in english_in(_screens("zh_Hans"))
    ]


def test_every_screen_is_rendered() -> None:
    for locale in SUPPORTED_LOCALES:
        rendered = _screens(locale)
        kinds = {where.split("(")[0].split(" ")[0] for where, _ in rendered}
        assert {
            # Slack
            "satisfaction_blocks",
            "effort_blocks",
            "thanks_blocks",
            "comment_modal",
            "blocks_for",
            "malformed_form",
            "refusal",
            "describe",
            "overview",
            "help_text",
            "unknown_department",
            "unknown_period",
            "ask_view",
            "ask_reply",
            "post_blocks",
            # Teams
            "satisfaction_card",
            "effort_card",
            "thanks_card",
            "card_for",
            "score_card",
            "teams_help",
            "ask_form",
            "ask_notice",
            "ask_dialog",
            "post_card",
            # Digests and alerts, on both
            "department_post",
            "org_post",
            "low_answer_post",
            "drop_post",
            "trend_chart",
            "alt_text",
        } <= kinds
        empty = [where for where, text in rendered if not text.strip()]
        assert empty == [], f"{locale}: empty texts in {empty}"
        # Every digest and alert, every score answer, reaches both platforms.
        for kind in ("department_post", "org_post", "low_answer_post", "drop_post"):
            assert any(w.startswith(f"post_blocks {kind}") for w, _ in rendered), kind
            assert any(w.startswith(f"post_card {kind}") for w, _ in rendered), kind
        for kind in ("describe", "overview", "help_text", "unknown_department", "unknown_period"):
            assert any(w.startswith(f"score_card {kind}") for w, _ in rendered), kind


def test_every_card_string_is_either_read_or_known() -> None:
    company = _company()
    for locale in SUPPORTED_LOCALES:
        t = translator(locale)
        rendered = teams_cards(company, t, trend_chart(company, t))
        keys = {key for _, card in rendered for key in card_keys(card)}
        unsorted = keys - CARD_TEXT_KEYS - CARD_OTHER_KEYS
        assert unsorted == set(), f"is this text people read? add it to CARD_TEXT_KEYS: {unsorted}"
        assert {"text", "title", "label", "placeholder", "altText"} <= keys


class _Watching(gettext.NullTranslations):
    """A locale's translations that note every message looked up."""

    def __init__(self, inner: gettext.NullTranslations) -> None:
        super().__init__()
        self.inner = inner
        self.seen: set[str] = set()

    def gettext(self, message: str) -> str:
        self.seen.add(message)
        return self.inner.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self.seen.add(singular)
        return self.inner.ngettext(singular, plural, n)


def _translations(locale: str, without: str | None = None) -> gettext.GNUTranslations:
    """The locale's catalog as gettext reads it, with one message's translation taken away."""
    catalog = catalogs.load(locale)
    if without is not None:
        message = catalog.get(without)
        assert message is not None, without
        message.string = "" if isinstance(message.string, str) else ("",)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


# The Teams app package's words: checked in tests/test_teams_package.py.
PACKAGE_FILE = "bots/teams/package.py"


def test_every_catalog_message_is_shown_on_a_screen() -> None:
    """The leak test sees every message: one no screen used could lose its translation unnoticed.
    (The chart's axis labels are looked up too; they are drawn into the image, whose Chinese
    tests/test_chart.py checks.)"""
    watching = _Watching(_translations("zh_Hans"))
    screens("zh_Hans", Translator("zh_Hans", watching))
    places = catalogs.extract()
    unseen = [
        message
        for message, where in places.items()
        if (message if isinstance(message, str) else message[0]) not in watching.seen
        and not all(place.startswith(PACKAGE_FILE) for place in where)
    ]
    assert unseen == [], "messages no rendered screen shows:\n" + "\n".join(map(repr, unseen))


@pytest.mark.parametrize(
    "message",
    [
        "Send",  # a Teams Action title and a Slack modal button
        "What mattered most? (optional)",  # a Teams ChoiceSet label
        "Shown to the department without your name.",  # a Teams Input placeholder
        "This affected an external customer",  # a Teams Input.Toggle title
        # The Teams bot's help.
        "I answer two commands: {ask} @person [service], with which department members ask "
        "a colleague how their department helped them, and {command}:",
        "Low rating for {department}: {service}",  # an alert's title
        "Recent comments",  # a digest's section heading
        "{title}, {first} to {last}: no week had enough responses to show numbers.",  # alt text
        "Speed",  # a built-in reason, as a Teams choice and in digests
        "Ask",  # the Slack ask form's submit button (and the Teams form's)
        "Department",  # a Teams ask form's ChoiceSet label
        # An outcome of asking, for three reasons alike, in Slack and Teams.
        "{person} will not be asked this time: nobody is asked about {department} more than "
        "once in a while, or more than a few times a week.",
        # The icx-ask command's usage in Teams, pointing to the message action.
        "Or choose “{action}” in the “More actions” menu (…) of their message.",
    ],
)
def test_a_missing_chinese_translation_shows_up_as_english(message: str) -> None:
    """The leak test is real: take one translation away and its English is found."""
    t = Translator("zh_Hans", _translations("zh_Hans", without=message))
    english = set(LATIN_WORD.findall(re.sub(r"\{[^}]*\}", " ", message)))
    found = english_in(screens("zh_Hans", t))
    assert any(english <= set(words) for _, words, _ in found), found


def test_chinese_screens_have_no_english() -> None:
    found = leaks()
    assert found == [], (
        "English in zh_Hans output: translate it in the catalog (or, if the code hard-codes it, "
        "route it through a catalog):\n" + "\n".join(found)
    )


def test_english_screens_have_no_chinese() -> None:
    found = [f"{where}: {text!r}" for where, text in _screens("en") if CJK.search(text)]
    assert found == [], "CJK characters in en output:\n" + "\n".join(found)


def test_a_chart_too_large_for_teams_is_explained_in_chinese() -> None:
    company = _company()
    t = translator("zh_Hans")
    finance = _department(company, "finance")
    image = Image(b"\x89PNG" + bytes(40_000), "图表", "trend.png")
    post = digest_text.department_post(_digest(finance), t, image)
    card = post_card(post)
    assert not any(element.get("type") == "Image" for element in card["body"])
    assert english_in(("post_card(too large)", text) for text in card_texts(card)) == []


def test_scales_read_naturally_in_chinese() -> None:
    t = translator("zh_Hans")
    csat = [option.label for option in prompt_text.satisfaction_options(t)]
    ces = [option.label for option in prompt_text.effort_options(t)]
    assert csat[0].endswith("非常不满意") and csat[-1].endswith("非常满意"), csat
    assert ces[0].endswith("非常不同意") and ces[-1].endswith("非常同意"), ces
    assert len(set(csat)) == 5 and len(set(ces)) == 7
    department = _department(_company(), "finance")
    service = department.services[0]
    question = prompt_text.satisfaction_question(department, service, t)
    assert "Finance" in question and "Expense reimbursement" in question and "满意" in question
    assert question.endswith("？")
    statement = prompt_text.effort_statement(department, t)
    assert "Finance" in statement and statement.endswith("。")
