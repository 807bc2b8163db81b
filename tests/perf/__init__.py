"""Benchmarks, run by hand (`python -m tests.perf.<name>`); pytest collects nothing here."""
