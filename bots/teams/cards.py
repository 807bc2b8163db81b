"""Adaptive Cards (schema 1.5) for each stage of a prompt and for score answers: the Teams twin of
bots/slack/blocks.py, built from the same words."""

from typing import Any

from core import prompt_text as words
from core.answers import COMMENT_MAX, PromptState, Stage, stage_of
from core.departments import Department, Service
from core.i18n import Translator
from core.prompt_text import Option
from core.score_text import ScoreText

Card = dict[str, Any]
Element = dict[str, Any]

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"

# Verbs of the Action.Execute buttons; every one carries {"prompt": id} in its data.
CSAT = "icx.csat"
CES = "icx.ces"
DETAILS = "icx.details"
SNOOZE = "icx.snooze"
CHANGE_CSAT = "icx.change_csat"
CHANGE_CES = "icx.change_ces"

# Teams shows at most six buttons in a row before folding the rest into a menu.
ROW = 4


def card(body: list[Element], actions: list[Element] | None = None, **extra: Any) -> Card:
    result: Card = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        result["actions"] = actions
    result.update(extra)
    return result


def attachment(content: Card) -> dict[str, Any]:
    return {"contentType": CARD_TYPE, "content": content}


def _text(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _execute(verb: str, title: str, prompt_id: str, **data: Any) -> Element:
    return {
        "type": "Action.Execute",
        "verb": verb,
        "title": title,
        "data": {"prompt": prompt_id, **data},
    }


def _choices(prompt_id: str, verb: str, options: list[Option], chosen: int | None) -> list[Element]:
    buttons = []
    for option in options:
        button = _execute(verb, option.label, prompt_id, value=option.value)
        if option.value == chosen:
            button["style"] = "positive"
        buttons.append(button)
    return [
        {"type": "ActionSet", "actions": buttons[start : start + ROW]}
        for start in range(0, len(buttons), ROW)
    ]


def _snooze(prompt_id: str, days: int, t: Translator) -> Element:
    return _execute(SNOOZE, words.snooze_button(days, t), prompt_id)


def mention_of(provider: str | None, names: dict[str, str]) -> tuple[str | None, list[Element]]:
    """teams:<object id> becomes an @mention when the person's name is known; an email is shown
    as it is; anything else is left out rather than shown as an id."""
    if provider is None:
        return None, []
    if provider.startswith("teams:"):
        name = names.get(provider)
        if name is None:
            return None, []
        tag = f"<at>{name}</at>"
        entity = {
            "type": "mention",
            "text": tag,
            "mentioned": {"id": provider.removeprefix("teams:"), "name": name},
        }
        return tag, [entity]
    if "@" in provider:
        return provider, []
    return None, []


def satisfaction_card(
    prompt_id: str,
    department: Department,
    service: Service | None,
    provider: str | None,
    snooze_days: int,
    t: Translator,
    chosen: int | None = None,
    mentions: list[Element] | None = None,
) -> Card:
    body = [
        _text(words.intro(department, service, provider, t)),
        _text(words.satisfaction_question(department, service, t), weight="Bolder"),
        *_choices(prompt_id, CSAT, words.satisfaction_options(t), chosen),
    ]
    extra = {"msteams": {"entities": mentions}} if mentions else {}
    return card(body, [_snooze(prompt_id, snooze_days, t)], **extra)


def effort_card(state: PromptState, t: Translator) -> Card:
    body = [
        _text(words.recorded_satisfaction(state, t), isSubtle=True, size="Small"),
        _text(f"“{words.effort_statement(state.department, t)}”", weight="Bolder"),
        _text(words.effort_question(t)),
        *_choices(state.prompt_id, CES, words.effort_options(t), state.effort),
    ]
    return card(body, [_snooze(state.prompt_id, state.snooze_days, t)])


def thanks_card(state: PromptState, t: Translator) -> Card:
    form = words.comment_form(t)
    prompt_id = state.prompt_id
    reasons: Element = {
        "type": "Input.ChoiceSet",
        "id": "reasons",
        "label": words.reasons_label(t),
        "isMultiSelect": True,
        "style": "compact",
        "choices": [
            {"title": words.reason_name(state.department, r, t), "value": r.key}
            for r in state.department.effective_reasons
        ],
        "value": ",".join(state.reasons),
    }
    comment: Element = {
        "type": "Input.Text",
        "id": "comment",
        "label": form.comment_label,
        "placeholder": form.comment_hint,
        "isMultiline": True,
        "maxLength": COMMENT_MAX,
        "value": state.comment or "",
    }
    body = [
        _text(words.thank_you(state, t), weight="Bolder"),
        _text(words.answer_summary(state, t), isSubtle=True, size="Small"),
        reasons,
        comment,
        _toggle("external_customer", form.external_label, state.external_customer),
        _toggle("contact_consent", form.contact_label, state.contact_consent),
    ]
    actions = [
        _execute(DETAILS, form.submit, prompt_id),
        # The earlier questions are gone from the card; these bring them back.
        _execute(CHANGE_CSAT, words.change_satisfaction_button(t), prompt_id),
        _execute(CHANGE_CES, words.change_effort_button(t), prompt_id),
        _snooze(prompt_id, state.snooze_days, t),
    ]
    return card(body, actions)


def _toggle(input_id: str, title: str, on: bool) -> Element:
    return {
        "type": "Input.Toggle",
        "id": input_id,
        "title": title,
        "value": "true" if on else "false",
        "valueOn": "true",
        "valueOff": "false",
    }


def card_for(state: PromptState, t: Translator, asked: str | None = None) -> Card:
    """The card of the prompt's stage (core.answers.stage_of)."""
    stage = stage_of(state, asked)
    if stage is Stage.SATISFACTION:
        result = satisfaction_card(
            state.prompt_id,
            state.department,
            state.service,
            None,
            state.snooze_days,
            t,
            chosen=state.satisfaction,
        )
    elif stage is Stage.EFFORT:
        result = effort_card(state, t)
    else:
        result = thanks_card(state, t)
    if state.snoozed_until is not None:
        result["body"].append(_text(words.snoozed(state.snoozed_until, t), isSubtle=True))
    return result


def _literal(text: str, **style: Any) -> Element:
    """Text shown exactly as written: a TextBlock would render markdown (links!) from what a
    person typed, such as an unknown department's name."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def score_card(text: ScoreText) -> Card:
    body = [_literal(text.title, size="Medium", weight="Bolder")]
    body += [_literal(line) for line in text.lines if line]
    if text.footnote:
        body.append(_literal(text.footnote, isSubtle=True, size="Small"))
    return card(body)
