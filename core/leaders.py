"""Who leads a department, and whether an answer may carry its comments where it will be read:
comments are shown only to the department's leaders, and only where nobody else reads along —
an answer only the leader sees, or the department's own channels (GUIDE §6)."""

import re
from dataclasses import dataclass

from core.departments import AAD_OBJECT_ID, EMAIL, SLACK_USER, Department


@dataclass(frozen=True)
class Asker:
    """The person who typed a command, as their platform vouches for them."""

    platform: str  # "slack" or "teams"
    user_id: str  # Slack user id, or Microsoft Entra object id
    email: str | None = None  # from the platform's directory, when it could be asked
    # Where the answer is shown: None when only the asker sees it (Slack's ephemeral answer to
    # a slash command, a Teams personal chat); else the channel or group chat others read.
    shared_in: str | None = None


def leads(department: Department, asker: Asker | None) -> bool:
    """True when the department's `leaders` name the asker: by their id on the platform they
    asked from (a Slack id never matches a Teams person, nor the other way), or by email."""
    if asker is None or not asker.user_id:
        return False
    pattern = SLACK_USER if asker.platform == "slack" else AAD_OBJECT_ID
    for leader in department.leaders:
        if re.fullmatch(pattern, leader) and leader.casefold() == asker.user_id.casefold():
            return True
        if asker.email and re.fullmatch(EMAIL, leader):
            if leader.casefold() == asker.email.casefold():
                return True
    return False


def private_enough(department: Department, asker: Asker) -> bool:
    """Only the asker reads the answer, or it lands in one of the department's own channels."""
    if asker.shared_in is None:
        return True
    own = {
        department.slack.digest_channel,
        department.slack.alert_channel,
        department.teams.digest_channel,
        department.teams.alert_channel,
    } - {None}
    return asker.shared_in in own
