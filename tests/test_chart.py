"""The digest's trend chart: a valid, small, deterministic PNG at chat size whose plotted data
are the digest's numbers, with hidden weeks as gaps, Chinese without missing glyphs, and alt
text that tells the latest value."""

import io
import struct
import threading
import warnings

import pytest
from PIL import Image as PILImage

from core import chart
from core.chart import MAX_BYTES, ChartSeries, chart_series, trend_chart
from core.digest import TrendPoint
from core.i18n import translator
from core.posts import Image
from core.stats import Mean, mean_interval, wilson
from core.weeks import IsoWeek

MINIMUM = 5
LAST = IsoWeek(2026, 46)
TITLES = {"en": "Finance — weekly trend", "zh_Hans": "财务部 — 每周趋势"}

# (responses, satisfied, effort answers): weeks 2, 4, 7 and 11 are below the minimum (4 has no
# responses at all); in week 9 only 4 of 12 answered the effort question.
WEEKS = [
    (14, 10, [5, 6, 4, 7, 5, 6, 3, 6, 5, 5, 6, 7, 4, 5]),
    (3, 2, [6, 5, 2]),
    (18, 14, [6, 6, 5, 7, 4, 6, 5, 6, 7, 3, 6, 5, 6, 6, 5, 7, 6, 4]),
    (0, 0, []),
    (22, 15, [5, 4, 6, 6, 3, 5, 7, 5, 4, 6, 5, 5, 6, 4, 5, 6, 7, 2, 5, 6, 5, 4]),
    (9, 6, [4, 5, 6, 3, 5, 6, 4, 5, 5]),
    (4, 3, [6, 6, 5, 7]),
    (25, 21, [6, 7, 6, 5, 6, 7, 6, 5, 6, 6, 7, 5, 6, 4, 6, 7, 6, 6, 5, 6, 7, 6, 5, 6, 6]),
    (12, 9, [5, 6, 4, 6]),
    (16, 13, [6, 5, 6, 7, 5, 6, 6, 4, 6, 5, 7, 6, 5, 6, 6, 5]),
    (2, 2, [7, 6]),
    (20, 17, [6, 6, 7, 5, 6, 6, 5, 7, 6, 6, 4, 6, 7, 6, 5, 6, 6, 7, 6, 5]),
]


def _effort(answers: list[int]) -> Mean | None:
    if len(answers) < MINIMUM:
        return None
    return mean_interval(len(answers), sum(answers), sum(a * a for a in answers))


def _points() -> list[TrendPoint]:
    """What core.digest._trend_point makes of each week, for the 12 weeks up to 2026-W46."""
    return [
        TrendPoint(
            LAST.shifted(k - (len(WEEKS) - 1)),
            n,
            wilson(hits, n) if n >= MINIMUM else None,
            _effort(efforts),
        )
        for k, (n, hits, efforts) in enumerate(WEEKS)
    ]


POINTS = _points()


def _render(locale: str, points: list[TrendPoint] = POINTS) -> tuple[Image, list[str]]:
    """The chart, and the glyphs matplotlib reported missing while drawing it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = trend_chart(points, translator(locale), TITLES[locale])
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    return image, missing


@pytest.fixture(scope="module")
def charts() -> dict[str, tuple[Image, list[str]]]:
    return {locale: _render(locale) for locale in TITLES}


def _ihdr(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize("locale", TITLES)
def test_the_chart_is_a_valid_png_at_chat_size(
    charts: dict[str, tuple[Image, list[str]]], locale: str
) -> None:
    image, _ = charts[locale]
    width, height = _ihdr(image.png)
    assert 700 <= width <= 900 and 400 <= height <= 560
    with PILImage.open(io.BytesIO(image.png)) as decoded:
        decoded.verify()
    with PILImage.open(io.BytesIO(image.png)) as decoded:
        decoded.load()
        assert decoded.size == (width, height)
        assert decoded.mode == "P"  # a palette PNG: small enough for a data URI
        assert not set(decoded.info) & {"Software", "Creation Time", "date:create"}
    assert len(image.png) < MAX_BYTES
    assert image.filename == "trend-2026-W46.png"


def test_the_same_input_gives_the_same_bytes_even_from_threads_at_once(
    charts: dict[str, tuple[Image, list[str]]],
) -> None:
    """Deterministic (no timestamp in the PNG) and safe under asyncio.to_thread."""
    results: list[bytes] = []

    def draw() -> None:
        results.append(trend_chart(POINTS, translator("zh_Hans"), TITLES["zh_Hans"]).png)

    threads = [threading.Thread(target=draw) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [charts["zh_Hans"][0].png] * 2
    assert charts["en"][0].png != charts["zh_Hans"][0].png


def test_chinese_renders_with_a_cjk_font(charts: dict[str, tuple[Image, list[str]]]) -> None:
    assert chart.cjk_family() is not None, (
        "no CJK font: install the package dependency pylopdf-fonts-zh-cn "
        "(or Debian's fonts-noto-cjk / fonts-wqy-microhei)"
    )
    assert chart.font_families("zh_Hans")[0] == chart.cjk_family()
    _, missing = charts["zh_Hans"]
    assert missing == []  # no tofu boxes
    assert charts["en"][1] == []


def test_without_a_cjk_font_the_chart_still_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart, "CJK_FAMILIES", ())
    assert chart.font_families("zh_Hans") == [chart.LATIN_FAMILY]
    image, missing = _render("zh_Hans")
    assert _ihdr(image.png)[0] >= 700
    assert missing  # the Chinese title falls back to boxes, and matplotlib says so


def test_the_plotted_data_are_the_digest_numbers() -> None:
    series = chart_series(POINTS)
    assert isinstance(series, ChartSeries)
    assert series.labels == tuple(f"2026-W{w}" for w in range(35, 47))
    assert series.weeks == tuple(p.week for p in POINTS)
    assert series.n == (14, 3, 18, 0, 22, 9, 4, 25, 12, 16, 2, 20)
    hidden = {1, 3, 6, 10}
    for i, point in enumerate(POINTS):
        if i in hidden:
            assert point.satisfied is None
            assert series.satisfied[i] is None
            assert series.satisfied_low[i] is None and series.satisfied_high[i] is None
            assert series.effort[i] is None and series.effort_n[i] is None
            continue
        n, hits, _ = WEEKS[i]
        expected = wilson(hits, n)
        assert series.satisfied[i] == pytest.approx(hits / n)
        assert series.satisfied_low[i] == pytest.approx(expected.low)
        assert series.satisfied_high[i] == pytest.approx(expected.high)
    # Week 9 shows % satisfied, but too few answered the effort question to show a mean.
    assert series.satisfied[8] == pytest.approx(9 / 12) and series.effort[8] is None
    latest = POINTS[-1].effort
    assert latest is not None
    efforts = WEEKS[-1][2]
    assert series.effort[-1] == pytest.approx(sum(efforts) / len(efforts))
    assert (series.effort_low[-1], series.effort_high[-1]) == (latest.low, latest.high)
    assert series.effort_n[-1] == 20
    assert series.latest_shown() == 11


def test_hidden_weeks_are_never_drawn_as_values() -> None:
    hidden = [TrendPoint(p.week, min(p.n, MINIMUM - 1), None, None) for p in POINTS]
    image, _ = _render("en", hidden)
    with PILImage.open(io.BytesIO(image.png)) as decoded:
        colors = {rgb for _, rgb in decoded.convert("RGB").getcolors(1 << 16) or []}
    for line in (chart.SATISFIED_COLOR, chart.EFFORT_COLOR):
        target = tuple(int(line[k : k + 2], 16) for k in (1, 3, 5))
        assert not any(sum(abs(a - b) for a, b in zip(c, target, strict=True)) < 60 for c in colors)
    assert "no week had enough responses" in image.alt


def test_the_alt_text_tells_the_latest_value(charts: dict[str, tuple[Image, list[str]]]) -> None:
    en = translator("en")
    alt = charts["en"][0].alt
    assert alt.startswith(TITLES["en"])
    assert en.percent(17 / 20) in alt and "85%" in alt
    assert "n = 20" in alt and "2026-W46" in alt
    assert en.decimal(sum(WEEKS[-1][2]) / 20) in alt
    assert alt.endswith(".") and ". " not in alt  # one sentence
    zh = charts["zh_Hans"][0].alt
    assert TITLES["zh_Hans"] in zh and translator("zh_Hans").percent(17 / 20) in zh


def test_the_alt_text_skips_a_latest_week_below_the_minimum() -> None:
    points = [*POINTS[:-1], TrendPoint(LAST, 3, None, None)]
    alt = chart.alt_text(chart_series(points), translator("en"), "Finance")
    # Week 45 is hidden too: the latest shown is week 44, 13 of 16.
    assert "2026-W44" in alt and "81%" in alt and "n = 16" in alt
