"""The "Ask for feedback" form (message shortcut): which department and service, confirmed
with one button, and reading it back on submission. The department is preselected: the
provider's first department, with its services; other departments of theirs are one choice
further down the same list."""

import json
from dataclasses import dataclass
from typing import Any

from bots.slack.blocks import Block, escape
from core import ask_text
from core.departments import Company, Department, Service
from core.i18n import Translator

ASK_MODAL = "icx_ask_modal"
MAX_OPTIONS = 100  # Slack's limit per select


@dataclass(frozen=True)
class AskTarget:
    """The message the form is about, carried through the form in private_metadata."""

    requester: str
    channel: str
    ts: str
    response_url: str


@dataclass(frozen=True)
class Submitted:
    target: AskTarget
    department_key: str
    service_key: str | None


def _text(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _value(department: Department, service: Service | None) -> str:
    return f"{department.key}/{service.key if service else ''}"


def _options(department: Department, t: Translator) -> list[Block]:
    choices: list[Service | None] = [*department.services, None]
    return [
        {
            "text": _text(
                department.service_name(s, t.locale) if s else ask_text.no_particular_service(t)
            ),
            "value": _value(department, s),
        }
        for s in choices
    ]


def ask_view(departments: list[Department], target: AskTarget, t: Translator) -> Block:
    """`departments`: the provider's, at least one; the first is preselected."""
    form = ask_text.ask_form(f"<@{target.requester}>", t)
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(form.intro)}}
    ]
    first = _options(departments[0], t)
    select: Block = {"type": "static_select", "action_id": "service", "initial_option": first[-1]}
    if len(departments) == 1:
        select["options"] = first[:MAX_OPTIONS]
    else:
        select["option_groups"] = [
            {"label": _text(d.display_name(t.locale)), "options": _options(d, t)[:MAX_OPTIONS]}
            for d in departments[:MAX_OPTIONS]
        ]
    blocks.append(
        {
            "type": "input",
            "block_id": "service",
            "label": _text(
                f"{form.service_label} · {departments[0].display_name(t.locale)}"
                if len(departments) == 1
                else form.service_label,
                2000,
            ),
            "element": select,
        }
    )
    return {
        "type": "modal",
        "callback_id": ASK_MODAL,
        "private_metadata": json.dumps(
            {
                "requester": target.requester,
                "channel": target.channel,
                "ts": target.ts,
                "response_url": target.response_url,
            }
        ),
        "title": _text(form.title, 24),
        "submit": _text(form.submit, 24),
        "close": _text(form.cancel, 24),
        "blocks": blocks,
    }


def read_submission(view: dict[str, Any]) -> Submitted:
    """Raises ValueError, KeyError or TypeError for a form that is not ours."""
    meta = json.loads(view.get("private_metadata") or "{}")
    if not isinstance(meta, dict):
        raise ValueError("private_metadata is not an object")
    target = AskTarget(
        requester=str(meta["requester"]),
        channel=str(meta["channel"]),
        ts=str(meta["ts"]),
        response_url=str(meta["response_url"]),
    )
    chosen = view["state"]["values"]["service"]["service"]["selected_option"]["value"]
    department, _, service = str(chosen).partition("/")
    return Submitted(target, department, service or None)


def chosen(company: Company, submitted: Submitted) -> tuple[Department, Service | None] | None:
    department = company.department(submitted.department_key)
    if department is None:
        return None
    service = department.service(submitted.service_key)
    if submitted.service_key and service is None:
        return None
    return department, service
