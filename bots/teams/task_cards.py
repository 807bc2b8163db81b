"""Task modules (Teams dialogs) of the "Ask for feedback" message action: the form that picks the
department and service, and the answers a messaging extension's invoke is given."""

from typing import Any

from bots.teams import cards
from core import ask_help_text as words
from core import ask_text
from core.departments import Department
from core.i18n import Translator

# The names of the form's inputs and of its button's data, as they come back in submitAction.
DEPARTMENT = "department"
SERVICE = "service"
SUBMIT = {"icx": "ask"}
SEPARATOR = "/"  # between department and service key in a service choice's value


def service_value(department: Department, service_key: str) -> str:
    # Carrying the department tells a service of another department apart from one of the
    # department picked (a member of several can combine them).
    return f"{department.key}{SEPARATOR}{service_key}"


def ask_form(departments: list[Department], author: str, t: Translator) -> cards.Card:
    """The invoker's departments (the first preselected) and their services (none chosen)."""
    form = ask_text.ask_form(author, t)
    body: list[cards.Element] = [
        cards._literal(form.intro),
        {
            "type": "Input.ChoiceSet",
            "id": DEPARTMENT,
            "label": words.department_label(t),
            "style": "compact",
            "isRequired": True,
            "choices": [{"title": d.display_name(t.locale), "value": d.key} for d in departments],
            "value": departments[0].key,
        },
    ]
    named = len(departments) > 1
    # "No particular service" is a choice of its own: a compact list cannot be emptied again.
    services = [{"title": ask_text.no_particular_service(t), "value": ""}]
    services += [
        {
            "title": words.service_choice(d, s, t, named=named),
            "value": service_value(d, s.key),
        }
        for d in departments
        for s in d.services
    ]
    if len(services) > 1:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": SERVICE,
                "label": form.service_label,
                "style": "compact",
                "choices": services,
                "value": "",
            }
        )
    # Cancelling is the dialog's own close button: a second button would only submit too.
    submit = {"type": "Action.Submit", "title": form.submit, "data": dict(SUBMIT)}
    return cards.card(body, [submit])


def continue_with(title: str, card: cards.Card) -> dict[str, Any]:
    """An invoke's answer that opens (or keeps open) a dialog showing `card`."""
    return {"task": {"type": "continue", "value": {"title": title, "card": cards.attachment(card)}}}


def message(text: str) -> dict[str, Any]:
    """An invoke's answer that shows `text` in a small dialog: the outcome, or why not."""
    return {"task": {"type": "message", "value": text}}


def notice_card(title: str, lines: list[str]) -> cards.Card:
    """A reply in the chat, each line as written (a person's name may look like markdown)."""
    body = [cards._literal(title, size="Medium", weight="Bolder")]
    return cards.card(body + [cards._literal(line) for line in lines if line])
