"""Fault tests: a real `icx serve` (a process of its own) under load while something breaks on
purpose (kill -9, SIGTERM, Slack failing, PostgreSQL restarting, two replicas), then a check of
what was lost. Sizes are small enough for CI; ICX_FAULT_SCALE=5 (or more) makes them longer."""
