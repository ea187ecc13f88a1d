"""A browser's push subscription, as the Push API hands it over: its endpoint and keys."""

from __future__ import annotations

import base64
import json

from tocsin.errors import InvalidInput


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None


def check_keys(secret: str) -> dict[str, str]:
    """Return a subscription's keys (`{"p256dh": ..., "auth": ...}` as JSON), or raise
    InvalidInput: p256dh is the browser's P-256 public key (65 bytes, uncompressed) and auth
    its 16-byte secret, both base64url."""
    try:
        keys = json.loads(secret)
    except ValueError:
        keys = None
    p256dh = _b64(keys.get("p256dh")) if isinstance(keys, dict) else None
    auth = _b64(keys.get("auth")) if isinstance(keys, dict) else None
    if p256dh is None or len(p256dh) != 65 or p256dh[0] != 4 or auth is None or len(auth) != 16:
        raise InvalidInput(
            "a webpush subscription needs its keys: p256dh (a P-256 public key) and auth"
            " (16 bytes), base64url"
        )
    assert isinstance(keys, dict)
    return {"p256dh": str(keys["p256dh"]), "auth": str(keys["auth"])}
