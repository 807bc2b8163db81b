"""Slack's request signature (GUIDE §7), as plain hmac: the server checks it, and the demo,
playing Slack's part, makes it."""

import hashlib
import hmac
import time

MAX_SKEW_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """v0= + HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body),
    }


def signed_by_slack(raw: bytes, timestamp: str, claimed: str, secret: str) -> bool:
    """The signature matches the raw bytes, and the timestamp is within five minutes."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, raw).encode(), claimed.encode())
