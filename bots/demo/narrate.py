"""How the demo talks: plain lines on standard output, headings, wrapped paragraphs.

The narration is for the developer trying icx and stays in English; every word shown *from*
the product (prompts, score answers) comes from its catalogs.
"""

import sys
import textwrap

from bots.demo.render import width

WRAP = 100


def say(text: str = "", *, end: str = "\n") -> None:
    # sys.stdout is looked up at every call, so a test capturing output sees it.
    print(text, end=end, file=sys.stdout, flush=True)


def paragraph(text: str) -> None:
    say(textwrap.fill(text, WRAP))


def heading(text: str) -> None:
    say()
    say(text)
    say("─" * width(text))


def title(text: str) -> None:
    say(text)
    say("═" * width(text))
