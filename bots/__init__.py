"""Entry points and platform adapters: HTTP server, Slack, command line."""
