"""Block Kit for each stage of a prompt, the comment modal, and score answers."""

import json
import re
from typing import Any

from core import prompt_text as words
from core.answers import PromptState, Stage, stage_of
from core.departments import Department, Service
from core.i18n import Translator
from core.prompt_text import Option
from core.score_text import ScoreText

Block = dict[str, Any]
COMMENT_MODAL = "icx_comment_modal"


def mention(provider: str | None) -> str | None:
    """slack:U123 becomes a mention; anything else (an email) is shown as it is."""
    if provider and provider.startswith("slack:"):
        return f"<@{provider.removeprefix('slack:')}>"
    return provider


def _text(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def escape(text: str, mentions: bool = True) -> str:
    """Slack's mrkdwn treats &, < and > as markup; everything but our own mentions is text.
    Text people typed (comments in a digest) passes mentions=False: it notifies nobody."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(r"<@\1>", escaped) if mentions else escaped


_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]+)&gt;")


def _markdown(escaped: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": escaped}}


def _section(text: str, bold: bool = False) -> Block:
    return _markdown(f"*{escape(text)}*" if bold else escape(text))


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)}]}


def _buttons(prompt_id: str, prefix: str, options: list[Option], chosen: int | None) -> Block:
    elements = []
    for option in options:
        button: Block = {
            "type": "button",
            "action_id": f"{prefix}_{option.value}",
            "text": _text(option.label),
            "value": prompt_id,
        }
        if option.value == chosen:
            button["style"] = "primary"
        elements.append(button)
    return {"type": "actions", "block_id": f"{prefix}:{prompt_id}", "elements": elements}


def _button(action_id: str, label: str, prompt_id: str) -> Block:
    return {"type": "button", "action_id": action_id, "text": _text(label), "value": prompt_id}


def _more(prompt_id: str, buttons: list[Block]) -> Block:
    return {"type": "actions", "block_id": f"icx_more:{prompt_id}", "elements": buttons}


def _snooze(prompt_id: str, snooze_days: int, t: Translator) -> Block:
    return _button("icx_snooze", words.snooze_button(snooze_days, t), prompt_id)


def satisfaction_blocks(
    prompt_id: str,
    department: Department,
    service: Service | None,
    provider: str | None,
    snooze_days: int,
    t: Translator,
    chosen: int | None = None,
) -> list[Block]:
    return [
        _section(words.intro(department, service, mention(provider), t)),
        _section(words.satisfaction_question(department, service, t), bold=True),
        _buttons(prompt_id, "icx_csat", words.satisfaction_options(t), chosen),
        _more(prompt_id, [_snooze(prompt_id, snooze_days, t)]),
    ]


def effort_blocks(state: PromptState, t: Translator) -> list[Block]:
    return [
        _context(words.recorded_satisfaction(state, t)),
        _markdown(
            f"*“{escape(words.effort_statement(state.department, t))}”*\n"
            f"{escape(words.effort_question(t))}"
        ),
        _buttons(state.prompt_id, "icx_ces", words.effort_options(t), state.effort),
        _more(state.prompt_id, [_snooze(state.prompt_id, state.snooze_days, t)]),
    ]


def thanks_blocks(state: PromptState, t: Translator) -> list[Block]:
    reasons = [
        {"text": _text(words.reason_name(state.department, r, t)), "value": r.key}
        for r in state.department.effective_reasons
    ]
    select: Block = {
        "type": "multi_static_select",
        "action_id": "icx_reasons",
        "placeholder": _text(words.reasons_label(t)),
        "options": reasons,
    }
    chosen = [o for o in reasons if o["value"] in state.reasons]
    if chosen:
        select["initial_options"] = chosen
    prompt_id = state.prompt_id
    return [
        _section(words.thank_you(state, t), bold=True),
        _context(words.answer_summary(state, t)),
        {
            "type": "section",
            "block_id": f"icx_reasons:{prompt_id}",
            "text": {"type": "mrkdwn", "text": escape(words.reasons_label(t))},
            "accessory": select,
        },
        _more(
            prompt_id,
            [
                _button("icx_comment", words.comment_button(t), prompt_id),
                # The earlier questions are gone from the message; these bring them back.
                _button("icx_change_csat", words.change_satisfaction_button(t), prompt_id),
                _button("icx_change_ces", words.change_effort_button(t), prompt_id),
                _snooze(prompt_id, state.snooze_days, t),
            ],
        ),
    ]


def blocks_for(state: PromptState, t: Translator, asked: str | None = None) -> list[Block]:
    """The blocks of the prompt's stage (core.answers.stage_of)."""
    stage = stage_of(state, asked)
    if stage is Stage.SATISFACTION:
        blocks = satisfaction_blocks(
            state.prompt_id,
            state.department,
            state.service,
            None,
            state.snooze_days,
            t,
            chosen=state.satisfaction,
        )
    elif stage is Stage.EFFORT:
        blocks = effort_blocks(state, t)
    else:
        blocks = thanks_blocks(state, t)
    if state.snoozed_until is not None:
        blocks.append(_context(words.snoozed(state.snoozed_until, t)))
    return blocks


def fallback_text(state: PromptState, t: Translator) -> str:
    """The notification and screen-reader text of the stage blocks_for shows."""
    if state.satisfaction is None:
        if state.snoozed_until is not None:
            return words.snoozed(state.snoozed_until, t)
        return words.satisfaction_question(state.department, state.service, t)
    if state.effort is None:
        return words.effort_statement(state.department, t)
    return words.thank_you(state, t)


def comment_modal(state: PromptState, channel_id: str, message_ts: str, t: Translator) -> Block:
    form = words.comment_form(t)
    comment: Block = {
        "type": "plain_text_input",
        "action_id": "comment",
        "multiline": True,
        "max_length": 3000,
    }
    if state.comment:
        comment["initial_value"] = state.comment
    options = [
        {"text": _text(form.external_label), "value": "external_customer"},
        {"text": _text(form.contact_label), "value": "contact_consent"},
    ]
    checkboxes: Block = {"type": "checkboxes", "action_id": "flags", "options": options}
    ticked = [o for o in options if getattr(state, o["value"])]
    if ticked:
        checkboxes["initial_options"] = ticked
    return {
        "type": "modal",
        "callback_id": COMMENT_MODAL,
        "private_metadata": json.dumps(
            {"prompt_id": state.prompt_id, "channel": channel_id, "ts": message_ts}
        ),
        "title": _text(form.title[:24]),
        "submit": _text(form.submit),
        "close": _text(form.cancel),
        "blocks": [
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": _text(form.comment_label),
                "hint": _text(form.comment_hint),
                "element": comment,
            },
            {
                "type": "input",
                "block_id": "flags",
                "optional": True,
                "label": _text(form.title),
                "element": checkboxes,
            },
        ],
    }


SECTION_MAX = 3000  # characters of a section's text (Block Kit)


def score_blocks(text: ScoreText) -> list[Block]:
    """A score answer. Its lines may quote what people typed (a department's comments, for its
    leaders): shown as written, mentioning and linking nobody, in as many sections as it takes."""
    blocks: list[Block] = [{"type": "header", "text": _text(text.title[:150])}]
    for chunk in _chunks([escape(line, mentions=False) for line in text.lines if line]):
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": chunk, "verbatim": True}}
        )
    if text.footnote:
        blocks.append(_context(text.footnote))
    return blocks


def _chunks(escaped: list[str]) -> list[str]:
    """Lines joined into texts of at most SECTION_MAX characters; a longer line is cut (never
    inside an &entity;) and marked with an ellipsis."""
    texts: list[str] = []
    current = ""
    for line in escaped:
        if len(line) > SECTION_MAX:
            cut = line.rfind("&", SECTION_MAX - 6, SECTION_MAX - 1)
            line = line[: cut if cut != -1 else SECTION_MAX - 1] + "…"
        joined = f"{current}\n{line}" if current else line
        if len(joined) > SECTION_MAX:
            texts.append(current)
            joined = line
        current = joined
    return [*texts, current] if current else texts
