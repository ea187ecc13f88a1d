"""Signed one-click acknowledge links for pages sent by email and webhook.

A link names the incident, the user and an expiry, signed with HMAC-SHA256 under a secret of
this installation (kept in the database, so every node signs and checks alike; the
TOCSIN_SECRET_KEY setting replaces it). Opening the link shows a confirmation page and only the
POST from it acknowledges: mail scanners follow links, and a GET must not act.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput
from tocsin.store.models import InstanceSecret

LIFETIME = timedelta(hours=24)
_NAME = "ack-links"


def stored_key(session: Session) -> bytes | None:
    """Return this installation's signing key if it has been made, without writing."""
    found = session.scalar(select(InstanceSecret.value).where(InstanceSecret.name == _NAME))
    return None if found is None else str(found).encode()


def secret_key(session: Session, *, now: datetime, override: str | None = None) -> bytes:
    """Return the signing key, creating this installation's on first use."""
    if override:
        return override.encode()
    found = stored_key(session)
    if found is None:
        try:
            with session.begin_nested():
                session.add(InstanceSecret(name=_NAME, value=secrets.token_hex(32), created_at=now))
        except IntegrityError:  # another node made it first
            pass
        found = stored_key(session)
    assert found is not None
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(key: bytes, *, incident: int, user: str, now: datetime) -> str:
    """Return a link token acknowledging `incident` as `user`, valid for a day."""
    expires = int((now + LIFETIME).timestamp())
    body = f"{incident}.{user}.{expires}".encode()
    signature = hmac.new(key, body, hashlib.sha256).digest()[:18]
    return f"{_b64(body)}.{_b64(signature)}"


def read_token(key: bytes, token: str, *, now: datetime) -> tuple[int, str]:
    """Return (incident number, user handle) from a valid token, or raise InvalidInput."""
    try:
        body_part, signature_part = token.split(".", 1)
        body, signature = _unb64(body_part), _unb64(signature_part)
        expected = hmac.new(key, body, hashlib.sha256).digest()[:18]
        number, user, expires = body.decode().split(".")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("this acknowledge link is not valid") from None
    if not hmac.compare_digest(signature, expected):
        raise InvalidInput("this acknowledge link is not valid")
    if now.timestamp() > int(expires):
        raise InvalidInput("this acknowledge link has expired; acknowledge in Tocsin instead")
    return int(number), user
