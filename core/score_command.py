"""`icx-score [department] [period]` as typed in any chat platform or given to the CLI."""

from core import score_text
from core.context import Icx
from core.i18n import Translator
from core.lookup import find_department
from core.periods import PeriodError, parse_spec
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


async def answer(
    icx: Icx, text: str, t: Translator, command: str = score_text.SLASH_COMMAND
) -> ScoreText:
    company = icx.company
    name, period = _split(text)
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
