"""Which conversation an activity came from, as something to store: a person's personal chat with
the bot, or a team channel. Teams ids and Bot Framework types stop here."""

from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference

from storage.teams_conversations import CHANNEL, USER, Conversation, user_key

NAME_MAX = 200  # the stored column; Entra allows 256


def mapping(value: Any) -> dict[str, Any]:
    """Parts of an activity that should be objects, as objects (a string is nothing)."""
    return value if isinstance(value, dict) else {}


def channel_data(activity: Activity) -> dict[str, Any]:
    return mapping(activity.channel_data)


def _id(value: Any) -> str | None:
    found = mapping(value).get("id")
    return str(found) if isinstance(found, str) and found else None


def team_id(activity: Activity) -> str | None:
    return _id(channel_data(activity).get("team"))


def tenant_id(activity: Activity) -> str | None:
    tenant = _id(channel_data(activity).get("tenant"))
    return tenant or (activity.conversation.tenant_id if activity.conversation else None)


def is_personal(activity: Activity) -> bool:
    return bool(activity.conversation and activity.conversation.conversation_type == "personal")


def aad_id(activity: Activity) -> str | None:
    sender = activity.from_property
    return user_key(sender.aad_object_id) if sender and sender.aad_object_id else None


def channel_id(activity: Activity) -> str | None:
    """The channel itself, not the thread a message was posted in."""
    channel = _id(channel_data(activity).get("channel"))
    if channel:
        return channel
    conversation = activity.conversation.id if activity.conversation else None
    return conversation.split(";", 1)[0] if conversation else None


def of_person(
    activity: Activity, email: str | None, name: str | None = None
) -> Conversation | None:
    """The personal chat a prompt can be sent to; a channel message says nothing about that."""
    key = aad_id(activity)
    if key is None or not is_personal(activity):
        return None
    reference = TurnContext.get_conversation_reference(activity)
    # The message it came with changes every time; the conversation does not.
    reference.activity_id = None
    return Conversation(
        kind=USER,
        key=key,
        reference=serialize(reference),
        tenant_id=tenant_id(activity),
        email=email,
        name=(name or (activity.from_property.name if activity.from_property else None) or "")[
            :NAME_MAX
        ]
        or None,
        locale=activity.locale,
    )


def of_channel(activity: Activity) -> Conversation | None:
    key = channel_id(activity)
    if key is None or is_personal(activity) or team_id(activity) is None:
        return None
    reference = TurnContext.get_conversation_reference(activity)
    # Proactive posts start a new thread in the channel, not a reply in the message's thread.
    reference.conversation.id = key
    reference.activity_id = None
    return Conversation(
        kind=CHANNEL,
        key=key,
        reference=serialize(reference),
        team_id=team_id(activity),
        tenant_id=tenant_id(activity),
    )


def serialize(reference: ConversationReference) -> dict[str, Any]:
    return dict(reference.serialize())


def deserialize(data: dict[str, Any]) -> ConversationReference:
    return ConversationReference().deserialize(data)


def elsewhere(data: dict[str, Any], conversation_id: str) -> ConversationReference:
    """The same bot and service, another conversation of the tenant (a configured channel the
    bot was added to before this version stored channel references)."""
    reference = deserialize(data)
    reference.conversation.id = conversation_id
    reference.conversation.conversation_type = "channel"
    reference.activity_id = None
    reference.user = None
    return reference
