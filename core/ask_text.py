"""What the person who asked for feedback is told about it, in their language. Throttling
reasons are not told apart: a provider must not learn that a colleague opted out."""

from dataclasses import dataclass

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


def cannot_ask_yourself(t: Translator) -> str:
    return t._(_SKIPPED[SkipReason.REQUESTER_IS_PROVIDER])


def not_a_person(t: Translator) -> str:
    """The message was posted by an app or a workflow: there is nobody to ask."""
    return t._("Nobody was asked: this message was not written by a person.")


def try_again(t: Translator) -> str:
    return t._(
        "The chat platform could not be reached just now, so nobody was asked. Please try "
        "again in a minute."
    )


def cannot_save(t: Translator) -> str:
    return t._(
        "icx cannot save anything just now, so nobody was asked. Please try again in a minute."
    )


def usage(command: str, department: str, t: Translator) -> str:
    """`command` is how the platform spells the command (e.g. /icx-ask); `department` is a
    department key to show in the example."""
    return t._(
        "To ask someone for feedback on how your department helped them, write {command} "
        "@person, optionally followed by the service. If you are a member of several "
        "departments, name the department first, e.g. {command} @person {department}.",
        command=command,
        department=department,
    )


def which_department(department_names: list[str], example: str, t: Translator) -> str:
    return t._(
        "You are a member of {departments}. Say which one you are asking for, e.g. {example}",
        departments=t.join(department_names),
        example=example,
    )


def unknown_service(typed: str, department: Department, t: Translator) -> str:
    name = department.display_name(t.locale)
    services = [department.service_name(s, t.locale) for s in department.services]
    if not services:
        return t._(
            "{department} lists no services, so leave “{typed}” out.",
            department=name,
            typed=typed,
        )
    return t._(
        "“{typed}” is not one of the services of {department}. Name one of {services}, or "
        "leave it out.",
        typed=typed,
        department=name,
        services=t.join(services, style="or"),
    )


def no_particular_service(t: Translator) -> str:
    return t._("No particular service")


@dataclass(frozen=True)
class AskForm:
    """The words of the form a provider confirms before a colleague is asked."""

    title: str
    submit: str
    cancel: str
    intro: str
    service_label: str


def ask_form(person: str, t: Translator) -> AskForm:
    return AskForm(
        title=t._("Ask for feedback"),
        submit=t._("Ask"),
        cancel=t._("Cancel"),
        intro=t._(
            "icx will ask {person} how your department helped them with this: one short "
            "message, and nobody is asked too often.",
            person=person,
        ),
        service_label=t._("Service"),
    )
