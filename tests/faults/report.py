"""One paragraph per fault test: what was injected, the load held, what was lost. Printed (see
it with `pytest -s`), so a manual run with ICX_FAULT_SCALE documents itself."""

from collections import Counter

from tests.faults.traffic import Result


def statuses(results: list[Result]) -> str:
    counts = Counter(f"no answer ({r.error})" if r.status == 0 else str(r.status) for r in results)
    return ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))


def report(test: str, injected: str, load: str, lost: str) -> None:
    print(f"\n[{test}]\n  injected: {injected}\n  load:     {load}\n  lost:     {lost}")
