"""API tokens: random bearer secrets, kept only as SHA-256 hashes.

A token carries 256 random bits, so a fast hash is enough to make a stolen table useless; a
slow password hash (argon2) would cost tens of milliseconds on every API request for no gain.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from tocsin.store import users
from tocsin.store.models import ApiToken, User

PREFIX = "tsn_"


class Scope(StrEnum):
    """What a token may do; each scope includes the ones before it.

    `calendar` reads only the iCalendar feeds (so a calendar app's subscription URL grants
    nothing else), `read` reads everything, `write` runs incidents, `admin` manages users and
    tokens.
    """

    CALENDAR = "calendar"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_RANK = {scope: rank for rank, scope in enumerate(Scope)}


def hash_secret(secret: str) -> str:
    """Return the stored form of a token secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(values: list[str] | str) -> list[str]:
    """Return the scopes named in `values` ("read,write" or a list), or raise InvalidInput."""
    items = values.split(",") if isinstance(values, str) else values
    scopes = sorted({item.strip().lower() for item in items if item.strip()})
    unknown = [s for s in scopes if s not in set(Scope)]
    if unknown or not scopes:
        valid = ", ".join(Scope)
        raise InvalidInput(f"unknown scope {', '.join(unknown) or '(none)'}; valid scopes: {valid}")
    return scopes


def create(
    session: Session, *, handle: str, name: str, scopes: list[str] | str, now: datetime
) -> tuple[ApiToken, str]:
    """Create a token for user `handle`; return it and its secret, which is shown only now."""
    user = users.get_by_handle(session, handle)
    parsed = parse_scopes(scopes)
    if not name.strip():
        raise InvalidInput("token name must not be empty")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip(),
        secret_hash=hash_secret(secret),
        hint=secret[-4:],
        scopes=parsed,
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, secret


def authenticate(session: Session, secret: str | None) -> tuple[User, list[str]]:
    """Return the user and scopes of bearer `secret`, or raise Unauthenticated."""
    if not secret:
        raise Unauthenticated("missing API token; send `Authorization: Bearer <token>`")
    digest = hash_secret(secret.strip())
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest))
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        raise Unauthenticated("unknown API token")
    if token.revoked_at is not None:
        raise Unauthenticated(f"API token {token.name!r} was revoked")
    return token.user, list(token.scopes)


def require_scope(scopes: list[str], needed: Scope) -> None:
    """Raise PermissionDenied unless `scopes` grant `needed` (each scope includes lower ones)."""
    best = max((_RANK[Scope(s)] for s in scopes if s in set(Scope)), default=-1)
    if best < _RANK[needed]:
        raise PermissionDenied(
            f"this API token lacks the {needed.value!r} scope (it has: {', '.join(scopes)})"
        )


def list_(session: Session) -> list[ApiToken]:
    """Return every token (never their secrets)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, token_id: int, *, now: datetime) -> ApiToken:
    """Revoke token `token_id`; it stops working at once."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"unknown API token id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
    session.flush()
    return token
