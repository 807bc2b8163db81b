"""Benchmarks, run by hand or in CI's smoke run (`python -m tests.perf`, see __main__.py and the
README's Performance section); pytest collects nothing here (no test_*.py files)."""
