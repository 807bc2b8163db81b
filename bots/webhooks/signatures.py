"""HMAC-SHA256 checks the helpdesks' webhooks are signed with; every comparison takes constant
time, so the response time tells an attacker nothing about how close a guess was."""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

# Zendesk's window, and ours for ServiceNow: a captured request is useless after this long.
WINDOW = timedelta(seconds=300)


def digest(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def matches_hex(given: str, secret: str, message: bytes) -> bool:
    expected = digest(secret, message).hex()
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def matches_base64(given: str, secret: str, message: bytes) -> bool:
    expected = base64.b64encode(digest(secret, message))
    return hmac.compare_digest(given.strip().encode(), expected)


def within_window(sent_at: datetime, now: datetime) -> bool:
    return abs(now - sent_at) <= WINDOW
