"""The words of a score answer, shared by every platform and the command line so that they all
show exactly the same numbers."""

from dataclasses import dataclass

from core.comments import Comments
from core.departments import Department
from core.i18n import N_, Translator
from core.periods import Window
from core.scores import DepartmentScore
from core.stats import Proportion

# How the command is typed where no platform says otherwise (Slack; Teams has no slash).
SLASH_COMMAND = "/icx-score"

# The word after a department that asks for its comments ("评论" in Chinese).
COMMENT_WORDS = ("comments", "comment", "评论")

# What a person may type as a period, shown in their language ("quarter" is typed as 季度 too).
PERIOD_WORDS = ("7d", "30d", "90d", N_("quarter"))


@dataclass(frozen=True)
class ScoreText:
    title: str
    lines: list[str]
    footnote: str = ""


def period_name(win: Window, t: Translator) -> str:
    if win.spec == "quarter":
        return t._("this quarter so far")
    days = win.days or 0
    return t.ngettext("the last {n} day", "the last {n} days", days)


def previous_name(win: Window, t: Translator) -> str:
    if win.spec == "quarter":
        return t._("the previous quarter")
    return t.ngettext("the {n} day before", "the {n} days before", win.days or 0)


def _period_words(t: Translator) -> str:
    return t.join([t._(word) for word in PERIOD_WORDS], style="or")


def _interval(p: Proportion, t: Translator) -> str:
    return t._("{low}–{high}", low=t.percent(p.low), high=t.percent(p.high))


def _not_enough(score: DepartmentScore, t: Translator) -> str:
    return t._(
        "Not enough responses to show numbers yet: {n} so far, {more} more needed.",
        n=t.number(score.current.responses),
        more=t.number(score.needed),
    )


def _change_line(score: DepartmentScore, t: Translator) -> str:
    change = score.change
    if change is None:
        if not score.shown:
            return ""
        return t._(
            "No comparison with {previous}: too few responses then.",
            previous=previous_name(score.window, t),
        )
    points = round(change.delta * 100)
    signed = f"+{t.number(points)}" if points > 0 else t.number(points)
    if change.meaningful:
        return t._(
            "Change against {previous}: {points} points, a meaningful change (p = {p}).",
            previous=previous_name(score.window, t),
            points=signed,
            p=t.decimal(change.p_value, 3),
        )
    return t._(
        "Change against {previous}: {points} points, within noise (p = {p}).",
        previous=previous_name(score.window, t),
        points=signed,
        p=t.decimal(change.p_value, 2),
    )


def describe(score: DepartmentScore, t: Translator) -> ScoreText:
    title = t._(
        "{department} — {period}",
        department=score.department.display_name(t.locale),
        period=period_name(score.window, t),
    )
    rate = score.response_rate
    rate_line = (
        t._(
            "Response rate: {rate} ({answered} of {asked} asked).",
            rate=t.percent(rate),
            answered=t.number(score.current.answered),
            asked=t.number(score.current.delivered),
        )
        if rate is not None
        else t._("Response rate: nobody was asked in this period.")
    )
    satisfied = score.satisfied
    if satisfied is None:
        # No rate either: "1 of 1 asked" would tell who answered.
        return ScoreText(title, [_not_enough(score, t)], footnote(score, t))
    lines = [
        t._(
            "Satisfied: {share} (95% interval {interval}), n = {n}.",
            share=t.percent(satisfied.share),
            interval=_interval(satisfied, t),
            n=t.number(satisfied.n),
        )
    ]
    effort, easy = score.effort, score.easy
    if effort is not None and easy is not None:
        lines.append(
            t._(
                "Effort: {mean} of 7 (95% interval {low}–{high}); {easy} found it easy, n = {n}.",
                mean=t.decimal(effort.mean),
                low=t.decimal(effort.low),
                high=t.decimal(effort.high),
                easy=t.percent(easy.share),
                n=t.number(effort.n),
            )
        )
    else:
        lines.append(
            t._(
                "Effort: not enough answers to show yet ({n} so far).",
                n=t.number(score.current.effort_n),
            )
        )
    lines.append(rate_line)
    lines.append(_change_line(score, t))
    return ScoreText(title, lines, footnote(score, t))


def footnote(score: DepartmentScore, t: Translator) -> str:
    return t._(
        "Satisfied = share answering 4 or 5 of 5. Numbers are shown from {minimum} responses.",
        minimum=t.number(score.minimum),
    )


def overview(
    scores: list[DepartmentScore], win: Window, t: Translator, command: str = SLASH_COMMAND
) -> ScoreText:
    """Every department side by side, alphabetical: a view, never a ranking."""
    lines = []
    # Alphabetical in the reader's language.
    for score in sorted(scores, key=lambda s: s.department.display_name(t.locale).casefold()):
        satisfied = score.satisfied
        if satisfied is None:
            lines.append(
                t._(
                    "{department}: {status}",
                    department=score.department.display_name(t.locale),
                    status=t.ngettext(
                        "{n} response, {more} more needed",
                        "{n} responses, {more} more needed",
                        score.current.responses,
                        more=t.number(score.needed),
                    ),
                )
            )
            continue
        change = score.change
        trend = ""
        if change is not None:
            trend = (
                (t._("up, meaningful") if change.delta > 0 else t._("down, meaningful"))
                if change.meaningful
                else t._("steady within noise")
            )
        effort = score.effort
        line = t._(
            "{department}: {share} satisfied ({interval}), effort {effort}, n = {n}",
            department=score.department.display_name(t.locale),
            share=t.percent(satisfied.share),
            interval=_interval(satisfied, t),
            effort=t.decimal(effort.mean) if effort else "–",
            n=t.number(satisfied.n),
        )
        lines.append(t._("{line}; {trend}", line=line, trend=trend) if trend else line)
    title = t._("All departments — {period}", period=period_name(win, t))
    note = t._(
        "Listed alphabetically, not ranked. Type {command} <department> for details.",
        command=command,
    )
    return ScoreText(title, lines, note)


def help_text(
    departments: list[Department], t: Translator, command: str = SLASH_COMMAND
) -> ScoreText:
    names = t.join(sorted((d.display_name(t.locale) for d in departments), key=str.casefold))
    return ScoreText(
        t._("How to use {command}", command=command),
        [
            t._(
                "{command} <department> [period]: satisfaction and effort for one department.",
                command=command,
            ),
            t._("{command}: every department side by side.", command=command),
            t._(
                "{command} <department> comments [period]: its comments, without names, for "
                "the department's leaders.",
                command=command,
            ),
            t._("Periods: {periods} (default 30d).", periods=_period_words(t)),
            t._("Departments: {names}.", names=names),
        ],
        t._("Every number carries its n; small groups are never shown, to protect respondents."),
    )


def unknown_department(
    typed: str, suggestions: list[Department], t: Translator, command: str = SLASH_COMMAND
) -> str:
    if suggestions:
        return t._(
            "There is no department called “{typed}”. Did you mean: {names}?",
            typed=typed,
            names=t.join([d.display_name(t.locale) for d in suggestions], style="or"),
        )
    return t._(
        "There is no department called “{typed}”. Type {command} help to see them all.",
        typed=typed,
        command=command,
    )


def unknown_period(typed: str, t: Translator) -> str:
    return t._(
        "“{typed}” is not a period I know. Use {periods}, or a number of days like 14d.",
        typed=typed,
        periods=_period_words(t),
    )


# --- comments, for a department's leaders -----------------------------------------------------


def comments_refused(t: Translator) -> ScoreText:
    """The same words for everyone who may not see a department's comments, whatever the
    department holds: they reveal neither whether anyone commented nor who leads it."""
    return ScoreText(
        t._("Comments"),
        [t._("Comments are shown only to the department's leaders.")],
    )


def comments_elsewhere(t: Translator) -> ScoreText:
    """A leader asking where others read along."""
    return ScoreText(
        t._("Comments"),
        [
            t._(
                "Comments are shown only where nobody else reads them: ask me in a private "
                "chat, or in the department's own channel."
            )
        ],
    )


def comments_need_department(t: Translator, command: str = SLASH_COMMAND) -> ScoreText:
    return ScoreText(
        t._("Comments"),
        [t._("Say which department: {command} <department> comments.", command=command)],
    )


def comments(department: Department, win: Window, found: Comments, t: Translator) -> ScoreText:
    title = t._(
        "{department} — comments, {period}",
        department=department.display_name(t.locale),
        period=period_name(win, t),
    )
    note = t._(
        "Shown without names, to the department's leaders only. Comments are shown from "
        "{comment_minimum} responses.",
        comment_minimum=t.number(found.minimum),
    )
    if not found.shown:
        return ScoreText(
            title,
            [
                t._(
                    "Not enough responses to show comments yet: {n} so far, {more} more needed.",
                    n=t.number(found.responses),
                    more=t.number(found.needed),
                )
            ],
            note,
        )
    if not found.texts:
        return ScoreText(title, [t._("No comments in this period.")], note)
    count = (
        t.ngettext("{n} comment, newest first:", "{n} comments, newest first:", found.total)
        if len(found.texts) == found.total
        else t.ngettext(
            "The newest {shown} of {n} comment:",
            "The newest {shown} of {n} comments:",
            found.total,
            shown=t.number(len(found.texts)),
        )
    )
    quotes = [t._("“{comment}”", comment=text) for text in found.texts]
    return ScoreText(title, [count, *quotes], note)
