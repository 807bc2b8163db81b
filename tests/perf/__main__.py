"""Runs every benchmark scenario in sequence and sums up the targets met and missed.

    python -m tests.perf [--smoke] [--database sqlite|postgresql|both] [--only NAME ...]

Each scenario prints one table per measurement (tests/perf/report.py): icx's figures, the
baseline's from the same run, the ratio, the target, and the machine, database, data size and
versions. The exit status is non-zero when a correctness check failed (a request acknowledged
but not committed, a prompt lost or sent twice, errors) or a scenario could not run; a missed
performance target is reported in the summary (the scores scenario counts its own as failures).
Options a scenario has beyond these (e.g. fanout's --cap) pass through to it with one --only.
"""

import argparse
import importlib
import sys
import time
import traceback
from dataclasses import dataclass, field

from tests.perf import report

# In this order: the HTTP scenarios first, then the database-heavy ones.
SCENARIOS = ("slack_taps", "intake", "fanout", "teams_invoke", "scores", "digests")


@dataclass
class Outcome:
    name: str
    status: str  # "ok", "FAILED", "ERROR", "not available"
    seconds: float = 0.0
    tables: list[report.Table] = field(default_factory=list)


def run(name: str, argv: list[str]) -> Outcome:
    try:
        module = importlib.import_module(f"tests.perf.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"tests.perf.{name}":
            raise
        print(f"# {name}: not available (no tests/perf/{name}.py)", flush=True)
        return Outcome(name, "not available")
    print(f"# {name}: python -m tests.perf --only {name} {' '.join(argv)}".rstrip(), flush=True)
    began, first = time.monotonic(), len(report.EMITTED)
    try:
        status = "ok" if module.main(argv) == 0 else "FAILED"
    except Exception:
        traceback.print_exc()
        status = "ERROR"
    return Outcome(name, status, time.monotonic() - began, report.EMITTED[first:])


def summary(outcomes: list[Outcome]) -> str:
    lines = ["## Summary"]
    for outcome in outcomes:
        lines.append(f"  {outcome.name}: {outcome.status} ({outcome.seconds:.0f} s)")
        for table in outcome.tables:
            database = table.context.get("database", "").split(" (")[0]
            for row in table.rows:
                if row.met is not None:
                    verdict = "met" if row.met else "MISSED"
                    lines.append(
                        f"    {verdict:<6} {row.label} {row.target} "
                        f"[{database}] {table.title.split(':')[0]}"
                    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: does it all work")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), default="both", help="default both"
    )
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, metavar="NAME", help=", ".join(SCENARIOS)
    )
    args, extra = parser.parse_known_args(argv)
    chosen = args.only or list(SCENARIOS)
    if extra and len(chosen) != 1:
        parser.error(f"options {extra} pass through to one scenario: give exactly one --only")
    common = ["--database", args.database, *(["--smoke"] if args.smoke else []), *extra]
    began = time.monotonic()
    outcomes = [run(name, common) for name in chosen]
    print(summary(outcomes))
    print(f"  total: {time.monotonic() - began:.0f} s", flush=True)
    return 0 if all(o.status in ("ok", "not available") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
