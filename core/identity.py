"""Keyed hashes of people: the same person always maps to the same key, which reveals nothing
without the server secret (HMAC-SHA256, GUIDE §6)."""

import hashlib
import hmac


class Keyer:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("ICX_SECRET_KEY must be at least 16 characters")
        self._secret = secret.encode()

    def key(self, platform: str, user_id: str) -> str:
        message = f"{platform}:{user_id}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
