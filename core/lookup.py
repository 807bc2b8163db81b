"""Finding a department by what a person typed: key, display name or alias."""

import difflib
from dataclasses import dataclass

from core.departments import Company, Department


@dataclass(frozen=True)
class Lookup:
    department: Department | None
    suggestions: tuple[Department, ...] = ()


def find_department(company: Company, typed: str) -> Lookup:
    wanted = typed.strip().casefold()
    by_name = {n.casefold(): d for d in company.departments for n in d.names()}
    if wanted in by_name:
        return Lookup(by_name[wanted])
    close = difflib.get_close_matches(wanted, list(by_name), n=6, cutoff=0.6)
    suggestions: list[Department] = []
    for name in close:
        if by_name[name] not in suggestions:
            suggestions.append(by_name[name])
    return Lookup(None, tuple(suggestions[:3]))
