"""The words of the weekly digests and the alerts (GUIDE §4, §6), as platform-neutral Posts:
the Slack and Teams adapters only render them. Every group's number carries its n; below the
reporting minimum a post says how many more responses are needed and shows no other number."""

from datetime import date, timedelta

from core import prompt_text
from core.alerts import BASELINE, LOW_EFFORT, LOW_SATISFACTION, RECENT, DropAlert, LowAnswer
from core.departments import Department, Reason
from core.digest import (
    COMMENTS,
    TOP_REASONS,
    Cell,
    DepartmentDigest,
    LineOfSight,
    OrgDigest,
    Touchpoint,
)
from core.i18n import N_, Translator
from core.posts import Contact, Image, Post, Section
from core.scores import DepartmentScore
from core.stats import Change, Proportion
from core.weeks import IsoWeek

SEGMENT_NAMES = {
    "funder": N_("Funders"),
    "influencer": N_("Influencers"),
    "end-user": N_("End-users"),
}


# --- small pieces ----------------------------------------------------------------------------


def _week_title(name: str, week: IsoWeek, first: date, last: date, t: Translator) -> str:
    return t._(
        "{name} — week {week} ({first} – {last})",
        name=name,
        week=t.number(week.week),
        first=t.date(first),
        last=t.date(last),
    )


def _days(department: Department, week: IsoWeek) -> tuple[date, date]:
    """The first and last day of the week in the department's time zone (the period ends at
    the next Monday 00:00, so its last day is the Sunday before)."""
    zone = department.zone
    period = week.period(zone)
    return period.start.astimezone(zone).date(), (
        period.end.astimezone(zone) - timedelta(days=1)
    ).date()


def _p(change: Change, t: Translator) -> str:
    if change.p_value < 0.001:
        return t._("p < {p}", p=t.decimal(0.001, 3))
    return t._("p = {p}", p=t.decimal(change.p_value, 3 if change.p_value < 0.01 else 2))


def _points(change: Change, t: Translator) -> str:
    points = round(abs(change.delta) * 100)
    if points == 0:
        return t._("less than 1 point")
    return t.ngettext("{n} point", "{n} points", points)


def _interval(p: Proportion, t: Translator) -> str:
    return t._("{low}–{high}", low=t.percent(p.low), high=t.percent(p.high))


def _quote(text: str, t: Translator) -> str:
    return t._("“{comment}”", comment=text.strip())


def _counted(names: list[tuple[str, int]], t: Translator) -> str:
    return t.join([t._("{reason} ({count})", reason=r, count=t.number(c)) for r, c in names])


def _group_line(name: str, satisfied: Proportion | None, n: int, t: Translator) -> str:
    """One group of a breakdown: its % satisfied with n, or only n when it is hidden."""
    if satisfied is None:
        return t._("{group}: n = {n} — too few to show", group=name, n=t.number(n))
    return t._(
        "{group}: {share} satisfied, n = {n}",
        group=name,
        share=t.percent(satisfied.share),
        n=t.number(satisfied.n),
    )


def _cell_line(name: str, cell: Cell, t: Translator) -> str:
    return _group_line(name, cell.satisfied, cell.n, t)


# --- department digest -----------------------------------------------------------------------


def _not_enough(score: DepartmentScore, t: Translator) -> str:
    return t._(
        "Not enough responses this week to show numbers: {n} so far, {more} more needed.",
        n=t.number(score.current.responses),
        more=t.number(score.needed),
    )


def _responses_line(score: DepartmentScore, t: Translator) -> str:
    return t.ngettext(
        "{n} response this week.", "{n} responses this week.", score.current.responses
    )


def _rate_line(score: DepartmentScore, t: Translator) -> str:
    rate = score.response_rate
    if rate is None:
        return t._("Response rate: nobody was asked in this period.")
    return t._(
        "Response rate: {rate} ({answered} of {asked} asked).",
        rate=t.percent(rate),
        answered=t.number(score.current.answered),
        asked=t.number(score.current.delivered),
    )


def _satisfied_line(satisfied: Proportion, t: Translator) -> str:
    return t._(
        "Satisfied: {share} (95% interval {interval}), n = {n}.",
        share=t.percent(satisfied.share),
        interval=_interval(satisfied, t),
        n=t.number(satisfied.n),
    )


def change_line(score: DepartmentScore, t: Translator) -> str:
    """The change against the week before, called a change only when it is meaningful."""
    change = score.change
    if change is None:
        return t._("No comparison: too few responses the week before.")
    values = {"points": _points(change, t), "p": _p(change, t)}
    if change.delta == 0:
        return t._("No change on the week before — within noise ({p}).", p=values["p"])
    if change.meaningful:
        if change.delta > 0:
            return t._("Up {points} on the week before — a meaningful change ({p}).", **values)
        return t._("Down {points} on the week before — a meaningful change ({p}).", **values)
    if change.delta > 0:
        return t._("Up {points} on the week before — within noise ({p}).", **values)
    return t._("Down {points} on the week before — within noise ({p}).", **values)


def _effort_line(score: DepartmentScore, t: Translator) -> str:
    effort, easy = score.effort, score.easy
    if effort is None or easy is None:
        return t._(
            "Effort: not enough answers to show yet ({n} so far).",
            n=t.number(score.current.effort_n),
        )
    return t._(
        "Effort: {mean} of 7 (95% interval {low}–{high}); {easy} found it easy, n = {n}.",
        mean=t.decimal(effort.mean),
        low=t.decimal(effort.low),
        high=t.decimal(effort.high),
        easy=t.percent(easy.share),
        n=t.number(effort.n),
    )


def headline_section(digest: DepartmentDigest, t: Translator) -> Section:
    score = digest.score
    satisfied = score.satisfied
    if satisfied is None:
        return Section(None, (_not_enough(score, t),))
    return Section(
        None,
        (
            _responses_line(score, t),
            _rate_line(score, t),
            _satisfied_line(satisfied, t),
            change_line(score, t),
            _effort_line(score, t),
        ),
    )


def _touchpoint_line(touchpoint: Touchpoint, department: Department, t: Translator) -> str:
    if touchpoint.service is None:
        name = t._("Other requests")
    else:
        name = department.service_name(touchpoint.service, t.locale)
    line = _cell_line(name, touchpoint.cell, t)
    if not (touchpoint.cell.shown and touchpoint.low_reasons):
        return line
    reasons = [(prompt_text.reason_name(department, r, t), n) for r, n in touchpoint.low_reasons]
    return t._("{line}; low scores mostly: {reasons}", line=line, reasons=_counted(reasons, t))


def touchpoints_section(digest: DepartmentDigest, t: Translator) -> Section | None:
    if not digest.touchpoints:
        return None
    return Section(
        t._("Touchpoints, lowest satisfaction first"),
        tuple(_touchpoint_line(tp, digest.department, t) for tp in digest.touchpoints),
    )


def _top(
    counts: list[tuple[Reason, int]], department: Department, t: Translator
) -> list[tuple[str, int]]:
    ranked = sorted((c for c in counts if c[1]), key=lambda c: -c[1])  # stable: ties keep order
    return [(prompt_text.reason_name(department, r, t), n) for r, n in ranked[:TOP_REASONS]]


def reasons_section(digest: DepartmentDigest, t: Translator) -> Section | None:
    department = digest.department
    low = _top([(c.reason, c.low) for c in digest.reasons], department, t)
    high = _top([(c.reason, c.high) for c in digest.reasons], department, t)
    lines = []
    if low:
        lines.append(t._("With low scores (1–3): {reasons}.", reasons=_counted(low, t)))
    if high:
        lines.append(t._("With high scores (4–5): {reasons}.", reasons=_counted(high, t)))
    return Section(t._("Reasons given most often"), tuple(lines)) if lines else None


def segments_section(digest: DepartmentDigest, t: Translator) -> Section | None:
    lines = tuple(
        _cell_line(t._(SEGMENT_NAMES[key]) if key in SEGMENT_NAMES else key, cell, t)
        for key, cell in digest.segments
    )
    return Section(t._("By segment"), lines) if lines else None


def _line_of_sight_lines(sight: LineOfSight, t: Translator) -> tuple[str, ...]:
    if sight.share is None:
        return ()
    if sight.external == 0:
        return (t._("No response this week said it affected an external customer."),)
    share = t._(
        "{share} of responses affected an external customer ({external} of {n}).",
        share=t.percent(sight.share.share),
        external=t.number(sight.external),
        n=t.number(sight.share.n),
    )
    if sight.satisfied is None:
        their = t._("Their satisfaction: n = {n} — too few to show.", n=t.number(sight.external))
    else:
        their = t._(
            "Of those, {share} were satisfied (95% interval {interval}), n = {n}.",
            share=t.percent(sight.satisfied.share),
            interval=_interval(sight.satisfied, t),
            n=t.number(sight.satisfied.n),
        )
    return (share, their)


def line_of_sight_section(digest: DepartmentDigest, t: Translator) -> Section | None:
    if digest.line_of_sight is None:
        return None
    lines = _line_of_sight_lines(digest.line_of_sight, t)
    return Section(t._("External customers"), lines) if lines else None


def comments_section(digest: DepartmentDigest, t: Translator) -> Section | None:
    """Up to three recent comments, without names. Below the comment minimum none are shown,
    whatever the digest holds, and the post says from how many responses they appear (said
    whether or not anyone commented, so the note itself gives nothing away)."""
    if digest.score.current.responses < digest.comment_minimum:
        note = t._(
            "Comments are shown from {comment_minimum} responses.",
            comment_minimum=t.number(digest.comment_minimum),
        )
        return Section(t._("Recent comments"), (note,))
    quotes = tuple(_quote(c, t) for c in digest.comments[:COMMENTS] if c.strip())
    return Section(t._("Recent comments"), quotes) if quotes else None


def department_footnote(digest: DepartmentDigest, t: Translator) -> str:
    if not digest.shown:
        return t._(
            "Numbers are shown from {minimum} responses, to protect respondents. "
            "Weeks run Monday to Sunday, {zone} time.",
            minimum=t.number(digest.score.minimum),
            zone=digest.department.timezone,
        )
    return t._(
        "How to read: Satisfied = 4 or 5 of 5. Easy = 5–7 of 7. Intervals are 95%. "
        "Numbers are shown from {minimum} responses, comments from {comment_minimum}. "
        "Weeks run Monday to Sunday, {zone} time.",
        minimum=t.number(digest.score.minimum),
        comment_minimum=t.number(digest.comment_minimum),
        zone=digest.department.timezone,
    )


def department_post(digest: DepartmentDigest, t: Translator, image: Image | None = None) -> Post:
    """The weekly digest of one department. Below the reporting minimum it says so and shows
    no number but n; the image (the trend chart) is then left out too."""
    department = digest.department
    first, last = _days(department, digest.week)
    title = _week_title(department.display_name(t.locale), digest.week, first, last, t)
    if not digest.shown:
        return Post(title, (headline_section(digest, t),), department_footnote(digest, t))
    sections = [
        headline_section(digest, t),
        touchpoints_section(digest, t),
        reasons_section(digest, t),
        segments_section(digest, t),
        line_of_sight_section(digest, t),
        comments_section(digest, t),
    ]
    return Post(
        title,
        tuple(s for s in sections if s is not None and s.lines),
        department_footnote(digest, t),
        image=image,
    )


# --- organisation digest ---------------------------------------------------------------------


def _trend(score: DepartmentScore, t: Translator) -> str:
    change = score.change
    if change is None:
        return t._("no comparison with the week before")
    if not change.meaningful:
        return t._("→ within noise")
    if change.delta > 0:
        return t._("↑ up {points}, meaningful", points=_points(change, t))
    return t._("↓ down {points}, meaningful", points=_points(change, t))


def _org_line(score: DepartmentScore, t: Translator) -> str:
    name = score.department.display_name(t.locale)
    line = _group_line(name, score.satisfied, score.current.responses, t)
    if not score.shown:
        return line
    return t._("{line}; {trend}", line=line, trend=_trend(score, t))


def org_post(digest: OrgDigest, t: Translator) -> Post:
    """Every department side by side, in the given (alphabetical) order: a view, not a ranking."""
    first = digest.week.monday
    title = _week_title(t._("All departments"), digest.week, first, first + timedelta(days=6), t)
    lines = tuple(_org_line(score, t) for score in digest.scores)
    sections = (Section(None, lines),) if lines else ()
    if digest.scores:
        note = t._(
            "Listed alphabetically, not ranked. Satisfied = 4 or 5 of 5. Arrows compare with "
            "the week before and mark only meaningful changes (p < 0.05). Numbers are shown "
            "from {minimum} responses.",
            minimum=t.number(digest.scores[0].minimum),
        )
    else:
        note = t._("Listed alphabetically, not ranked.")
    return Post(title, sections, note)


# --- alerts ----------------------------------------------------------------------------------


def _scale_answer(value: int, labels: tuple[str, ...], t: Translator) -> str:
    return t._("{value} — {label}", value=t.number(value), label=t._(labels[value - 1]))


def _reason_names(department: Department, keys: tuple[str, ...], t: Translator) -> list[str]:
    known: dict[str, Reason] = {r.key: r for r in department.effective_reasons}
    return [prompt_text.reason_name(department, known[k], t) for k in keys if k in known]


PLATFORM_NAMES = {"slack": "Slack", "teams": "Microsoft Teams"}


def _contact(address: str, email: str | None, t: Translator) -> Contact:
    label = t._("OK to contact:")
    if email:
        fallback = t._("OK to contact: {email}", email=email)
    else:
        platform = PLATFORM_NAMES.get(address.partition(":")[0], address.partition(":")[0])
        fallback = t._(
            "OK to contact: the person answered in {platform}, where this alert names them.",
            platform=platform,
        )
    return Contact(label=label, address=address, fallback=fallback)


def low_answer_post(alert: LowAnswer, t: Translator, email: str | None = None) -> Post:
    """One low answer, anonymous unless the person asked to be contacted (GUIDE §6)."""
    department = alert.department
    name = department.display_name(t.locale)
    service = department.service(alert.service)
    if service is None:
        title = t._("Low rating for {department}", department=name)
    else:
        title = t._(
            "Low rating for {department}: {service}",
            department=name,
            service=department.service_name(service, t.locale),
        )
    lines = [
        t._(
            "Satisfaction: {answer}",
            answer=_scale_answer(alert.satisfaction, prompt_text.CSAT_LABELS, t),
        )
    ]
    if alert.effort is not None:
        lines.append(
            t._(
                "Made it easy to handle the request: {answer}",
                answer=_scale_answer(alert.effort, prompt_text.CES_LABELS, t),
            )
        )
    reasons = _reason_names(department, alert.reasons, t)
    if reasons:
        lines.append(t._("What mattered most: {reasons}", reasons=t.join(reasons)))
    if alert.comment and alert.comment.strip():
        lines.append(_quote(alert.comment, t))
    contact = None
    if alert.contact_address:
        contact = _contact(alert.contact_address, email, t)
    else:
        lines.append(t._("Anonymous: the person did not ask to be contacted."))
    return Post(
        title,
        (Section(None, tuple(lines)),),
        t._(
            "Sent as it comes in: satisfaction 1–{satisfaction} or ease 1–{effort}, with a "
            "comment or a request to be contacted.",
            satisfaction=t.number(LOW_SATISFACTION),
            effort=t.number(LOW_EFFORT),
        ),
        contact=contact,
    )


def drop_post(alert: DropAlert, t: Translator) -> Post:
    """A meaningful fall of the last 7 days below the department's own 8 weeks before."""
    name = alert.department.display_name(t.locale)
    fell = t._(
        "{department}: satisfaction fell to {recent} ({recent_period}, n = {recent_n}) from "
        "{baseline} ({baseline_period}, n = {baseline_n}); {p}.",
        department=name,
        recent=t.percent(alert.recent.share),
        recent_period=t.ngettext("the last {n} day", "the last {n} days", RECENT.days),
        recent_n=t.number(alert.recent.n),
        baseline=t.percent(alert.baseline.share),
        baseline_period=t.ngettext(
            "the {n} week before", "the {n} weeks before", BASELINE.days // 7
        ),
        baseline_n=t.number(alert.baseline.n),
        p=_p(alert.change, t),
    )
    advice = t._("Look at the latest comments and touchpoints to see what changed.")
    return Post(
        t._("Satisfaction dropped: {department}", department=name),
        (Section(None, (fell, advice)),),
        t._("Sent when a fall is meaningful (p < 0.05); at most once a week per department."),
    )
