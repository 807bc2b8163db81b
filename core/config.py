"""Loading settings and the departments YAML, turning every mistake into a sentence with a fix."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.departments import Company
from core.settings import Settings


class ConfigError(Exception):
    """Start-up configuration problem; str() is the message for the operator."""


@dataclass(frozen=True)
class Config:
    settings: Settings
    company: Company


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """departments[0].timezone, with the department key when there is one."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            key = (
                node[item].get("key")
                if isinstance(node, list) and isinstance(node[item], dict)
                else None
            )
            parts.append(f"[{item}]" + (f" ({key})" if key else ""))
        else:
            parts.append(("." if parts else "") + str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return "".join(parts) or "(top level)"


def _describe(error: dict[str, Any], data: Any) -> str:
    where = _location(tuple(error["loc"]), data)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "is not a known field (check the spelling against examples/departments.yml)"
    elif error["type"] == "missing":
        message = "is required"
    elif error["type"] == "too_short":
        message = "needs at least one entry"
    elif error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "key":
        message = (
            "must be lowercase letters, digits and dashes, starting with a letter or digit "
            f"(got {error.get('input')!r})"
        )
    elif error["type"] == "string_pattern_mismatch":
        message = f"{message} (got {error.get('input')!r})"
    return f"  - {where}: {message}"


def load_company(path: Path) -> Company:
    if not path.exists():
        raise ConfigError(
            f"departments file {path} does not exist.\n"
            f"Fix: copy examples/departments.yml to {path} and edit it, or point ICX_CONFIG "
            "at your file."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"departments file {path} is not valid YAML:\n  {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"departments file {path} cannot be read: {error}") from None
    return parse_company(data, source=str(path))


def parse_company(data: Any, source: str = "departments YAML") -> Company:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a mapping with a `departments:` list (see examples/departments.yml)"
        )
    try:
        return Company.model_validate(data)
    except ValidationError as error:
        lines = [_describe(e, data) for e in error.errors()]  # type: ignore[arg-type]
        raise ConfigError(f"{source} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = [
            # A check across fields names its variables itself and has no location.
            f"  - {str(e['loc'][0]).upper() + ': ' if e['loc'] else ''}"
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in error.errors()
        ]
        raise ConfigError("environment settings are invalid:\n" + "\n".join(lines)) from None


def require(settings: Settings, *names: str, purpose: str) -> None:
    """Names the environment variables that `purpose` needs and that are not set."""
    missing = [n.upper() for n in names if getattr(settings, n) is None]
    if missing:
        raise ConfigError(
            f"{purpose} needs {', '.join(missing)}. Set them in the environment or in .env "
            "(see the configuration reference in README.md)."
        )
