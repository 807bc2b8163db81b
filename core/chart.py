"""The digest's trend chart: a department's % satisfied and mean effort per ISO week, each with
its 95 % interval and n, as a small PNG that Slack uploads and Teams embeds in a card.

Headless and safe to call from a worker thread (asyncio.to_thread): it draws on its own
`Figure` through the Agg canvas, never through pyplot's global state, and one lock serialises
the drawing because matplotlib does not promise thread safety. Weeks below the reporting
minimum are gaps that show only their n, never a value (GUIDE §4). Chinese text needs a CJK
font: the one the package `pylopdf-fonts-zh-cn` ships (Noto Sans SC), else a system one
(Debian's fonts-noto-cjk or fonts-wqy-microhei); without any, the chart still renders.
"""

import io
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PIL import Image as PILImage

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

_drawing = threading.Lock()
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


def _values(items: Sequence[float | None]) -> list[float]:
    """NaN for hidden weeks: a line through them breaks, so a gap is a gap."""
    return [math.nan if item is None else item for item in items]


def _interval_bars(
    axes: Axes,
    indices: list[int],
    centre: Sequence[float | None],
    low: Sequence[float | None],
    high: Sequence[float | None],
    scale: tuple[float, float],
    color: str,
    marker: str,
) -> None:
    """Points with their interval, drawn within the scale (a t interval of a mean on 1–7 may
    reach past 7 on few answers; the scale cannot)."""
    if not indices:
        return
    bottom, top = scale
    mids = [centre[i] or 0.0 for i in indices]
    below = [max(0.0, mids[k] - max(bottom, low[i] or 0.0)) for k, i in enumerate(indices)]
    above = [max(0.0, min(top, high[i] or 0.0) - mids[k]) for k, i in enumerate(indices)]
    axes.errorbar(
        indices,
        mids,
        yerr=[below, above],
        fmt=marker,
        color=color,
        ecolor=color,
        elinewidth=1.6,
        capsize=4,
        capthick=1.6,
        markersize=7,
        markeredgecolor="white",
        markeredgewidth=1,
        zorder=3,
    )


def _hide(axes: Axes, indices: list[int]) -> None:
    """A light grey column for each week that is not shown: a visible gap, never a value."""
    for i in indices:
        axes.axvspan(i - 0.38, i + 0.38, color=HIDDEN_FILL, zorder=0, linewidth=0)


def _style(axes: Axes, families: list[str]) -> None:
    axes.set_facecolor("white")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(HIDDEN_COLOR)
    axes.grid(axis="y", color=GRID_COLOR, linewidth=0.8, zorder=0)
    axes.set_axisbelow(True)
    axes.tick_params(
        labelsize=TICK_SIZE,
        labelcolor=TEXT_COLOR,
        color=HIDDEN_COLOR,
        labelfontfamily=families,
    )


def _heading(axes: Axes, text: str, families: list[str], bold: str, note: str = "") -> None:
    axes.set_title(
        text,
        loc="left",
        fontsize=LABEL_SIZE,
        fontweight=bold,
        color=TEXT_COLOR,
        family=families,
        pad=6,
    )
    if note:
        axes.set_title(note, loc="right", fontsize=TICK_SIZE, color="#555555", family=families)


def _latest_value(
    axes: Axes, index: int, value: float, text: str, color: str, families: list[str], bold: str
) -> None:
    axes.annotate(
        text,
        (index, value),
        xytext=(9, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=LABEL_SIZE,
        fontweight=bold,
        color=color,
        family=families,
        zorder=4,
    )


def _render(series: ChartSeries, t: Translator, title: str) -> bytes:
    families = font_families(t.locale)
    title_families = font_families(t.locale, title)
    bold = _weight(families)
    figure = Figure(
        figsize=(WIDTH, HEIGHT),
        dpi=DPI,
        facecolor="white",
        layout=ConstrainedLayoutEngine(h_pad=0.06, w_pad=0.08, hspace=0.08),
    )
    FigureCanvasAgg(figure)  # the figure draws through Agg: no GUI, no pyplot
    satisfied_axes, effort_axes = figure.subplots(2, 1, sharex=True)
    figure.suptitle(
        title,
        x=0.012,
        ha="left",
        fontsize=TITLE_SIZE,
        fontweight=_weight(title_families),
        color=TEXT_COLOR,
        family=title_families,
    )
    count = len(series.weeks)
    positions = list(range(count))
    shown = [i for i in positions if series.satisfied[i] is not None]
    effort_shown = [i for i in positions if series.effort[i] is not None]

    # % satisfied, 0–100 %, with its Wilson interval.
    _style(satisfied_axes, families)
    _heading(
        satisfied_axes,
        t._("% satisfied"),
        families,
        bold,
        t._("bars: 95% interval · grey: too few responses to show"),
    )
    _hide(satisfied_axes, [i for i in positions if i not in shown])
    satisfied_axes.plot(
        positions, _values(series.satisfied), color=SATISFIED_COLOR, linewidth=2, zorder=2
    )
    _interval_bars(
        satisfied_axes,
        shown,
        series.satisfied,
        series.satisfied_low,
        series.satisfied_high,
        (0.0, 1.0),
        SATISFIED_COLOR,
        "o",
    )
    satisfied_axes.set_ylim(-0.04, 1.06)
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    satisfied_axes.set_yticks(ticks, [t.percent(tick) for tick in ticks])
    if shown:
        last = shown[-1]
        share = series.satisfied[last] or 0.0
        _latest_value(
            satisfied_axes, last, share, t.percent(share), SATISFIED_COLOR, families, bold
        )

    # Mean effort, 1–7, with its t interval; its n is told only where it differs.
    _style(effort_axes, families)
    _heading(effort_axes, t._("Mean effort (1–7)"), families, bold)
    _hide(effort_axes, [i for i in positions if i not in effort_shown])
    effort_axes.plot(positions, _values(series.effort), color=EFFORT_COLOR, linewidth=2, zorder=2)
    _interval_bars(
        effort_axes,
        effort_shown,
        series.effort,
        series.effort_low,
        series.effort_high,
        (1.0, 7.0),
        EFFORT_COLOR,
        "s",
    )
    for i in effort_shown:
        effort_n = series.effort_n[i]
        if effort_n is not None and effort_n != series.n[i]:
            top = min(7.0, series.effort_high[i] or 7.0)
            above = top < 6.2  # room above the upper cap, else below the lower one
            effort_axes.annotate(
                t._("n={n}", n=t.number(effort_n)),
                (i, top if above else max(1.0, series.effort_low[i] or 1.0)),
                xytext=(0, 4 if above else -4),
                textcoords="offset points",
                ha="center",
                va="bottom" if above else "top",
                fontsize=TICK_SIZE,
                color=EFFORT_COLOR,
                family=families,
            )
    effort_axes.set_ylim(0.7, 7.3)
    effort_axes.set_yticks(range(1, 8), [t.number(tick) for tick in range(1, 8)])
    if effort_shown:
        last = effort_shown[-1]
        mean = series.effort[last] or 0.0
        _latest_value(effort_axes, last, mean, t.decimal(mean), EFFORT_COLOR, families, bold)

    # Shared x axis: the week and its n under every point; hidden weeks in grey.
    effort_axes.set_xlim(-0.6, max(count, 1) - 0.4 + (0.5 if shown or effort_shown else 0))
    effort_axes.set_xticks(
        positions,
        [
            t._("W{week}", week=t.number(week.week)) + "\n" + t._("n={n}", n=t.number(n))
            for week, n in zip(series.weeks, series.n, strict=True)
        ],
    )
    for i, label in enumerate(effort_axes.get_xticklabels()):
        if i not in shown:
            label.set_color(HIDDEN_COLOR)
    if not count:
        satisfied_axes.text(
            0.5,
            0.5,
            t._("No weeks to show yet."),
            transform=satisfied_axes.transAxes,
            ha="center",
            va="center",
            fontsize=LABEL_SIZE,
            color=HIDDEN_COLOR,
            family=families,
        )
    return _png(figure)


def _png(figure: Figure) -> bytes:
    """The figure as a palette PNG: no metadata (so the bytes depend only on the data)."""
    canvas = figure.canvas
    canvas.draw()
    width, height = canvas.get_width_height()
    rgba = PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    rgb = rgba.convert("RGB")
    png = b""
    for colors in COLORS:
        palette = rgb.quantize(
            colors=colors, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE
        )
        buffer = io.BytesIO()
        palette.save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
        if len(png) <= MAX_BYTES:
            break
    return png
