"""The digest's trend chart: a department's % satisfied and mean effort per ISO week, each with
its 95 % interval and n, as a small PNG that Slack uploads and Teams embeds in a card.

Drawn straight onto a Pillow image, at twice the size and then halved so that lines and dots
come out smooth: a chart takes milliseconds, where matplotlib's figure machinery (layout,
tick locators, text extents measured again and again) took a third of a second of CPU, and a
Monday's digests for fifty departments would wait on their charts. matplotlib is still what
finds the fonts: its font list, with the packaged CJK font added. Weeks below the reporting
minimum are gaps that show only their n, never a value (GUIDE §4). Chinese text needs a CJK
font: the one the package `pylopdf-fonts-zh-cn` ships (Noto Sans SC), else a system one
(Debian's fonts-noto-cjk or fonts-wqy-microhei); without any, the chart still renders, and a
warning names each character drawn as a box. Safe to call from worker threads
(asyncio.to_thread): every chart draws on its own image.
"""

import io
import logging
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from core.digest import TrendPoint
from core.i18n import Translator
from core.posts import Image
from core.weeks import IsoWeek

log = logging.getLogger(__name__)

WIDTH, HEIGHT, DPI = 8.0, 4.8, 100  # 800 × 480 px: legible at chat size
# Palette sizes to try when quantising: antialiased text stays smooth, the PNG small; fewer
# colours only if a busy chart would not fit in MAX_BYTES.
COLORS = (48, 24, 12)
MAX_BYTES = 28_000  # Teams carries it base64-encoded (4/3 larger) inside a card of ≤ 40 KB

# Okabe–Ito: told apart with any colour vision, and by marker shape too.
SATISFIED_COLOR = "#0072B2"  # blue, circles
EFFORT_COLOR = "#D55E00"  # vermillion, squares
HIDDEN_COLOR = "#8C8C8C"  # weeks with too few responses
HIDDEN_FILL = "#EDEDED"
TEXT_COLOR = "#222222"
GRID_COLOR = "#DDDDDD"

TITLE_SIZE = 13
LABEL_SIZE = 11
TICK_SIZE = 10

LATIN_FAMILY = "DejaVu Sans"  # matplotlib's own, always there
# First found wins for Chinese; the rest of the list is glyph-by-glyph fallback.
CJK_FAMILIES = (
    "Noto Sans SC",  # pylopdf-fonts-zh-cn (PyPI)
    "Noto Sans CJK SC",  # fonts-noto-cjk (Debian)
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",  # fonts-wqy-microhei (Debian)
    "WenQuanYi Zen Hei",  # fonts-wqy-zenhei (Debian)
    "Droid Sans Fallback",  # fonts-droid-fallback (Debian)
)

_drawing = threading.Lock()  # the fonts are shared: one chart draws at a time
_fonts = threading.Lock()
_fonts_registered = False


@dataclass(frozen=True)
class ChartSeries:
    """What the chart plots, one entry per week, oldest first. None: not shown for that week
    (below the reporting minimum)."""

    weeks: tuple[IsoWeek, ...]
    labels: tuple[str, ...]  # ISO labels, "2026-W46"
    n: tuple[int, ...]  # responses that week
    satisfied: tuple[float | None, ...]  # share 0–1
    satisfied_low: tuple[float | None, ...]
    satisfied_high: tuple[float | None, ...]
    effort: tuple[float | None, ...]  # mean 1–7
    effort_low: tuple[float | None, ...]
    effort_high: tuple[float | None, ...]
    effort_n: tuple[int | None, ...]  # effort answers, when shown

    def latest_shown(self) -> int | None:
        """Index of the most recent week whose % satisfied is shown."""
        for index in range(len(self.weeks) - 1, -1, -1):
            if self.satisfied[index] is not None:
                return index
        return None


def chart_series(points: Sequence[TrendPoint]) -> ChartSeries:
    return ChartSeries(
        weeks=tuple(p.week for p in points),
        labels=tuple(p.week.label for p in points),
        n=tuple(p.n for p in points),
        satisfied=tuple(p.satisfied.share if p.satisfied else None for p in points),
        satisfied_low=tuple(p.satisfied.low if p.satisfied else None for p in points),
        satisfied_high=tuple(p.satisfied.high if p.satisfied else None for p in points),
        effort=tuple(p.effort.mean if p.effort else None for p in points),
        effort_low=tuple(p.effort.low if p.effort else None for p in points),
        effort_high=tuple(p.effort.high if p.effort else None for p in points),
        effort_n=tuple(p.effort.n if p.effort else None for p in points),
    )


def trend_chart(points: Sequence[TrendPoint], t: Translator, title: str) -> Image:
    """The chart as a palette PNG (about 800 × 480 px, well under 40 KB) with its alt text.
    CPU-bound: an asyncio caller runs it with asyncio.to_thread."""
    series = chart_series(points)
    with _drawing:
        png = _render(series, t, title)
    last = series.labels[-1] if series.labels else "empty"
    return Image(
        png=png,
        alt=alt_text(series, t, title),
        filename=f"trend-{last}.png",
        unavailable=t._("The chart is too large to show here."),
    )


def alt_text(series: ChartSeries, t: Translator, title: str) -> str:
    """One sentence for screen readers and notifications, with the latest shown values."""
    if not series.weeks:
        return t._("{title}: no weeks to show yet.", title=title)
    first, last = series.labels[0], series.labels[-1]
    index = series.latest_shown()
    if index is None:
        return t._(
            "{title}, {first} to {last}: no week had enough responses to show numbers.",
            title=title,
            first=first,
            last=last,
        )
    share, n, effort = series.satisfied[index], series.n[index], series.effort[index]
    assert share is not None
    if effort is None:
        return t._(
            "{title}, {first} to {last}: in {week}, the latest week with enough responses, "
            "{share} were satisfied (n = {n}).",
            title=title,
            first=first,
            last=last,
            week=series.labels[index],
            share=t.percent(share),
            n=t.number(n),
        )
    return t._(
        "{title}, {first} to {last}: in {week}, the latest week with enough responses, "
        "{share} were satisfied (n = {n}) and the mean effort was {effort} of 7.",
        title=title,
        first=first,
        last=last,
        week=series.labels[index],
        share=t.percent(share),
        n=t.number(n),
        effort=t.decimal(effort),
    )


def font_families(locale: str, text: str = "") -> list[str]:
    """Font families in order of preference, later ones filling in missing glyphs: for Chinese
    the CJK font first; for other languages the Latin font, with the CJK font behind it when
    the text needs it (a department may carry a Chinese name)."""
    cjk = cjk_family()
    if cjk is None:
        return [LATIN_FAMILY]
    if locale.startswith("zh"):
        return [cjk, LATIN_FAMILY]
    return [LATIN_FAMILY, cjk] if _has_cjk(text) else [LATIN_FAMILY]


def cjk_family() -> str | None:
    """The CJK font this machine has (packaged or system), or None: Chinese would be boxes."""
    _register_packaged_fonts()
    available = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in available), None)


def _has_cjk(text: str) -> bool:
    return any(ord(character) >= 0x2E80 for character in text)


def _weight(families: list[str]) -> str:
    """Bold where every font in the list has a bold face: the packaged Noto Sans SC has only
    Regular, and asking it for bold would log a warning."""
    return "bold" if all(_has_bold(family) for family in families) else "normal"


def _has_bold(family: str) -> bool:
    weights = [entry.weight for entry in font_manager.fontManager.ttflist if entry.name == family]
    return any(
        (weight if isinstance(weight, int) else font_manager.weight_dict.get(weight, 400)) >= 600
        for weight in weights
    )


def _register_packaged_fonts() -> None:
    """Adds the pip-installed Noto Sans SC to matplotlib's font list, once per process."""
    global _fonts_registered
    with _fonts:
        if not _fonts_registered:
            _fonts_registered = True
            _add_packaged_font()


def _add_packaged_font() -> None:
    try:
        import pylopdf_fonts_zh_cn  # optional: a system font may serve instead
    except ImportError:
        log.info("pylopdf-fonts-zh-cn is not installed; looking for a system CJK font")
        return
    path = str(pylopdf_fonts_zh_cn.sans_path())
    if not any(entry.fname == path for entry in font_manager.fontManager.ttflist):
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError) as error:  # a damaged install: fall back, still draw
            log.warning("cannot load the CJK font %s: %s", path, error)


SCALE = 2  # drawn at twice the size, then halved: smooth lines, dots and text
PX = DPI / 72  # pixels per point
SATISFIED_RANGE = (-0.04, 1.06)
EFFORT_RANGE = (0.7, 7.3)


@dataclass(frozen=True)
class _Panel:
    """One plot area, in pixels of the final image, and the values its height spans."""

    left: float
    top: float
    right: float
    bottom: float
    low: float
    high: float

    def y(self, value: float) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)


SATISFIED_PANEL = _Panel(66, 70, 760, 238, *SATISFIED_RANGE)
EFFORT_PANEL = _Panel(66, 284, 760, 412, *EFFORT_RANGE)


@lru_cache(maxsize=32)
def _font_file(family: str, weight: str) -> str | None:
    try:
        properties = font_manager.FontProperties(family=family, weight=weight)
        return str(font_manager.findfont(properties, fallback_to_default=False))
    except ValueError:
        return None


@lru_cache(maxsize=64)
def _pil_font(path: str, pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, pixels)


@lru_cache(maxsize=16)
def _glyphs(path: str) -> FT2Font:
    return FT2Font(path)


_glyph_lock = threading.Lock()  # an FT2Font is not to be used by two threads at once


def _has_glyph(path: str, character: str) -> bool:
    with _glyph_lock:
        return _glyphs(path).get_char_index(ord(character)) != 0


class _Canvas:
    """A white image at SCALE times the chart's size, drawn on in the chart's own pixels."""

    def __init__(self) -> None:
        width, height = round(WIDTH * DPI), round(HEIGHT * DPI)
        self.image = PILImage.new("RGB", (width * SCALE, height * SCALE), "white")
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    def _at(x: float, y: float) -> tuple[float, float]:
        return x * SCALE, y * SCALE

    def line(self, points: list[tuple[float, float]], color: str, points_wide: float) -> None:
        width = max(1, round(points_wide * PX * SCALE))
        self.draw.line([self._at(x, y) for x, y in points], fill=color, width=width, joint="curve")

    def box(self, left: float, top: float, right: float, bottom: float, color: str) -> None:
        self.draw.rectangle([*self._at(left, top), *self._at(right, bottom)], fill=color)

    def marker(self, x: float, y: float, shape: str, color: str) -> None:
        """Matplotlib's 'o' and 's' at markersize 7 with a white edge of 1 point."""
        half = (7 if shape == "o" else 6.2) * PX / 2
        edge = PX
        outer = [*self._at(x - half - edge / 2, y - half - edge / 2)]
        outer += [*self._at(x + half + edge / 2, y + half + edge / 2)]
        inner = [*self._at(x - half + edge / 2, y - half + edge / 2)]
        inner += [*self._at(x + half - edge / 2, y + half - edge / 2)]
        if shape == "o":
            self.draw.ellipse(outer, fill="white")
            self.draw.ellipse(inner, fill=color)
        else:
            self.draw.rectangle(outer, fill="white")
            self.draw.rectangle(inner, fill=color)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        points: float,
        color: str,
        families: list[str],
        weight: str = "normal",
        align: str = "left",  # left, center, right
        anchor: str = "baseline",  # top, middle, baseline, bottom
    ) -> None:
        """Text in the first of the families that has each character (as matplotlib falls
        back); a character none has is drawn as a box, with a warning like matplotlib's."""
        files = [f for f in (_font_file(family, weight) for family in families) if f]
        if not files:
            return
        pixels = round(points * PX * SCALE)
        runs: list[tuple[str, str]] = []
        missing = []
        for character in text:
            found = next((f for f in files if _has_glyph(f, character)), None)
            if found is None:
                found = runs[-1][0] if runs else files[0]
                if not character.isspace():
                    missing.append(character)
            if runs and runs[-1][0] == found:
                runs[-1] = (found, runs[-1][1] + character)
            else:
                runs.append((found, character))
        for character in dict.fromkeys(missing):
            warnings.warn(
                f"Glyph {ord(character)} ({character!r}) missing from font(s) "
                f"{', '.join(families)}.",
                stacklevel=2,
            )
        ascent, descent = _pil_font(files[0], pixels).getmetrics()
        width = sum(_pil_font(f, pixels).getlength(run) for f, run in runs)
        left = x * SCALE - {"left": 0.0, "center": width / 2, "right": width}[align]
        baseline = (
            y * SCALE
            + {
                "top": ascent,
                "middle": (ascent - descent) / 2,
                "baseline": 0,
                "bottom": -descent,
            }[anchor]
        )
        for path, run in runs:
            font = _pil_font(path, pixels)
            self.draw.text((left, baseline), run, fill=color, font=font, anchor="ls")
            left += font.getlength(run)

    def png(self) -> bytes:
        return _png(self.image.reduce(SCALE))


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """Consecutive weeks with a value: a line through a hidden week breaks, a gap is a gap."""
    runs: list[list[int]] = []
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


class _Weeks:
    """Where each week's column sits across the plot (matplotlib's x limits, kept)."""

    def __init__(self, count: int, room_for_a_label: bool) -> None:
        self.low = -0.6
        self.high = max(count, 1) - 0.4 + (0.5 if room_for_a_label else 0.0)

    def x(self, panel: _Panel, index: float) -> float:
        share = (index - self.low) / (self.high - self.low)
        return panel.left + share * (panel.right - panel.left)


def _frame(
    canvas: _Canvas,
    panel: _Panel,
    weeks: _Weeks,
    hidden: list[int],
    ticks: list[tuple[float, str]],
    families: list[str],
) -> None:
    """Grey columns for hidden weeks, grid, axes and the value scale."""
    for i in hidden:
        canvas.box(
            weeks.x(panel, i - 0.38), panel.top, weeks.x(panel, i + 0.38), panel.bottom, HIDDEN_FILL
        )
    for value, _ in ticks:
        y = panel.y(value)
        canvas.line([(panel.left, y), (panel.right, y)], GRID_COLOR, 0.8)
    canvas.line([(panel.left, panel.top), (panel.left, panel.bottom)], HIDDEN_COLOR, 0.8)
    canvas.line([(panel.left, panel.bottom), (panel.right, panel.bottom)], HIDDEN_COLOR, 0.8)
    tick = 3.5 * PX
    for value, label in ticks:
        y = panel.y(value)
        canvas.line([(panel.left - tick, y), (panel.left, y)], HIDDEN_COLOR, 0.8)
        canvas.text(
            panel.left - 2 * tick,
            y,
            label,
            TICK_SIZE,
            TEXT_COLOR,
            families,
            align="right",
            anchor="middle",
        )


def _series(
    canvas: _Canvas,
    panel: _Panel,
    weeks: _Weeks,
    shown: list[int],
    centre: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    color: str,
    marker: str,
) -> None:
    """The line through the shown weeks, and each week's point with its interval, the interval
    drawn within the scale (a t interval of a mean on 1–7 may reach past 7 on few answers)."""
    for run in _runs(centre):
        if len(run) > 1:
            points = [(weeks.x(panel, i), panel.y(centre[i] or 0.0)) for i in run]
            canvas.line(points, color, 2)
    cap = 4 * PX
    for i in shown:
        x = weeks.x(panel, i)
        bottom = panel.y(max(panel.low if marker == "o" else 1.0, low[i] or 0.0))
        top = panel.y(min(1.0 if marker == "o" else 7.0, high[i] or 0.0))
        bottom, top = max(bottom, panel.y(centre[i] or 0.0)), min(top, panel.y(centre[i] or 0.0))
        canvas.line([(x, bottom), (x, top)], color, 1.6)
        for y in (bottom, top):
            canvas.line([(x - cap, y), (x + cap, y)], color, 1.6)
        canvas.marker(x, panel.y(centre[i] or 0.0), marker, color)


def _render(series: ChartSeries, t: Translator, title: str) -> bytes:
    families = font_families(t.locale)
    title_families = font_families(t.locale, title)
    bold = _weight(families)
    canvas = _Canvas()
    count = len(series.weeks)
    positions = list(range(count))
    shown = [i for i in positions if series.satisfied[i] is not None]
    effort_shown = [i for i in positions if series.effort[i] is not None]
    weeks = _Weeks(count, bool(shown or effort_shown))
    canvas.text(
        WIDTH * DPI * 0.012,
        10,
        title,
        TITLE_SIZE,
        TEXT_COLOR,
        title_families,
        _weight(title_families),
        anchor="top",
    )

    # % satisfied, 0–100 %, with its Wilson interval.
    panel = SATISFIED_PANEL
    ticks = [(tick, t.percent(tick)) for tick in (0.0, 0.25, 0.5, 0.75, 1.0)]
    _frame(canvas, panel, weeks, [i for i in positions if i not in shown], ticks, families)
    heading = panel.top - 6 * PX
    canvas.text(
        panel.left,
        heading,
        t._("% satisfied"),
        LABEL_SIZE,
        TEXT_COLOR,
        families,
        bold,
        anchor="bottom",
    )
    canvas.text(
        panel.right,
        heading,
        t._("bars: 95% interval · grey: too few responses to show"),
        TICK_SIZE,
        "#555555",
        families,
        align="right",
        anchor="bottom",
    )
    _series(
        canvas,
        panel,
        weeks,
        shown,
        series.satisfied,
        series.satisfied_low,
        series.satisfied_high,
        SATISFIED_COLOR,
        "o",
    )
    if shown:
        last = shown[-1]
        share = series.satisfied[last] or 0.0
        canvas.text(
            weeks.x(panel, last) + 9 * PX,
            panel.y(share),
            t.percent(share),
            LABEL_SIZE,
            SATISFIED_COLOR,
            families,
            bold,
            anchor="middle",
        )
    if not count:
        canvas.text(
            (panel.left + panel.right) / 2,
            (panel.top + panel.bottom) / 2,
            t._("No weeks to show yet."),
            LABEL_SIZE,
            HIDDEN_COLOR,
            families,
            align="center",
            anchor="middle",
        )

    # Mean effort, 1–7, with its t interval; its n is told only where it differs.
    panel = EFFORT_PANEL
    ticks = [(float(tick), t.number(tick)) for tick in range(1, 8)]
    _frame(canvas, panel, weeks, [i for i in positions if i not in effort_shown], ticks, families)
    canvas.text(
        panel.left,
        panel.top - 6 * PX,
        t._("Mean effort (1–7)"),
        LABEL_SIZE,
        TEXT_COLOR,
        families,
        bold,
        anchor="bottom",
    )
    _series(
        canvas,
        panel,
        weeks,
        effort_shown,
        series.effort,
        series.effort_low,
        series.effort_high,
        EFFORT_COLOR,
        "s",
    )
    for i in effort_shown:
        effort_n = series.effort_n[i]
        if effort_n is not None and effort_n != series.n[i]:
            top = min(7.0, series.effort_high[i] or 7.0)
            above = top < 6.2  # room above the upper cap, else below the lower one
            value = top if above else max(1.0, series.effort_low[i] or 1.0)
            y = panel.y(value) + (-4 if above else 4) * PX
            canvas.text(
                weeks.x(panel, i),
                y,
                t._("n={n}", n=t.number(effort_n)),
                TICK_SIZE,
                EFFORT_COLOR,
                families,
                align="center",
                anchor="bottom" if above else "top",
            )
    if effort_shown:
        last = effort_shown[-1]
        mean = series.effort[last] or 0.0
        canvas.text(
            weeks.x(panel, last) + 9 * PX,
            panel.y(mean),
            t.decimal(mean),
            LABEL_SIZE,
            EFFORT_COLOR,
            families,
            bold,
            anchor="middle",
        )

    # Shared weeks: the week and its n under every column; hidden weeks in grey.
    tick = 3.5 * PX
    line_height = TICK_SIZE * PX * 1.2
    for i, (week, n) in enumerate(zip(series.weeks, series.n, strict=True)):
        x = weeks.x(panel, i)
        color = TEXT_COLOR if i in shown else HIDDEN_COLOR
        canvas.line([(x, panel.bottom), (x, panel.bottom + tick)], HIDDEN_COLOR, 0.8)
        label_top = panel.bottom + 2 * tick
        canvas.text(
            x,
            label_top,
            t._("W{week}", week=t.number(week.week)),
            TICK_SIZE,
            color,
            families,
            align="center",
            anchor="top",
        )
        canvas.text(
            x,
            label_top + line_height,
            t._("n={n}", n=t.number(n)),
            TICK_SIZE,
            color,
            families,
            align="center",
            anchor="top",
        )
    return canvas.png()


def _png(image: PILImage.Image) -> bytes:
    """The chart as a palette PNG: no metadata (so the bytes depend only on the data)."""
    png = b""
    for colors in COLORS:
        palette = image.quantize(
            colors=colors, method=PILImage.Quantize.FASTOCTREE, dither=PILImage.Dither.NONE
        )
        buffer = io.BytesIO()
        palette.save(buffer, format="PNG", compress_level=9)
        png = buffer.getvalue()
        if len(png) <= MAX_BYTES:
            break
    return png
