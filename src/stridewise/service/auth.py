"""API keys: one per clinic, stored only as a hash, sent as ``Authorization: Bearer <key>``.

A key is 32 random bytes (``sw_`` + URL-safe base64), so a plain SHA-256 of it is enough to
store (no password stretching is needed for a secret nobody chose: guessing one is as hard as
guessing the key itself). The store keeps the hash and the clinic's profile; the key is shown
once, when the clinic is added, and never again.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sw_"


def new_key() -> str:
    """A fresh API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """What the store keeps for ``key`` (hex SHA-256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_from_headers(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    if api_key and api_key.strip():
        return api_key.strip()
    return None
