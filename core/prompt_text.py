"""The words of a prompt at each stage, in the person's language (GUIDE §4 wording)."""

from dataclasses import dataclass
from datetime import datetime

from core.answers import PromptState, TapResult
from core.departments import Department, Reason, Service
from core.i18n import N_, Translator

CSAT_LABELS = (
    N_("Very dissatisfied"),
    N_("Dissatisfied"),
    N_("Neutral"),
    N_("Satisfied"),
    N_("Very satisfied"),
)
CES_LABELS = (
    N_("Strongly disagree"),
    N_("Disagree"),
    N_("Somewhat disagree"),
    N_("Neither agree nor disagree"),
    N_("Somewhat agree"),
    N_("Agree"),
    N_("Strongly agree"),
)


@dataclass(frozen=True)
class Option:
    value: int
    label: str


def service_name(department: Department, service: Service | None, t: Translator) -> str:
    return department.service_name(service, t.locale) if service else t._("your request")


def reason_name(department: Department, reason: Reason, t: Translator) -> str:
    configured = department.reason_name(reason, t.locale)
    if configured is not None:
        return configured
    return t._(reason.name) if reason.builtin else reason.name


def intro(
    department: Department, service: Service | None, provider: str | None, t: Translator
) -> str:
    if provider:
        return t._(
            "{provider} from {department} recently helped you with {service}.",
            provider=provider,
            department=department.display_name(t.locale),
            service=service_name(department, service, t),
        )
    return t._(
        "{department} recently helped you with {service}.",
        department=department.display_name(t.locale),
        service=service_name(department, service, t),
    )


def satisfaction_question(department: Department, service: Service | None, t: Translator) -> str:
    return t._(
        "How satisfied are you with how {department} handled {service}?",
        department=department.display_name(t.locale),
        service=service_name(department, service, t),
    )


def satisfaction_options(t: Translator) -> list[Option]:
    return [Option(i + 1, f"{i + 1} · {t._(label)}") for i, label in enumerate(CSAT_LABELS)]


def effort_statement(department: Department, t: Translator) -> str:
    return t._(
        "{department} made it easy to handle my request.",
        department=department.display_name(t.locale),
    )


def effort_question(t: Translator) -> str:
    return t._("How much do you agree with this statement?")


def effort_options(t: Translator) -> list[Option]:
    return [Option(i + 1, f"{i + 1} · {t._(label)}") for i, label in enumerate(CES_LABELS)]


def recorded_satisfaction(state: PromptState, t: Translator) -> str:
    assert state.satisfaction is not None
    label = t._(CSAT_LABELS[state.satisfaction - 1])
    return t._("Recorded: {answer}. One more question, if you have a moment:", answer=label)


def thank_you(state: PromptState, t: Translator) -> str:
    return t._(
        "Thank you. Your answer is recorded and helps {department} improve.",
        department=state.department.display_name(t.locale),
    )


def answer_summary(state: PromptState, t: Translator) -> str:
    parts = []
    if state.satisfaction is not None:
        parts.append(t._("Satisfaction: {answer}", answer=t._(CSAT_LABELS[state.satisfaction - 1])))
    if state.effort is not None:
        parts.append(t._("Ease: {answer}", answer=t._(CES_LABELS[state.effort - 1])))
    if state.comment:
        parts.append(t._("Comment added"))
    return " · ".join(parts)


def reasons_label(t: Translator) -> str:
    return t._("What mattered most? (optional)")


def comment_button(t: Translator) -> str:
    return t._("Add a comment")


def snooze_button(days: int, t: Translator) -> str:
    return t.ngettext("Don't ask me for {n} day", "Don't ask me for {n} days", days)


def change_satisfaction_button(t: Translator) -> str:
    return t._("Change satisfaction")


def change_effort_button(t: Translator) -> str:
    return t._("Change ease")


def snoozed(until: datetime, t: Translator) -> str:
    return t._("Understood: no feedback requests until {date}.", date=t.date(until))


@dataclass(frozen=True)
class CommentForm:
    title: str
    submit: str
    cancel: str
    comment_label: str
    comment_hint: str
    external_label: str
    contact_label: str


def comment_form(t: Translator) -> CommentForm:
    return CommentForm(
        title=t._("Your feedback"),
        submit=t._("Send"),
        cancel=t._("Cancel"),
        comment_label=t._("Comment"),
        comment_hint=t._("Shown to the department without your name."),
        external_label=t._("This affected an external customer"),
        contact_label=t._("OK to contact me about this"),
    )


def malformed_form(t: Translator) -> str:
    return t._("The form could not be read, so nothing was recorded. Please try again.")


def refusal(result: TapResult, t: Translator) -> str:
    messages = {
        TapResult.EXPIRED: N_("This feedback request has expired, so nothing was recorded."),
        TapResult.NOT_YOURS: N_(
            "This feedback request was sent to someone else, so nothing was recorded."
        ),
        TapResult.UNKNOWN: N_(
            "This feedback request is no longer available, so nothing was recorded."
        ),
        TapResult.SUPERSEDED: N_(
            "This message is out of date; please answer the latest one. Nothing was recorded."
        ),
        TapResult.NEEDS_SATISFACTION: N_(
            "Please choose how satisfied you are first. Nothing was recorded."
        ),
        TapResult.INVALID: N_("That answer is not one of the choices, so nothing was recorded."),
    }
    return t._(messages[result])
