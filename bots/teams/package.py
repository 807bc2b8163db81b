"""The Teams app package (`icx teams-package`): manifest.json, color.png, outline.png and one
localization file per shipped language besides English (zh-cn.json) in a zip that an admin
uploads to Teams. The manifest's words come from the message catalogs like every other word icx
shows: English in the manifest itself, every other language in its localization file.

Pure Python on purpose (no botbuilder, aiohttp or Slack SDK): packaging runs on a laptop that
may have none of the bot's credentials, and the icons are drawn here rather than shipped as
binary files, so the package is reproducible byte for byte from the code.
"""

import json
import math
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from core.config import ConfigError
from core.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, Translator, translator
from core.settings import Settings

MANIFEST_VERSION = "1.19"
SCHEMA_URL = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/"
    f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
)
DEFAULT_PROJECT_URL = "https://github.com/icx-project/icx"
ACCENT = (0x11, 0x78, 0x65)  # a calm green: "satisfied", and readable under white text
ACCENT_COLOR = "#{:02X}{:02X}{:02X}".format(*ACCENT)
COLOR_SIZE = 192  # sizes Teams requires
OUTLINE_SIZE = 32
# A fixed timestamp for every zip entry, so the same code and settings give the same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
COMMAND_SCOPES = ["personal", "team"]

# The commands as typed in Teams (no slash there); the same words in every language.
COMMAND = "icx-score"
ASK_COMMAND = "icx-ask"
# The "Ask for feedback" message action: the commandId its invokes carry.
ASK_ACTION = "askForFeedback"

LOCALIZATION_SCHEMA_URL = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/"
    f"v{MANIFEST_VERSION}/MicrosoftTeams.Localization.schema.json"
)
# The Teams language tag of each shipped catalog. Adding a language to SUPPORTED_LOCALES adds
# its tag here; the package refuses to build without one.
LANGUAGE_TAGS = {"en": "en-us", "zh_Hans": "zh-cn"}


@dataclass(frozen=True)
class AppText:
    """What Teams shows of the app before anyone talks to it, in one language."""

    name_short: str
    name_full: str
    description_short: str
    description_full: str
    commands: list[dict[str, str]]  # title and description of each bot command
    actions: list[dict[str, str]]  # id, title and description of each message action


def app_text(t: Translator) -> AppText:
    return AppText(
        name_short="icx",
        name_full=t._("icx: internal customer experience"),
        description_short=t._(
            "One-tap feedback on internal services, and honest department scores."
        ),
        description_full=t._(
            "After IT, Finance, HR or another internal department has helped you, icx asks you "
            "in a personal chat how satisfied you are and how easy it was: one tap is a complete "
            "answer, reasons and a comment are optional, and nobody is asked too often. "
            "Department leaders type {command} (for example {command} finance 30d) to see "
            "satisfaction and effort with their number of responses and a 95 % interval. No "
            "number is shown for a group below the reporting minimum, and respondents are "
            "stored only as keyed hashes.",
            command=COMMAND,
        ),
        commands=[
            {
                "title": COMMAND,
                "description": t._(
                    "A department's scores: {command} finance 30d (7d, 30d, 90d or quarter). "
                    "Alone: every department side by side.",
                    command=COMMAND,
                ),
            },
            {
                # Teams sends the title when the command is picked from the menu; the help
                # command understands the word for help in every shipped language.
                "title": t._("{command} help", command=COMMAND),
                "description": t._(
                    "How to ask for scores, and which departments you can ask about."
                ),
            },
            {
                "title": ASK_COMMAND,
                "description": t._(
                    "Department members: {command} @person [service] asks a colleague how your "
                    "department helped them.",
                    command=ASK_COMMAND,
                ),
            },
        ],
        actions=[
            {
                "id": ASK_ACTION,
                "title": t._("Ask for feedback"),
                "description": t._(
                    "Ask the author of this message how your department helped them (department "
                    "members only)."
                ),
            }
        ],
    )


def language_tag(locale: str) -> str:
    tag = LANGUAGE_TAGS.get(locale)
    if tag is None:
        raise ConfigError(
            f"the Teams app package has no language tag for the {locale} catalog; add one to "
            'LANGUAGE_TAGS in bots/teams/package.py (e.g. "fr-fr" for fr)'
        )
    return tag


def localization_file(locale: str) -> str:
    return f"{language_tag(locale)}.json"


def localization(t: Translator) -> dict[str, str]:
    """A language's strings, keyed by where they sit in the manifest (Microsoft's
    MicrosoftTeams.Localization.schema.json)."""
    text = app_text(t)
    strings = {
        "$schema": LOCALIZATION_SCHEMA_URL,
        "name.short": text.name_short,
        "name.full": text.name_full,
        "description.short": text.description_short,
        "description.full": text.description_full,
    }
    for index, command in enumerate(text.commands):
        prefix = f"bots[0].commandLists[0].commands[{index}]"
        strings[f"{prefix}.title"] = command["title"]
        strings[f"{prefix}.description"] = command["description"]
    for index, action in enumerate(text.actions):
        prefix = f"composeExtensions[0].commands[{index}]"
        strings[f"{prefix}.title"] = action["title"]
        strings[f"{prefix}.description"] = action["description"]
    return strings


def _other_locales() -> list[str]:
    return [locale for locale in SUPPORTED_LOCALES if locale != DEFAULT_LOCALE]


@dataclass(frozen=True)
class Developer:
    """Who publishes the app, as Teams shows it on the app's details page (all https)."""

    website_url: str
    privacy_url: str
    terms_of_use_url: str
    name: str = "icx"


def project_url() -> str:
    """The repository URL from the installed package's metadata, if it names an https one."""
    try:
        urls = metadata.metadata("icx").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        url = url.strip()
        if label.strip().lower() in ("repository", "source", "homepage") and _is_https(url):
            return url
    return DEFAULT_PROJECT_URL


def default_developer() -> Developer:
    url = project_url()
    return Developer(website_url=url, privacy_url=url, terms_of_use_url=url)


def app_version() -> str:
    """icx's version as the x.y.z Teams insists on (it compares versions on every upload)."""
    try:
        version = metadata.version("icx")
    except metadata.PackageNotFoundError:
        # Not installed (running from a bare checkout): any real release will be newer.
        return "0.0.0"
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        return "0.0.0"
    major, minor, patch = match.groups()
    return f"{int(major)}.{int(minor)}.{int(patch or 0)}"


def _is_https(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.netloc)


def _require_app_id(settings: Settings) -> str:
    if settings.microsoft_app_id is None:
        raise ConfigError(
            "the Teams app package needs MICROSOFT_APP_ID, the Azure Bot's Microsoft App ID. "
            "Find it in the Azure portal > your Azure Bot resource > Configuration > "
            "Microsoft App ID, and set it in the environment or in .env."
        )
    return settings.microsoft_app_id


def _check_developer(developer: Developer) -> None:
    fields = {
        "website URL": developer.website_url,
        "privacy URL": developer.privacy_url,
        "terms of use URL": developer.terms_of_use_url,
    }
    for label, url in fields.items():
        if not _is_https(url):
            raise ConfigError(f"the Teams app package needs an https {label}; got {url!r}")


def _valid_domains(base_url: str | None) -> list[str]:
    """The bot needs no web content; a public base URL is listed so a later tab can use it."""
    if base_url is None:
        return []
    if not _is_https(base_url):
        raise ConfigError(
            f"the public base URL must be https://<your host>, as Teams requires; got {base_url!r}"
        )
    return [urlsplit(base_url).netloc]


def manifest(
    app_id: str, developer: Developer, *, base_url: str | None = None, version: str | None = None
) -> dict[str, Any]:
    # No webApplicationInfo: it is for single sign-on into a tab, which icx does not have.
    text = app_text(translator(DEFAULT_LOCALE))
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version or app_version(),
        "id": app_id,
        "developer": {
            "name": developer.name,
            "websiteUrl": developer.website_url,
            "privacyUrl": developer.privacy_url,
            "termsOfUseUrl": developer.terms_of_use_url,
        },
        "name": {"short": text.name_short, "full": text.name_full},
        "description": {"short": text.description_short, "full": text.description_full},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT_COLOR,
        "bots": [
            {
                # The bot is the app: the same Microsoft App ID identifies both.
                "botId": app_id,
                "scopes": ["personal", "team"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": COMMAND_SCOPES, "commands": text.commands}],
            }
        ],
        # A message action: "Ask for feedback" in a message's "More actions" menu opens a dialog
        # (fetchTask) whose answer the bot receives as submitAction.
        "composeExtensions": [
            {
                "botId": app_id,
                "commands": [
                    {**action, "type": "action", "context": ["message"], "fetchTask": True}
                    for action in text.actions
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": _valid_domains(base_url),
        "localizationInfo": {
            "defaultLanguageTag": language_tag(DEFAULT_LOCALE),
            "additionalLanguages": [
                {"languageTag": language_tag(locale), "file": localization_file(locale)}
                for locale in _other_locales()
            ],
        },
    }


def build_package(
    settings: Settings,
    out: Path,
    *,
    base_url: str | None = None,
    developer: Developer | None = None,
) -> Path:
    """Writes the sideloadable app package to `out` and returns its path."""
    app_id = _require_app_id(settings)
    developer = developer or default_developer()
    _check_developer(developer)
    files = {
        "manifest.json": _json(manifest(app_id, developer, base_url=base_url)),
        **{
            localization_file(locale): _json(localization(translator(locale)))
            for locale in _other_locales()
        },
        "color.png": color_icon(),
        "outline.png": outline_icon(),
    }
    if out.is_dir():
        raise ConfigError(
            f"{out} is a directory; give the zip file's path, e.g. {out}/icx-teams.zip"
        )
    try:
        _write_zip(out, files)
    except OSError as error:
        raise ConfigError(f"cannot write the Teams app package to {out}: {error}") from None
    return out


def _json(value: dict[str, Any]) -> bytes:
    # Chinese as characters, not \u escapes: the file is read by people as well as by Teams.
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_zip(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so a failed run never leaves half a zip to upload.
    partial = out.with_name(out.name + ".partial")
    with ZipFile(partial, "w") as archive:
        for name, data in files.items():
            entry = ZipInfo(name, date_time=ZIP_DATE)
            entry.compress_type = ZIP_DEFLATED
            archive.writestr(entry, data)
    partial.replace(out)


# --- icons ----------------------------------------------------------------------------------
# Drawn with signed distance functions: each shape says how far a point is from its edge
# (negative inside), which gives smooth anti-aliased edges from one sample per pixel.

Point = tuple[float, float]
Distance = Callable[[float, float], float]
Rgba = tuple[int, int, int, int]

WHITE = (255, 255, 255)


def _rounded_box(cx: float, cy: float, half_w: float, half_h: float, radius: float) -> Distance:
    def distance(x: float, y: float) -> float:
        qx = abs(x - cx) - half_w + radius
        qy = abs(y - cy) - half_h + radius
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def _segment_distance(x: float, y: float, a: Point, b: Point) -> float:
    ex, ey = b[0] - a[0], b[1] - a[1]
    wx, wy = x - a[0], y - a[1]
    t = max(0.0, min(1.0, (wx * ex + wy * ey) / (ex * ex + ey * ey)))
    return math.hypot(wx - ex * t, wy - ey * t)


def _stroke(points: Sequence[Point], width: float) -> Distance:
    """A polyline of the given width with round ends and joins."""
    pairs = list(pairwise(points))

    def distance(x: float, y: float) -> float:
        return min(_segment_distance(x, y, a, b) for a, b in pairs) - width / 2

    return distance


def _polygon(vertices: Sequence[Point]) -> Distance:
    def distance(x: float, y: float) -> float:
        nearest = math.inf
        inside = False
        for i, (ax, ay) in enumerate(vertices):
            bx, by = vertices[i - 1]
            nearest = min(nearest, _segment_distance(x, y, (ax, ay), (bx, by)))
            # Even-odd rule: count the edges a ray to the right of the point crosses.
            if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
                inside = not inside
        return -nearest if inside else nearest

    return distance


def _union(*shapes: Distance) -> Distance:
    return lambda x, y: min(shape(x, y) for shape in shapes)


def _coverage(distance: float, size: int) -> float:
    """How much of a pixel the shape covers, from the distance of the pixel's centre."""
    return max(0.0, min(1.0, 0.5 - distance * size))


def _bubble(cy: float, half_w: float, half_h: float, radius: float) -> Distance:
    """A speech bubble with its tail at the lower left; coordinates are fractions of the icon."""
    bottom = cy + half_h
    tail = _polygon([(0.30, bottom - 0.12), (0.46, bottom - 0.12), (0.27, bottom + 0.16)])
    return _union(_rounded_box(0.5, cy, half_w, half_h, radius), tail)


def _check(cx: float, cy: float, scale: float, width: float) -> Distance:
    points = [(cx - 0.5 * scale, cy), (cx - 0.15 * scale, cy + 0.35 * scale)]
    points.append((cx + 0.5 * scale, cy - 0.32 * scale))
    return _stroke(points, width)


def _render(size: int, pixel: Callable[[float, float], Rgba]) -> list[list[Rgba]]:
    return [
        [pixel((column + 0.5) / size, (row + 0.5) / size) for column in range(size)]
        for row in range(size)
    ]


def _mix(under: tuple[int, int, int], over: tuple[int, int, int], amount: float) -> Rgba:
    r, g, b = (round(u + (o - u) * amount) for u, o in zip(under, over, strict=True))
    return (r, g, b, 255)


@cache  # drawing takes a few tenths of a second and always gives the same bytes
def color_icon() -> bytes:
    """192×192: a white speech bubble with a check, on the accent colour, edge to edge."""
    bubble = _bubble(cy=0.45, half_w=0.30, half_h=0.21, radius=0.08)
    check = _check(0.5, 0.45, scale=0.28, width=0.05)

    def pixel(x: float, y: float) -> Rgba:
        body = _coverage(bubble(x, y), COLOR_SIZE)
        mark = _coverage(check(x, y), COLOR_SIZE)
        r, g, b, _ = _mix(ACCENT, WHITE, body)
        return _mix((r, g, b), ACCENT, mark)

    return encode_png(_render(COLOR_SIZE, pixel))


@cache
def outline_icon() -> bytes:
    """32×32: the same bubble and check as white lines on full transparency (Teams' rule)."""
    bubble = _bubble(cy=0.44, half_w=0.40, half_h=0.28, radius=0.12)
    check = _check(0.5, 0.44, scale=0.36, width=0.085)
    line = 0.07  # about 2 px

    def pixel(x: float, y: float) -> Rgba:
        edge = _coverage(abs(bubble(x, y)) - line / 2, OUTLINE_SIZE)
        mark = _coverage(check(x, y), OUTLINE_SIZE)
        # Every pixel is white; only its opacity varies, so nothing but white ever shows.
        return (255, 255, 255, round(255 * max(edge, mark)))

    return encode_png(_render(OUTLINE_SIZE, pixel))


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def encode_png(rows: Sequence[Sequence[Rgba]]) -> bytes:
    """8-bit RGBA, non-interlaced, every row unfiltered: the simplest PNG every reader takes."""
    height, width = len(rows), len(rows[0])
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(channel for px in row for channel in px) for row in rows)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw, 9)),
            _chunk(b"IEND", b""),
        ]
    )
