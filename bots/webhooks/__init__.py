"""Helpdesk webhooks: Jira, ServiceNow and Zendesk tell icx that a ticket was resolved.

One module per tool reads its payload and checks its signature; `handler` does the rest, the
same way for all of them (README: Helpdesk webhooks)."""

from bots.webhooks.handler import webhook_handler

__all__ = ["webhook_handler"]
