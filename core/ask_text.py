"""What the person who asked for feedback is told about it, in their language. Throttling
reasons are not told apart: a provider must not learn that a colleague opted out."""

from core.departments import Department
from core.domain import SkipReason
from core.i18n import N_, Translator
from core.intake import IntakeOutcome

_NOT_NOW = N_(
    "{person} will not be asked this time: nobody is asked about {department} more than once "
    "in a while, or more than a few times a week."
)
_SKIPPED = {
    SkipReason.REQUESTER_IS_PROVIDER: N_(
        "Nobody was asked: feedback on your own work cannot be requested from yourself."
    ),
    SkipReason.BOT: N_("Nobody was asked: {person} is a bot."),
    SkipReason.UNKNOWN_USER: N_("Nobody was asked: {person} could not be found."),
    SkipReason.UNREACHABLE: N_(
        "Nobody was asked: icx cannot write to {person} (they have not installed the app)."
    ),
    SkipReason.CANCELLED: N_("The request for feedback from {person} was withdrawn."),
    SkipReason.OPTED_OUT: _NOT_NOW,
    SkipReason.COOLDOWN: _NOT_NOW,
    SkipReason.WEEKLY_BUDGET: _NOT_NOW,
}


def outcome_text(outcome: IntakeOutcome, person: str, department: Department, t: Translator) -> str:
    """`person` is how the platform shows the requester (a mention, a name)."""
    name = department.display_name(t.locale)
    if not outcome.created:
        return t._(
            "Feedback from {person} on this was already requested; nobody is asked twice.",
            person=person,
        )
    if outcome.reason is not None:
        return t._(_SKIPPED[outcome.reason], person=person, department=name)
    return t._(
        "{person} will be asked for feedback on how {department} helped.",
        person=person,
        department=name,
    )


def not_a_member(department_names: list[str], t: Translator) -> str:
    if not department_names:
        return t._(
            "Only members of a department can ask for feedback in its name, and you are not "
            "listed as a member of any. An admin can add you under members: in the departments "
            "file."
        )
    return t._(
        "Only members of a department can ask for feedback in its name. You are a member of "
        "{departments}.",
        departments=t.join(department_names),
    )
