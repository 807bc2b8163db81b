"""The words of the digests and alerts, from hand-built data: headline numbers with intervals,
changes called changes only when meaningful, touchpoints in the order given with hidden cells
showing only n, comments only when present and allowed, no numbers below the minimum, the org
view in the given order and not ranked, anonymous unless consented, and all of it in Chinese
without English leaking."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from core import digest_text
from core.alerts import DropAlert, LowAnswer
from core.config import parse_company
from core.departments import Company, Department, Reason
from core.digest import (
    Cell,
    DepartmentDigest,
    LineOfSight,
    OrgDigest,
    ReasonCount,
    Touchpoint,
    suppressed,
)
from core.i18n import Translator, translator
from core.periods import Window
from core.posts import Contact, Image, Post
from core.scores import DepartmentScore, Tally
from core.stats import two_proportion_test, wilson
from core.weeks import IsoWeek

WEEK = IsoWeek(2026, 46)  # Monday 9 to Sunday 15 November 2026
MINIMUM = 5
COMMENT_MINIMUM = 10
CONTACT = "slack:U0REQ00001"
COMMENTS = (
    "The supplier form keeps timing out.",
    "Quick and friendly, thanks!",
    "Nobody told me the invoice was rejected.",
)

# Finance has a Chinese name and the built-in reasons (translated by the catalogs); IT brings
# its own reasons, names from the configuration that stay as written.
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
            "translations": {"zh_Hans": {"name": "财务部"}},
        },
        {
            "key": "it",
            "name": "IT Helpdesk",
            "timezone": "America/New_York",
            "services": [{"key": "laptop", "name": "Laptop setup"}],
            "reasons": ["Response time", "Friendly staff"],
        },
        {"key": "legal", "name": "Legal", "timezone": "UTC"},
    ]
}

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
STATISTIC = re.compile(r"(?<![A-Za-z])[np] [=<] ")  # n = 12, p = 0.02, p < 0.001


@pytest.fixture
def company() -> Company:
    return parse_company(COMPANY)


def department(company: Company, key: str) -> Department:
    found = company.department(key)
    assert found is not None
    return found


def reason(dept: Department, key: str) -> Reason:
    return next(r for r in dept.effective_reasons if r.key == key)


def score(dept: Department, current: Tally, previous: Tally) -> DepartmentScore:
    periods = WEEK.period(dept.zone), WEEK.shifted(-1).period(dept.zone)
    return DepartmentScore(dept, Window(WEEK.label, *periods), current, previous, MINIMUM)


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
HIGHER_BEFORE = Tally(responses=30, satisfied=27)  # 90 % → 62.5 %: p = 0.016
SIMILAR_BEFORE = Tally(responses=20, satisfied=14)  # 70 % → 62.5 %: p = 0.60


def full_digest(
    company: Company, previous: Tally = HIGHER_BEFORE, current: Tally = THIS_WEEK, **changes: Any
) -> DepartmentDigest:
    finance = department(company, "finance")
    expense, supplier = finance.services
    segments = {"funder": 2, "influencer": 4, "end-user": 18}
    hidden = suppressed(segments, MINIMUM)
    assert hidden == {"funder", "influencer"}
    values: dict[str, Any] = {
        "touchpoints": (
            Touchpoint(
                supplier,
                Cell(8, wilson(3, 8)),
                ((reason(finance, "speed"), 3), (reason(finance, "communication"), 2)),
            ),
            Touchpoint(None, Cell(5, wilson(3, 5))),
            Touchpoint(expense, Cell(11, wilson(9, 11)), ((reason(finance, "outcome"), 1),)),
        ),
        "reasons": (
            ReasonCount(reason(finance, "speed"), low=5, high=1),
            ReasonCount(reason(finance, "communication"), low=3, high=4),
            ReasonCount(reason(finance, "expertise"), low=0, high=6),
            ReasonCount(reason(finance, "outcome"), low=1, high=0),
            ReasonCount(reason(finance, "courtesy"), low=2, high=2),
        ),
        "segments": (
            ("funder", Cell(2, None)),
            ("influencer", Cell(4, None)),
            ("end-user", Cell(18, wilson(12, 18))),
        ),
        "line_of_sight": LineOfSight(6, wilson(6, 24), wilson(2, 6)),
        "comments": COMMENTS,
    }
    values.update(changes)
    return DepartmentDigest(
        finance, WEEK, score(finance, current, previous), COMMENT_MINIMUM, **values
    )


def gated_digest(company: Company) -> DepartmentDigest:
    finance = department(company, "finance")
    current = Tally(responses=3, satisfied=1, effort_n=3, effort_sum=9, delivered=10, answered=3)
    return DepartmentDigest(finance, WEEK, score(finance, current, HIGHER_BEFORE), COMMENT_MINIMUM)


def org_digest(company: Company) -> OrgDigest:
    finance, it, legal = company.departments
    return OrgDigest(
        WEEK,
        (
            score(finance, THIS_WEEK, HIGHER_BEFORE),
            score(it, Tally(responses=20, satisfied=15), Tally(responses=18, satisfied=12)),
            score(legal, Tally(responses=2, satisfied=2), Tally(responses=9, satisfied=8)),
        ),
    )


def low_answer(company: Company, contact: str | None) -> LowAnswer:
    return LowAnswer(
        prompt_id="p7",
        department=department(company, "finance"),
        service="expense-reimbursement",
        satisfaction=1,
        effort=2,
        reasons=("speed", "outcome", "no-longer-configured"),
        comment="Three weeks and still not paid.",
        contact_address=contact,
        answered_at=datetime(2026, 11, 12, 10, 0, tzinfo=UTC),
    )


def drop_alert(company: Company) -> DropAlert:
    return DropAlert(
        department(company, "finance"),
        wilson(4, 12),
        wilson(40, 50),
        two_proportion_test(4, 12, 40, 50),
    )


def lines(post: Post) -> list[str]:
    return [line for section in post.sections for line in section.lines]


def section(post: Post, heading: str) -> list[str]:
    found = [s for s in post.sections if s.heading == heading]
    assert len(found) == 1, [s.heading for s in post.sections]
    return list(found[0].lines)


def texts(post: Post) -> list[str]:
    """Everything a reader sees of a post."""
    found = [post.title, post.footnote, *lines(post)]
    found += [s.heading for s in post.sections if s.heading]
    if post.contact:
        found.append(post.contact.label)
    if post.image:
        found.append(post.image.alt)
    return found


def all_posts(company: Company, t: Translator) -> list[tuple[str, Post]]:
    return [
        ("department, meaningful", digest_text.department_post(full_digest(company), t)),
        (
            "department, within noise",
            digest_text.department_post(full_digest(company, SIMILAR_BEFORE), t),
        ),
        (
            "department, no comparison",
            digest_text.department_post(full_digest(company, Tally(responses=2)), t),
        ),
        (
            "department, few comments",
            digest_text.department_post(
                full_digest(
                    company,
                    current=Tally(responses=8, satisfied=6, delivered=8, answered=8),
                    line_of_sight=LineOfSight(0, wilson(0, 8), None),
                    touchpoints=(Touchpoint(None, Cell(8, wilson(6, 8))),),
                    reasons=(),
                    segments=(),
                ),
                t,
            ),
        ),
        ("department, gated", digest_text.department_post(gated_digest(company), t)),
        ("org", digest_text.org_post(org_digest(company), t)),
        ("org, empty", digest_text.org_post(OrgDigest(WEEK), t)),
        ("low answer, anonymous", digest_text.low_answer_post(low_answer(company, None), t)),
        ("low answer, contact", digest_text.low_answer_post(low_answer(company, CONTACT), t)),
        ("drop", digest_text.drop_post(drop_alert(company), t)),
    ]


# --- department digest -----------------------------------------------------------------------


def test_title_names_the_week_and_its_days(company: Company) -> None:
    post = digest_text.department_post(full_digest(company), translator("en"))
    assert post.title == "Finance — week 46 (Nov 9, 2026 – Nov 15, 2026)"
    assert post.summary == post.title
    zh = digest_text.department_post(full_digest(company), translator("zh_Hans"))
    assert zh.title.startswith("财务部")
    assert "46" in zh.title and "2026年11月9日" in zh.title and "2026年11月15日" in zh.title


def test_headline_numbers_carry_intervals_and_n(company: Company) -> None:
    post = digest_text.department_post(full_digest(company), translator("en"))
    assert post.sections[0].heading is None
    assert list(post.sections[0].lines) == [
        "24 responses this week.",
        "Response rate: 60% (24 of 40 asked).",
        "Satisfied: 62% (95% interval 43%–79%), n = 24.",
        "Down 28 points on the week before — a meaningful change (p = 0.02).",
        "Effort: 4.5 of 7 (95% interval 3.8–5.2); 60% found it easy, n = 20.",
    ]


def test_a_change_within_noise_is_not_called_a_change(company: Company) -> None:
    post = digest_text.department_post(full_digest(company, SIMILAR_BEFORE), translator("en"))
    change = post.sections[0].lines[3]
    assert change == "Down 7 points on the week before — within noise (p = 0.60)."
    assert "meaningful" not in change


def test_no_comparison_when_the_week_before_had_too_few(company: Company) -> None:
    post = digest_text.department_post(full_digest(company, Tally(responses=2)), translator("en"))
    assert post.sections[0].lines[3] == "No comparison: too few responses the week before."


def test_change_wording_for_rises_and_tiny_changes(company: Company) -> None:
    en = translator("en")
    finance = department(company, "finance")
    rise = score(finance, Tally(responses=40, satisfied=36), Tally(responses=40, satisfied=20))
    assert digest_text.change_line(rise, en) == (
        "Up 40 points on the week before — a meaningful change (p < 0.001)."
    )
    one = score(finance, Tally(responses=100, satisfied=51), Tally(responses=100, satisfied=50))
    assert digest_text.change_line(one, en) == (
        "Up 1 point on the week before — within noise (p = 0.89)."
    )
    same = score(finance, Tally(responses=10, satisfied=5), Tally(responses=20, satisfied=10))
    assert digest_text.change_line(same, en) == (
        "No change on the week before — within noise (p = 1.00)."
    )


def test_touchpoints_keep_the_given_order_and_hide_numbers_of_hidden_cells(
    company: Company,
) -> None:
    en = translator("en")
    post = digest_text.department_post(full_digest(company), en)
    assert section(post, "Touchpoints, lowest satisfaction first") == [
        "Supplier payment: 38% satisfied, n = 8; "
        "low scores mostly: Speed (3) and Communication (2)",
        "Other requests: 60% satisfied, n = 5",
        "Expense reimbursement: 82% satisfied, n = 11; low scores mostly: The outcome (1)",
    ]
    finance = department(company, "finance")
    expense, supplier = finance.services
    hidden = full_digest(
        company,
        touchpoints=(
            Touchpoint(expense, Cell(16, wilson(12, 16)), ((reason(finance, "speed"), 2),)),
            Touchpoint(supplier, Cell(5, None)),
            Touchpoint(None, Cell(3, None)),
        ),
    )
    shown = section(
        digest_text.department_post(hidden, en), "Touchpoints, lowest satisfaction first"
    )
    assert shown == [
        "Expense reimbursement: 75% satisfied, n = 16; low scores mostly: Speed (2)",
        "Supplier payment: n = 5 — too few to show",
        "Other requests: n = 3 — too few to show",
    ]


def test_reasons_show_the_top_three_with_low_and_with_high_scores(company: Company) -> None:
    post = digest_text.department_post(full_digest(company), translator("en"))
    assert section(post, "Reasons given most often") == [
        "With low scores (1–3): Speed (5), Communication (3), and Courtesy (2).",
        "With high scores (4–5): Expertise (6), Communication (4), and Courtesy (2).",
    ]


def test_segments_hide_small_groups(company: Company) -> None:
    post = digest_text.department_post(full_digest(company), translator("en"))
    assert section(post, "By segment") == [
        "Funders: n = 2 — too few to show",
        "Influencers: n = 4 — too few to show",
        "End-users: 67% satisfied, n = 18",
    ]


def test_line_of_sight(company: Company) -> None:
    en = translator("en")
    post = digest_text.department_post(full_digest(company), en)
    assert section(post, "External customers") == [
        "25% of responses affected an external customer (6 of 24).",
        "Of those, 33% were satisfied (95% interval 10%–70%), n = 6.",
    ]
    few = full_digest(company, line_of_sight=LineOfSight(3, wilson(3, 24), None))
    assert section(digest_text.department_post(few, en), "External customers") == [
        "12% of responses affected an external customer (3 of 24).",
        "Their satisfaction: n = 3 — too few to show.",
    ]
    none = full_digest(company, line_of_sight=LineOfSight(0, wilson(0, 24), None))
    assert section(digest_text.department_post(none, en), "External customers") == [
        "No response this week said it affected an external customer."
    ]


def test_comments_are_quoted_without_names(company: Company) -> None:
    post = digest_text.department_post(full_digest(company), translator("en"))
    assert section(post, "Recent comments") == [f"“{c}”" for c in COMMENTS]


def test_no_comment_section_without_comments(company: Company) -> None:
    post = digest_text.department_post(full_digest(company, comments=()), translator("en"))
    assert all(s.heading != "Recent comments" for s in post.sections)
    assert not any("“" in line for line in lines(post))


def test_below_the_comment_minimum_comments_are_withheld(company: Company) -> None:
    few = Tally(responses=8, satisfied=6, delivered=8, answered=8)
    # Even if a digest carried comments, a week of 8 responses shows none.
    post = digest_text.department_post(full_digest(company, current=few), translator("en"))
    assert section(post, "Recent comments") == ["Comments are shown from 10 responses."]
    assert not any(c in text for c in COMMENTS for text in texts(post))


def test_below_the_reporting_minimum_only_n_is_shown(company: Company) -> None:
    image = Image(b"\x89PNG", "Trend of satisfaction", "finance.png")
    for locale in ("en", "zh_Hans"):
        t = translator(locale)
        post = digest_text.department_post(gated_digest(company), t, image)
        assert post.title and post.sections and post.footnote
        assert post.image is None
        for text in texts(post):
            assert "%" not in text and "％" not in text, text
        numbers = {int(n) for text in lines(post) for n in re.findall(r"\d+", text)}
        assert numbers == {3, 2}, lines(post)
    en = digest_text.department_post(gated_digest(company), translator("en"))
    assert lines(en) == ["Not enough responses this week to show numbers: 3 so far, 2 more needed."]
    assert "from 5 responses" in en.footnote


def test_footnote_says_how_to_read(company: Company) -> None:
    image = Image(b"\x89PNG", "Trend of satisfaction", "finance.png")
    post = digest_text.department_post(full_digest(company), translator("en"), image)
    assert post.image is image
    assert "Satisfied = 4 or 5 of 5" in post.footnote
    assert "Easy = 5–7 of 7" in post.footnote
    assert "from 5 responses" in post.footnote and "comments from 10" in post.footnote
    assert "Europe/Berlin" in post.footnote


def test_empty_sections_are_skipped(company: Company) -> None:
    bare = full_digest(
        company, touchpoints=(), reasons=(), segments=(), line_of_sight=None, comments=()
    )
    post = digest_text.department_post(bare, translator("en"))
    assert [s.heading for s in post.sections] == [None]
    assert all(
        s.lines
        for s in digest_text.department_post(full_digest(company), translator("en")).sections
    )


# --- organisation digest ---------------------------------------------------------------------


def test_org_post_lists_departments_in_the_given_order(company: Company) -> None:
    post = digest_text.org_post(org_digest(company), translator("en"))
    assert post.title == "All departments — week 46 (Nov 9, 2026 – Nov 15, 2026)"
    assert lines(post) == [
        "Finance: 62% satisfied, n = 24; ↓ down 28 points, meaningful",
        "IT Helpdesk: 75% satisfied, n = 20; → within noise",
        "Legal: n = 2 — too few to show",
    ]
    assert post.footnote.startswith("Listed alphabetically, not ranked.")
    reordered = OrgDigest(WEEK, tuple(reversed(org_digest(company).scores)))
    names = [
        line.split(":")[0] for line in lines(digest_text.org_post(reordered, translator("en")))
    ]
    assert names == ["Legal", "IT Helpdesk", "Finance"]


def test_org_post_without_comparison_or_departments(company: Company) -> None:
    finance = department(company, "finance")
    alone = OrgDigest(WEEK, (score(finance, THIS_WEEK, Tally()),))
    assert lines(digest_text.org_post(alone, translator("en"))) == [
        "Finance: 62% satisfied, n = 24; no comparison with the week before"
    ]
    empty = digest_text.org_post(OrgDigest(WEEK), translator("en"))
    assert empty.sections == () and empty.footnote == "Listed alphabetically, not ranked."


# --- alerts ----------------------------------------------------------------------------------


def test_low_answer_is_anonymous_without_consent(company: Company) -> None:
    post = digest_text.low_answer_post(low_answer(company, None), translator("en"))
    assert post.title == "Low rating for Finance: Expense reimbursement"
    assert lines(post) == [
        "Satisfaction: 1 — Very dissatisfied",
        "Made it easy to handle the request: 2 — Disagree",
        "What mattered most: Speed and The outcome",
        "“Three weeks and still not paid.”",
        "Anonymous: the person did not ask to be contacted.",
    ]
    assert post.contact is None


def test_low_answer_offers_contact_only_with_consent(company: Company) -> None:
    post = digest_text.low_answer_post(low_answer(company, CONTACT), translator("en"))
    assert post.contact == Contact(
        label="OK to contact:",
        address=CONTACT,
        fallback="OK to contact: the person answered in Slack, where this alert names them.",
    )
    assert not any("Anonymous" in line for line in lines(post))
    assert not any(CONTACT in text or "U0REQ" in text for text in texts(post))
    # With the email the digester looked up, a platform that cannot mention them shows it.
    post = digest_text.low_answer_post(
        low_answer(company, CONTACT), translator("en"), "mia@acme.example"
    )
    assert post.contact is not None
    assert post.contact.fallback == "OK to contact: mia@acme.example"


def test_low_answer_without_service_effort_reasons_or_comment(company: Company) -> None:
    bare = LowAnswer(
        prompt_id="p8",
        department=department(company, "legal"),
        service=None,
        satisfaction=2,
        effort=None,
        reasons=(),
        comment=None,
        contact_address=CONTACT,
        answered_at=datetime(2026, 11, 12, 10, 0, tzinfo=UTC),
    )
    post = digest_text.low_answer_post(bare, translator("en"))
    assert post.title == "Low rating for Legal"
    assert lines(post) == ["Satisfaction: 2 — Dissatisfied"]
    assert post.contact is not None


def test_drop_alert(company: Company) -> None:
    post = digest_text.drop_post(drop_alert(company), translator("en"))
    assert post.title == "Satisfaction dropped: Finance"
    assert lines(post) == [
        "Finance: satisfaction fell to 33% (the last 7 days, n = 12) from 80% "
        "(the 8 weeks before, n = 50); p = 0.001.",
        "Look at the latest comments and touchpoints to see what changed.",
    ]


# --- languages -------------------------------------------------------------------------------


def proper_names(company: Company) -> list[str]:
    """What legitimately stays as written: configured names, time zones, people's comments."""
    names = [*COMMENTS, "Three weeks and still not paid."]
    for dept in company.departments:
        names += [dept.name, dept.timezone, *(s.name for s in dept.services)]
        names += [r.name for r in dept.reasons if not r.builtin]
    return names


def english_left(text: str, names: list[str]) -> list[str]:
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    return re.findall(r"[A-Za-z]+", STATISTIC.sub(" ", text))


def test_every_post_renders_in_chinese_without_english(company: Company) -> None:
    names = proper_names(company)
    found = []
    for where, post in all_posts(company, translator("zh_Hans")):
        assert post.title and post.footnote, where
        for text in texts(post):
            assert text.strip(), where
            words = english_left(text, names)
            if words:
                found.append(f"{where}: {words} in {text!r}")
    assert found == [], "\n".join(found)
    zh = digest_text.department_post(full_digest(company), translator("zh_Hans"))
    assert CJK.search(zh.sections[0].lines[0]) and "财务部" in zh.title
    assert not any("Finance" in text for text in texts(zh))


def test_english_posts_have_no_chinese(company: Company) -> None:
    for where, post in all_posts(company, translator("en")):
        for text in texts(post):
            assert not CJK.search(text), f"{where}: {text!r}"
