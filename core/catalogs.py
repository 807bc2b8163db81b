"""Keeping the message catalogs in step with the code: extract every message the code uses,
update each catalog (new messages added, stale ones dropped), and check completeness."""

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from core.i18n import DEFAULT_LOCALE, DOMAIN, SUPPORTED_LOCALES, catalog_path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("core", "bots")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}

MessageId = str | tuple[str, str]


def extract() -> dict[MessageId, list[str]]:
    """Every message id the code uses, with where it is used."""
    found: dict[MessageId, list[str]] = {}
    for package in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / package,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=(),
            strip_comment_tags=True,
        ):
            found.setdefault(message, []).append(f"{package}/{filename}:{lineno}")
    return found


def load(locale: str) -> Catalog:
    with catalog_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


@dataclass(frozen=True)
class CatalogReport:
    locale: str
    missing: list[str]  # used in code, absent from the catalog
    stale: list[str]  # in the catalog, no longer used
    untranslated: list[str]  # present but with an empty translation

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.untranslated)


def _key(message: MessageId) -> str:
    return message if isinstance(message, str) else message[0]


def check(locale: str) -> CatalogReport:
    used = {_key(m) for m in extract()}
    catalog = load(locale)
    present = {_key(m.id) for m in catalog if m.id}
    untranslated = [
        _key(m.id)
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    return CatalogReport(
        locale, sorted(used - present), sorted(present - used), sorted(untranslated)
    )


def update(locale: str) -> CatalogReport:
    """Rewrites a catalog: keeps translations, adds new messages, drops stale ones. English
    translates every message to itself."""
    used = extract()
    path = catalog_path(locale)
    old = load(locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
    fresh = Catalog(
        locale=locale,
        domain=DOMAIN,
        project="icx",
        version="",
        msgid_bugs_address="",
        copyright_holder="icx contributors",
    )
    fresh.fuzzy = False
    if path.exists():
        # Keep what translators wrote in the header; only the messages are regenerated.
        for attribute in (
            "project",
            "version",
            "last_translator",
            "language_team",
            "revision_date",
            "creation_date",
        ):
            setattr(fresh, attribute, getattr(old, attribute))
    for message, places in sorted(used.items(), key=lambda item: _key(item[0])):
        previous = old.get(message if isinstance(message, str) else message[0])
        if locale == DEFAULT_LOCALE:
            string: str | tuple[str, ...] = message
        elif previous is not None and previous.string:
            string = previous.string
        else:
            string = "" if isinstance(message, str) else ("",)
        fresh.add(
            message,
            string,
            locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places],
            flags=("python-brace-format",) if "{" in _key(message) else (),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(
            handle, fresh, width=100, sort_output=True, include_previous=False, include_lineno=False
        )
    return check(locale)


def update_all() -> list[CatalogReport]:
    return [update(locale) for locale in SUPPORTED_LOCALES]
