"""`icx teams-package`: a zip Teams accepts — a manifest valid against Microsoft's published
schema, its words in every shipped language (localization files valid against Microsoft's
localization schema), and icons of the sizes and colours Teams requires."""

import asyncio
import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from zipfile import ZipFile

import jsonschema
import pytest

from bots.cli import main
from bots.teams import package
from bots.teams.package import ASK_ACTION, Developer, build_package
from core import score_command, score_text
from core.config import ConfigError, load_settings, parse_company
from core.context import Icx
from core.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, translator
from core.settings import Settings

APP_ID = "2f1c7a4e-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "MicrosoftTeams.schema.v1.19.json"
# Microsoft's, verbatim: github.com/microsoft/json-schemas teams/v1.19.
LOCALIZATION_SCHEMA_PATH = (
    Path(__file__).parent / "schemas" / "MicrosoftTeams.Localization.schema.v1.19.json"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILES = ["color.png", "manifest.json", "outline.png", "zh-cn.json"]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# What stays as written in every language: the app's and the command's name, and what is typed.
TYPED = ("icx-score", "icx-ask", "icx", "finance", "30d", "7d", "90d")


def _settings() -> Settings:
    return load_settings(microsoft_app_id=APP_ID, microsoft_app_password="client-secret")


def _read(package: Path) -> dict[str, bytes]:
    with ZipFile(package) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == PNG_SIGNATURE
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def _size(png: bytes) -> tuple[int, int]:
    kind, body = _chunks(png)[0]
    assert kind == b"IHDR"
    width, height = struct.unpack(">II", body[:8])
    return width, height


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, previous: bytes, bpp: int) -> bytes:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        corner = previous[i - bpp] if i >= bpp else 0
        predictor = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
        line[i] = (line[i] + predictor) & 0xFF
    return bytes(line)


def _pixels(png: bytes) -> list[tuple[int, int, int, int]]:
    """Decodes an 8-bit RGBA, non-interlaced PNG (any filter) into its pixels."""
    chunks = _chunks(png)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 6, 0), "expected 8-bit RGBA, not interlaced"
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride, previous, pixels = width * 4, bytes(width * 4), []
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, 4)
        pixels += [tuple(line[i : i + 4]) for i in range(0, stride, 4)]
        previous = line
    return pixels  # type: ignore[return-value]


def _validate(manifest: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    # The validator of the draft the schema declares (draft-04), checked against it first.
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).validate(manifest)
    # Draft-04 has no `const`, so the version the schema pins is compared here.
    assert manifest["manifestVersion"] == schema["properties"]["manifestVersion"]["const"]


def _validate_localization(strings: dict[str, Any]) -> None:
    schema = json.loads(LOCALIZATION_SCHEMA_PATH.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator_class(schema, format_checker=validator_class.FORMAT_CHECKER).validate(strings)


def test_the_package_holds_a_valid_manifest_its_chinese_strings_and_two_icons(
    tmp_path: Path,
) -> None:
    package = build_package(_settings(), tmp_path / "icx-teams.zip")

    files = _read(package)
    assert sorted(files) == FILES
    manifest = json.loads(files["manifest.json"])
    _validate(manifest)
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["$schema"].endswith(
        f"/v{manifest['manifestVersion']}/MicrosoftTeams.schema.json"
    )
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    bot = manifest["bots"][0]
    assert bot["scopes"] == ["personal", "team"] and bot["isNotificationOnly"] is False
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles == ["icx-score", "icx-score help", "icx-ask"]
    # "Ask for feedback" in a message's menu: a dialog fetched from the bot.
    (extension,) = manifest["composeExtensions"]
    assert extension["botId"] == APP_ID
    (action,) = extension["commands"]
    assert action["id"] == ASK_ACTION and action["title"] == "Ask for feedback"
    assert (action["type"], action["context"], action["fetchTask"]) == ("action", ["message"], True)
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["validDomains"] == []
    for url in manifest["developer"].values():
        assert url == "icx" or url.startswith("https://")


def test_a_manifest_that_breaks_the_schema_fails_validation(tmp_path: Path) -> None:
    """The schema check is real: a manifest Teams would refuse does not pass it."""
    manifest = json.loads(_read(build_package(_settings(), tmp_path / "p.zip"))["manifest.json"])
    broken = {**manifest, "bots": [{**manifest["bots"][0], "botId": "not-a-guid"}]}
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)
    with pytest.raises(jsonschema.ValidationError):
        _validate({**manifest, "accentColor": "green"})


def test_the_icons_have_the_sizes_and_colours_teams_requires(tmp_path: Path) -> None:
    files = _read(build_package(_settings(), tmp_path / "icx-teams.zip"))

    assert _size(files["color.png"]) == (192, 192)
    assert _size(files["outline.png"]) == (32, 32)
    colour = _pixels(files["color.png"])
    assert len(colour) == 192 * 192 and all(alpha == 255 for *_, alpha in colour)
    assert len({pixel[:3] for pixel in colour}) > 2, "the colour icon is more than a flat square"
    outline = _pixels(files["outline.png"])
    assert len(outline) == 32 * 32
    not_white = [p for p in outline if p[3] != 0 and p[:3] != (255, 255, 255)]
    assert not_white == [], "outline.png must be white on transparent"
    assert outline[0][3] == 0, "the background is transparent"
    assert sum(1 for p in outline if p[3] == 255) > 50, "there is a white glyph"


def test_a_public_base_url_becomes_a_valid_domain_and_developer_urls_are_used(
    tmp_path: Path,
) -> None:
    developer = Developer(
        website_url="https://intranet.acme.example/icx",
        privacy_url="https://intranet.acme.example/privacy",
        terms_of_use_url="https://intranet.acme.example/terms",
    )
    package = build_package(
        _settings(), tmp_path / "p.zip", base_url="https://icx.acme.example", developer=developer
    )
    manifest = json.loads(_read(package)["manifest.json"])
    _validate(manifest)
    assert manifest["validDomains"] == ["icx.acme.example"]
    assert manifest["developer"]["privacyUrl"] == "https://intranet.acme.example/privacy"


def test_plain_http_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https"):
        build_package(_settings(), tmp_path / "p.zip", base_url="http://icx.acme.example")
    developer = Developer("https://a.example", "http://a.example/privacy", "https://a.example")
    with pytest.raises(ConfigError, match="privacy URL"):
        build_package(_settings(), tmp_path / "p.zip", developer=developer)
    assert not (tmp_path / "p.zip").exists()


def test_the_same_settings_give_the_same_bytes(tmp_path: Path) -> None:
    first = build_package(_settings(), tmp_path / "a.zip").read_bytes()
    assert build_package(_settings(), tmp_path / "b.zip").read_bytes() == first


def test_without_an_app_id_the_error_says_where_to_find_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        build_package(load_settings(), tmp_path / "p.zip")
    message = str(error.value)
    assert "MICROSOFT_APP_ID" in message
    assert "Azure Bot" in message and "Configuration" in message and "Microsoft App ID" in message
    assert not (tmp_path / "p.zip").exists()


def test_the_cli_writes_the_package_without_slack_settings_or_departments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # conftest has cleared every SLACK_*, MICROSOFT_* and ICX_* variable; no departments.yml.
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "client-secret")
    out = tmp_path / "out" / "icx-teams.zip"

    main(["teams-package", "--out", str(out)])  # returns normally: exit status 0

    assert sorted(_read(out)) == FILES
    printed = capsys.readouterr().out
    assert str(out) in printed and "Manage your apps" in printed and "Upload" in printed


def test_the_cli_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "client-secret")
    main(["teams-package"])
    assert (tmp_path / "icx-teams.zip").is_file()  # conftest runs every test in tmp_path


def test_the_cli_without_an_app_id_exits_non_zero_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["teams-package", "--out", str(tmp_path / "p.zip")])
    assert exit_.value.code != 0
    error = capsys.readouterr().err
    assert "MICROSOFT_APP_ID" in error and "Traceback" not in error
    assert not (tmp_path / "p.zip").exists()


# --- languages -------------------------------------------------------------------------------


def _localizations(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    manifest = json.loads(files["manifest.json"])
    info = manifest["localizationInfo"]
    assert info["defaultLanguageTag"] == "en-us"
    return {
        language["languageTag"]: json.loads(files[language["file"]])
        for language in info["additionalLanguages"]
    }


def _at(manifest: dict[str, Any], key: str) -> Any:
    """The manifest's value at a localization key: "bots[0].commandLists[0].commands[1].title"."""
    value: Any = manifest
    for part in key.split("."):
        value = value[part.split("[")[0]]
        for index in re.findall(r"\[(\d+)\]", part):
            value = value[int(index)]
    return value


def test_every_shipped_language_has_a_valid_localization_file(tmp_path: Path) -> None:
    files = _read(build_package(_settings(), tmp_path / "icx-teams.zip"))
    manifest = json.loads(files["manifest.json"])
    localizations = _localizations(files)

    assert sorted(localizations) == sorted(
        package.LANGUAGE_TAGS[locale] for locale in SUPPORTED_LOCALES if locale != DEFAULT_LOCALE
    )
    for tag, strings in localizations.items():
        _validate_localization(strings)
        assert strings["$schema"].endswith(
            f"/v{manifest['manifestVersion']}/MicrosoftTeams.Localization.schema.json"
        )
        # Every string Teams shows before anyone talks to the bot, each replacing one in the
        # manifest.
        keys = sorted(k for k in strings if k != "$schema")
        commands = manifest["bots"][0]["commandLists"][0]["commands"]
        actions = manifest["composeExtensions"][0]["commands"]
        assert keys == sorted(
            ["name.short", "name.full", "description.short", "description.full"]
            + [
                f"bots[0].commandLists[0].commands[{i}].{field}"
                for i in range(len(commands))
                for field in ("title", "description")
            ]
            + [
                f"composeExtensions[0].commands[{i}].{field}"
                for i in range(len(actions))
                for field in ("title", "description")
            ]
        ), tag
        for key in keys:
            assert isinstance(_at(manifest, key), str), key


def test_the_chinese_strings_come_from_the_catalog_without_english(tmp_path: Path) -> None:
    files = _read(build_package(_settings(), tmp_path / "icx-teams.zip"))
    strings = _localizations(files)["zh-cn"]
    manifest = json.loads(files["manifest.json"])
    english = package.app_text(translator("en"))

    assert manifest["name"]["full"] == english.name_full
    assert manifest["description"]["full"] == english.description_full
    # The app's name and the command are names, the same in every language.
    names = {
        "name.short": "icx",
        "bots[0].commandLists[0].commands[0].title": package.COMMAND,
        "bots[0].commandLists[0].commands[2].title": package.ASK_COMMAND,
    }
    for key, name in names.items():
        assert strings[key] == _at(manifest, key) == name
    left = []
    for key, text in strings.items():
        if key == "$schema" or key in names:
            continue
        assert CJK.search(text), f"{key}: {text!r}"
        assert text != _at(manifest, key), key
        for name in sorted(TYPED, key=len, reverse=True):
            text = re.sub(rf"(?<![A-Za-z]){re.escape(name)}(?![A-Za-z])", " ", text)
        left += [f"{key}: {word}" for word in re.findall(r"[A-Za-z]{2,}", text)]
    assert left == [], "English in zh-cn.json: translate it in the zh_Hans catalog"
    assert json.loads(files["zh-cn.json"]) == package.localization(translator("zh_Hans"))
    assert "\\u" not in files["zh-cn.json"].decode("utf-8"), "Chinese as characters"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_help_command_in_the_menu_answers_with_help(locale: str) -> None:
    """Teams sends a command's title when it is picked from the menu: the help command's title
    in every language is understood as help."""
    t = translator(locale)
    company = parse_company({"departments": [{"key": "finance", "name": "Finance"}]})
    icx = cast(Icx, SimpleNamespace(company=company))
    help_title = score_text.help_text(list(company.departments), t, package.COMMAND).title
    first, *commands = package.app_text(t).commands
    assert first["title"] == package.COMMAND
    # icx-ask has a help of its own (tests/test_teams_triggers.py).
    for command in [c for c in commands if c["title"] != package.ASK_COMMAND]:
        typed, _, rest = command["title"].partition(" ")
        assert typed == package.COMMAND
        answer = asyncio.run(score_command.answer(icx, rest, t, command=package.COMMAND))
        assert answer.title == help_title, command["title"]


def test_a_localization_file_that_breaks_the_schema_fails_validation(tmp_path: Path) -> None:
    strings = _localizations(_read(build_package(_settings(), tmp_path / "p.zip")))["zh-cn"]
    _validate_localization(strings)
    with pytest.raises(jsonschema.ValidationError):
        _validate_localization({**strings, "name.short": "很" * 31})
    with pytest.raises(jsonschema.ValidationError):
        _validate_localization({**strings, "bots[0].commandLists[0].commands[0].title": "长" * 33})
    with pytest.raises(jsonschema.ValidationError):
        _validate_localization({**strings, "bots[1].commandLists[0].commands[0].title": "x"})
    with pytest.raises(jsonschema.ValidationError):
        _validate_localization({k: v for k, v in strings.items() if k != "description.full"})


def test_a_language_without_a_teams_tag_is_refused(tmp_path: Path) -> None:
    assert set(package.LANGUAGE_TAGS) >= set(SUPPORTED_LOCALES)
    with pytest.raises(ConfigError, match="LANGUAGE_TAGS"):
        package.language_tag("fr")


def test_packaging_loads_no_chat_sdk_or_web_framework() -> None:
    """Packaging runs where the bot does not; it must not need botbuilder, aiohttp or Slack."""
    code = (
        "import sys, bots.teams.package\n"
        "loaded = sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in ('botbuilder', 'botframework', 'aiohttp', 'slack_sdk',"
        " 'slack_bolt'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
