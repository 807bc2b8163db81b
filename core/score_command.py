"""`icx-score [department] [period]` as typed in any chat platform or given to the CLI."""

from core import score_text
from core.comments import comments_in
from core.context import Icx
from core.i18n import Translator
from core.leaders import Asker, leads, private_enough
from core.lookup import find_department
from core.periods import PeriodError, parse_spec, window
from core.score_text import ScoreText
from core.scores import department_scores

DEFAULT_PERIOD = "30d"


def _split(text: str) -> tuple[str, str | None]:
    """'human resources 90d' -> ('human resources', '90d'); the period is the last word."""
    words = text.split()
    if words:
        try:
            return " ".join(words[:-1]), parse_spec(words[-1])
        except PeriodError:
            pass
    return " ".join(words), None


def _asks_for_comments(name: str) -> tuple[str, bool]:
    """'finance comments' -> ('finance', True)."""
    words = name.split()
    if words and words[-1].casefold() in score_text.COMMENT_WORDS:
        return " ".join(words[:-1]), True
    return name, False


async def answer(
    icx: Icx,
    text: str,
    t: Translator,
    command: str = score_text.SLASH_COMMAND,
    asker: Asker | None = None,
) -> ScoreText:
    """`asker` is the person who typed it, as their platform vouches for them; None on the
    command line, which shows no comments."""
    company = icx.company
    name, period = _split(text)
    name, wants_comments = _asks_for_comments(name)
    if wants_comments:
        return await _comments(icx, name, period or DEFAULT_PERIOD, t, command, asker)
    if name.casefold() in ("help", "?", "帮助"):
        return score_text.help_text(list(company.departments), t, command)
    spec = period or DEFAULT_PERIOD
    now = icx.clock()
    if not name:
        async with icx.db.session() as session:
            scores = await department_scores(session, company, list(company.departments), spec, now)
        return score_text.overview(scores, scores[0].window, t, command)
    found = find_department(company, name)
    if found.department is None:
        # A last word that looked like neither a period nor part of a name: say which is wrong.
        last = name.split()[-1] if period is None and len(name.split()) > 1 else None
        if last is not None and find_department(company, " ".join(name.split()[:-1])).department:
            return ScoreText(t._("Unknown period"), [score_text.unknown_period(last, t)])
        return ScoreText(
            t._("Unknown department"),
            [score_text.unknown_department(name, list(found.suggestions), t, command)],
        )
    async with icx.db.session() as session:
        (score,) = await department_scores(session, company, [found.department], spec, now)
    return score_text.describe(score, t)


async def _comments(
    icx: Icx, name: str, spec: str, t: Translator, command: str, asker: Asker | None
) -> ScoreText:
    if not name:
        return score_text.comments_need_department(t, command)
    found = find_department(icx.company, name)
    department = found.department
    if department is None:
        # Departments are no secret (help lists them); their comments are.
        return ScoreText(
            t._("Unknown department"),
            [score_text.unknown_department(name, list(found.suggestions), t, command)],
        )
    # Everyone who does not lead it gets the same words, before anything is read: the answer
    # says nothing about what the department holds.
    if asker is None or not leads(department, asker):
        return score_text.comments_refused(t)
    if not private_enough(department, asker):
        return score_text.comments_elsewhere(t)
    win = window(spec, icx.clock(), department.zone)
    async with icx.db.session() as session:
        comments = await comments_in(
            session, department.key, win.current, icx.company.policy.comment_min_n
        )
    return score_text.comments(department, win, comments, t)
