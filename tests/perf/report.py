"""How every benchmark scenario prints its results: one table per scenario, icx's figures beside
the baseline's measured in the same run, with the ratio, the target and the context that makes the
figures comparable (machine, database, data size, versions)."""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

Figure = float | int | str | None


@dataclass(frozen=True)
class Row:
    label: str
    icx: Figure
    baseline: Figure = None
    # e.g. "p99 <= 25 ms"; `met` says whether icx's figure meets it (None: no target).
    target: str = ""
    met: bool | None = None
    digits: int = 1


@dataclass
class Table:
    title: str
    context: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline_name: str = "baseline"

    def add(self, label: str, icx: Figure, baseline: Figure = None, **extra: object) -> None:
        self.rows.append(Row(label, icx, baseline, **extra))  # type: ignore[arg-type]

    @property
    def failed_targets(self) -> list[Row]:
        return [row for row in self.rows if row.met is False]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def _text(value: Figure, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if not math.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(a: Figure, b: Figure) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        quotient = a / b
        return f"{quotient:.2f}x" if math.isfinite(quotient) else "-"
    return ""


def render(table: Table) -> str:
    cells = [
        (
            row.label,
            _text(row.icx, row.digits),
            _text(row.baseline, row.digits),
            _ratio(row.icx, row.baseline),
            row.target + ("" if row.met is None else (" ok" if row.met else " MISSED")),
        )
        for row in table.rows
    ]
    header = ("", "icx", table.baseline_name, "ratio", "target")
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(5)]

    def line(c: tuple[str, ...]) -> str:
        return (
            f"  {c[0]:<{widths[0]}}  {c[1]:>{widths[1]}}  {c[2]:>{widths[2]}}  "
            f"{c[3]:>{widths[3]}}  {c[4]}"
        ).rstrip()

    out = [f"## {table.title}"]
    out += [f"  {key}: {value}" for key, value in table.context.items()]
    out += [line(header), line(tuple("-" * w for w in widths))]
    out += [line(c) for c in cells]
    out += [f"  ! {note}" for note in table.notes]
    return "\n".join(out)


# Every table emitted in this process, for the runner's summary of targets (tests/perf/__main__).
EMITTED: list[Table] = []


def emit(table: Table) -> None:
    EMITTED.append(table)
    print(render(table), flush=True)
    print(flush=True)


def versions(*names: str) -> str:
    wanted = names or ("sqlalchemy", "aiohttp", "asyncpg", "aiosqlite")
    found = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in wanted)
    return f"Python {platform.python_version()}, {found}"


def machine() -> str:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = next(
        int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")
    )
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.partition(":")[2].strip() for line in cpuinfo if line.startswith("model name")),
        platform.machine(),
    )
    memory = f"{total_kb / 1024 / 1024:.1f} GiB RAM"
    return f"{os.cpu_count()} CPUs ({model}), {memory}, {platform.system()} {platform.release()}"


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a live process: its peak resident set since it started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan
