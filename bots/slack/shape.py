"""The JSON shape a Slack payload must have before Bolt and icx's listeners read it.

Slack signs what it sends and always sends these shapes, so Bolt and the listeners index into
them without checking (`body["actions"][0]`, `user["id"]`, a regex over `action_id`). A signed
body of another shape (a leaked signing secret, a fault on Slack's side) would fail deep inside
with a 500; checked here, it is refused with 400 before anything runs. Only the fields that
something reads are constrained; anything else may be whatever Slack adds later.
"""

from dataclasses import dataclass
from typing import Any

STR: tuple[type, ...] = (str,)
STR_OR_NONE: tuple[type, ...] = (str, type(None))
FLAG: tuple[type, ...] = (bool, str)  # "true" in forms, true in JSON


@dataclass(frozen=True)
class Obj:
    """A JSON object whose named fields, when present, follow their rules."""

    fields: dict[str, Any]
    nullable: bool = False
    # Also accepted in place of the object (Bolt reads `team` either as an object or an id).
    or_string: bool = False
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListOf:
    item: Any


ACTION = Obj(
    required=("action_id",),
    fields={
        "action_id": STR,
        "block_id": STR,
        "value": STR,
        "type": STR,
        "action_ts": STR,
        "selected_options": ListOf(Obj({"value": STR}, required=("value",))),
        "selected_option": Obj({"value": STR}, nullable=True, required=("value",)),
    },
)
MESSAGE = Obj(
    {"ts": STR, "text": STR, "user": STR, "thread_ts": STR, "subtype": STR_OR_NONE}, nullable=True
)
EVENT = Obj(
    {
        "type": STR,
        "subtype": STR_OR_NONE,
        "user": STR,
        "channel": STR,
        "channel_type": STR,
        "ts": STR,
        "thread_ts": STR,
        "event_ts": STR,
        "text": STR,
        "reaction": STR,
        "item_user": STR,
        "item": Obj({"type": STR, "channel": STR, "ts": STR}),
        "bot_id": STR_OR_NONE,
        "team": STR,
        "user_team": STR,
        "function_execution_id": STR,
        "bot_access_token": STR,
        "message": MESSAGE,
        "previous_message": MESSAGE,
    }
)
PAYLOAD = Obj(
    {
        "type": STR,
        "token": STR,
        "team_id": STR_OR_NONE,
        "enterprise_id": STR_OR_NONE,
        "user_id": STR,
        "channel_id": STR,
        "api_app_id": STR,
        "callback_id": STR,
        "trigger_id": STR,
        "response_url": STR,
        "command": STR,
        "text": STR,
        "challenge": STR,
        "thread_ts": STR,
        "message_ts": STR,
        "function_execution_id": STR,
        "bot_access_token": STR,
        "is_enterprise_install": FLAG,
        "is_ext_shared_channel": (bool,),
        "user": Obj({"id": STR, "team_id": STR}, nullable=True),
        "team": Obj({"id": STR_OR_NONE, "enterprise_id": STR_OR_NONE}, True, True),
        "enterprise": Obj({"id": STR_OR_NONE}, True, True),
        "channel": Obj({"id": STR}, True, True),
        "container": Obj({"channel_id": STR_OR_NONE, "message_ts": STR_OR_NONE}, nullable=True),
        "message": MESSAGE,
        "actions": ListOf(ACTION),
        "view": Obj(
            {
                "id": STR,
                "type": STR,
                "callback_id": STR,
                "private_metadata": STR,
                "team_id": STR_OR_NONE,
                "app_installed_team_id": STR_OR_NONE,
                "state": Obj({"values": Obj({})}),
            }
        ),
        "event": EVENT,
        "authorizations": ListOf(
            Obj(
                {
                    "team_id": STR_OR_NONE,
                    "enterprise_id": STR_OR_NONE,
                    "user_id": STR,
                    "is_enterprise_install": FLAG,
                }
            )
        ),
        "response_urls": ListOf(Obj({"response_url": STR})),
        "workflow_step": Obj({}),
        "function_data": Obj({}),
    }
)


# Payloads after which a listener may open a form: Slack always sends a trigger id with them.
OPEN_FORMS = ("block_actions", "message_action", "shortcut")


def _follows(value: Any, rule: Any) -> bool:
    if isinstance(rule, tuple):
        # bool is an int in Python, but not in JSON: a number is never a flag, nor the reverse.
        return isinstance(value, rule) and not (isinstance(value, bool) and bool not in rule)
    if isinstance(rule, ListOf):
        return isinstance(value, list) and all(_follows(item, rule.item) for item in value)
    if value is None:
        return rule.nullable
    if isinstance(value, str):
        return rule.or_string
    return (
        isinstance(value, dict)
        and all(name in value for name in rule.required)
        and all(
            _follows(value[name], inner) for name, inner in rule.fields.items() if name in value
        )
    )


def well_formed(body: dict[str, Any]) -> bool:
    """True when every field Bolt or a listener reads has the type Slack gives it, and the
    parts each kind of payload cannot do without are there."""
    if not _follows(body, PAYLOAD):
        return False
    kind = body.get("type")
    if kind in ("block_actions", "interactive_message") and not body.get("actions"):
        return False  # Bolt reads actions[0]
    if (kind in OPEN_FORMS or "command" in body) and "trigger_id" not in body:
        return False  # what a listener opens a form with
    if kind == "event_callback" and "type" not in (body.get("event") or {}):
        return False
    view = body.get("view") or {}
    if kind in ("view_submission", "view_closed") and not (
        "callback_id" in view and "type" in view
    ):
        return False  # Bolt matches on the callback id and reads the view's type
    needs_step = kind == "workflow_step_edit" or view.get("type") == "workflow_step"
    return not needs_step or isinstance(body.get("workflow_step"), dict)
