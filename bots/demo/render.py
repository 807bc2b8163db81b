"""Block Kit as a terminal shows it: what a person would read in Slack, as plain text.

Buttons look like `[ 4 · Satisfied ]` (a chosen one carries ✓), menus like `[ Pick… ▾ ]` with
their options listed, Slack's mrkdwn is reduced to its words and mentions become @Name.
"""

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

Block = dict[str, Any]
WIDTH = 100

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_EMPHASIS = [
    re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"),
    re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"),
]


def width(text: str) -> int:
    """Columns a terminal gives the text: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def mrkdwn(text: str, names: Mapping[str, str]) -> str:
    """*bold*, _italic_, ~strike~ lose their marks; <@U…>, <#C…|x>, <url|label> become words."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + (label or names.get(target[1:], target[1:]))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(element: Mapping[str, Any] | None, names: Mapping[str, str]) -> str:
    if not element:
        return ""
    text = str(element.get("text", ""))
    return mrkdwn(text, names) if element.get("type") == "mrkdwn" else text


def _button(element: Block) -> str:
    label = str(element.get("text", {}).get("text", ""))
    return f"[ {label} ✓ ]" if element.get("style") == "primary" else f"[ {label} ]"


def _menu(element: Block) -> list[str]:
    placeholder = str(element.get("placeholder", {}).get("text", ""))
    chosen = [o["text"]["text"] for o in element.get("initial_options") or []]
    options = [o["text"]["text"] for o in element.get("options") or []]
    lines = [f"[ {', '.join(chosen) or placeholder} ▾ ]"]
    if options:
        lines.append("  options: " + " · ".join(options))
    return lines


def _element(element: Block) -> list[str]:
    kind = element.get("type", "")
    if kind == "button":
        return [_button(element)]
    if kind.endswith("_select"):
        return _menu(element)
    return [f"[{kind}]"]


def _row(elements: list[Block]) -> list[str]:
    """Buttons side by side as far as the width allows; menus on lines of their own."""
    lines: list[str] = []
    current = ""
    for element in elements:
        drawn = _element(element)
        if len(drawn) == 1 and element.get("type") == "button":
            piece = drawn[0]
            if current and width(current) + 1 + width(piece) > WIDTH:
                lines.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
            continue
        if current:
            lines.append(current)
            current = ""
        lines.extend(drawn)
    if current:
        lines.append(current)
    return lines


def _header(block: Block, names: Mapping[str, str]) -> list[str]:
    title = _plain(block.get("text"), names)
    return [title, "━" * width(title)]


def _section(block: Block, names: Mapping[str, str]) -> list[str]:
    lines = _plain(block.get("text"), names).splitlines()
    for field in block.get("fields") or []:
        lines.append(_plain(field, names))
    accessory = block.get("accessory")
    if accessory:
        lines.extend(_element(accessory))
    return lines


def _context(block: Block, names: Mapping[str, str]) -> list[str]:
    parts = [_plain(e, names) for e in block.get("elements") or [] if "text" in e]
    return " ".join(parts).splitlines()


def _actions(block: Block, names: Mapping[str, str]) -> list[str]:
    return _row(list(block.get("elements") or []))


def _divider(block: Block, names: Mapping[str, str]) -> list[str]:
    return ["─" * 40]


_RENDERERS: dict[str, Callable[[Block, Mapping[str, str]], list[str]]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
}


def blocks(message: list[Block], names: Mapping[str, str] | None = None) -> list[str]:
    """One line per line of text; a blank line between blocks, as Slack spaces them."""
    known = names or {}
    lines: list[str] = []
    for block in message:
        renderer = _RENDERERS.get(block.get("type", ""))
        drawn = renderer(block, known) if renderer else [f"({block.get('type')} block)"]
        if lines and drawn:
            lines.append("")
        lines.extend(drawn)
    return lines


def framed(title: str, lines: list[str]) -> str:
    """A message as a card: who it is from on top, a rule down the left."""
    rule = "─" * max(0, 60 - width(title))
    body = [f"  │ {line}".rstrip() for line in lines]
    return "\n".join([f"  ┌─ {title} {rule}", *body, "  └" + "─" * 64])
