"""Message catalogs (gettext .po files read through Babel) and locale-aware formatting.

Every word a person reads goes through a Translator: `t._("…{name}…", name=x)` for a message,
`t.ngettext(singular, plural, n)` for plurals. Module-level texts are marked with `N_` and
translated where they are shown. Catalogs live in core/locales/<locale>/LC_MESSAGES/icx.po.
"""

import functools
import gettext
import io
from datetime import date, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, format_decimal, parse_pattern

DOMAIN = "icx"
LOCALES_DIR = Path(__file__).parent / "locales"
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "zh_Hans")
DEFAULT_LOCALE = "en"

# Chat platforms report locales as en-US, zh-CN, zh-Hans…; Traditional Chinese is not shipped.
_ALIASES = {"zh": "zh_Hans", "zh_cn": "zh_Hans", "zh_sg": "zh_Hans", "zh_hans": "zh_Hans"}


def N_(message: str) -> str:
    """Marks a message for extraction without translating it yet."""
    return message


def catalog_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def negotiate(*candidates: str | None) -> str:
    """The first candidate we ship a catalog for, else English."""
    for candidate in candidates:
        if not candidate:
            continue
        normal = candidate.replace("-", "_")
        if normal in SUPPORTED_LOCALES:
            return normal
        lowered = normal.lower()
        if lowered in _ALIASES:
            return _ALIASES[lowered]
        language = lowered.split("_")[0]
        if language in SUPPORTED_LOCALES:
            return language
    return DEFAULT_LOCALE


@functools.cache
def _pattern(number_format: str) -> NumberPattern:
    # What format_decimal and format_percent do, without parsing the format on every call: an
    # overview of 50 departments formats 150 numbers.
    return parse_pattern(number_format)


class Translator:
    def __init__(self, locale: str, translations: gettext.NullTranslations) -> None:
        self.locale = locale
        self.babel_locale = Locale.parse(locale)
        self._translations = translations

    def _(self, message: str, /, **values: object) -> str:
        text = self._translations.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        text = self._translations.ngettext(singular, plural, n)
        return text.format(n=self.number(n), **values)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.babel_locale)

    def decimal(self, value: float, digits: int = 1) -> str:
        return _pattern(f"#,##0.{'0' * digits}").apply(value, self.babel_locale)

    def percent(self, share: float) -> str:
        return _pattern("#,##0%").apply(share, self.babel_locale)

    def join(self, items: list[str], style: str = "standard") -> str:
        """A list as the language writes it: "a, b, and c"; "a、b和c". style "or" for choices."""
        return format_list(items, style=style, locale=self.babel_locale)  # type: ignore[arg-type]

    def date(self, value: date | datetime) -> str:
        return format_date(value, format="medium", locale=self.babel_locale)


def _load(locale: str) -> gettext.GNUTranslations:
    path = catalog_path(locale)
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.cache
def translator(locale: str | None = None) -> Translator:
    chosen = negotiate(locale)
    return Translator(chosen, _load(chosen))
