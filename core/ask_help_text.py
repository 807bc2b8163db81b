"""More words around asking for feedback where the service happened, beside core.ask_text: those
of a form offering several departments, of a message whose author cannot be asked, and of the
other way to ask (the action on a message)."""

from core.departments import Department, Service
from core.i18n import Translator


def action_title(t: Translator) -> str:
    """The action on a message, and the title of what it shows (core.ask_text's form title)."""
    return t._("Ask for feedback")


def department_label(t: Translator) -> str:
    return t._("Department")


def service_choice(department: Department, service: Service, t: Translator, *, named: bool) -> str:
    """A service as a form offers it; `named` adds its department, for a member of several."""
    name = department.service_name(service, t.locale)
    if not named:
        return name
    department_name = department.display_name(t.locale)
    return t._("{department}: {service}", department=department_name, service=name)


def service_elsewhere(service: str, department: Department, t: Translator) -> str:
    return t._(
        "Nobody was asked: {service} is not a service of {department}. Pick one of its services, "
        "or none.",
        service=service,
        department=department.display_name(t.locale),
    )


def not_a_colleague(person: str, t: Translator) -> str:
    """A guest or someone of another organisation wrote the message: icx cannot write to them."""
    return t._(
        "Nobody was asked: {person} is not a member of your organisation, so icx cannot ask them.",
        person=person,
    )


def person_not_found(person: str, t: Translator) -> str:
    # The words core.ask_text uses for a requester no directory knows.
    return t._("Nobody was asked: {person} could not be found.", person=person)


def action_hint(action: str, t: Translator) -> str:
    """The other way to ask: `action` is the name of the action on a message."""
    return t._(
        "Or choose “{action}” in the “More actions” menu (…) of their message.", action=action
    )
