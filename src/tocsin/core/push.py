"""A browser's push subscription, as the Push API hands it over: its endpoint and keys."""

from __future__ import annotations

import base64
import json
import re

from tocsin.errors import InvalidInput

_B64URL = re.compile(r"[A-Za-z0-9_-]{1,200}={0,2}")


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        return None
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except ValueError:
        return None


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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
    # Stored as the canonical text of the decoded bytes, whatever padding came in.
    return {"p256dh": _text(p256dh), "auth": _text(auth)}
