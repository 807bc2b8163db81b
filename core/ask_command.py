"""Reading what a provider typed after the person in an `icx-ask` command: an optional
department (needed only when they are a member of several) and an optional service, each by
key, name, alias or translated name, any case. The platform adapter finds the person."""

from dataclasses import dataclass

from core import ask_text
from core.departments import Company, Department, Service
from core.i18n import Translator


@dataclass(frozen=True)
class Chosen:
    department: Department
    service: Service | None


@dataclass(frozen=True)
class Unclear:
    """What to tell the provider instead of asking anyone."""

    message: str


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _department_prefix(company: Company, words: list[str]) -> tuple[Department, int] | None:
    """The department the first words name (longest match first: names may have spaces)."""
    names = {_fold(n): d for d in company.departments for n in d.names()}
    for length in range(len(words), 0, -1):
        found = names.get(_fold(" ".join(words[:length])))
        if found is not None:
            return found, length
    return None


def _service(department: Department, typed: str) -> Service | None:
    wanted = _fold(typed)
    for service in department.services:
        spellings = {service.key, service.name} | {
            t.services[service.key]
            for t in department.translations.values()
            if service.key in t.services
        }
        if wanted in {_fold(s) for s in spellings}:
            return service
    return None


def choose(
    company: Company, mine: list[Department], typed: str, example: str, t: Translator
) -> Chosen | Unclear:
    """`mine`: the provider's departments (at least one). `example` shows how to name one,
    in the platform's own syntax (e.g. "/icx-ask @person finance")."""
    assert mine, "the caller tells a non-member first"
    words = typed.split()
    names = [d.display_name(t.locale) for d in mine]
    prefix = _department_prefix(company, words)
    if prefix is not None:
        department, used = prefix
        if department not in mine:
            return Unclear(ask_text.not_a_member(names, t))
        rest = " ".join(words[used:])
    elif len(mine) == 1:
        department, rest = mine[0], typed.strip()
    else:
        # A service only one of their departments offers names the department too.
        offering = [d for d in mine if typed.strip() and _service(d, typed) is not None]
        if len(offering) != 1:
            return Unclear(ask_text.which_department(names, example, t))
        department, rest = offering[0], typed.strip()
    if not rest:
        return Chosen(department, None)
    service = _service(department, rest)
    if service is None:
        return Unclear(ask_text.unknown_service(rest, department, t))
    return Chosen(department, service)
