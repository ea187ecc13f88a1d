"""Browser logins: a random cookie secret whose SHA-256 is the only thing stored.

A session ends at logout, after `IDLE` without a request, or `LIFETIME` after login, whichever
comes first. Every session has its own CSRF token, which each form posts back.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.store.models import User, WebSession

IDLE = timedelta(hours=12)
LIFETIME = timedelta(days=7)
# Refresh the idle deadline at most this often, so reading pages does not write on every hit.
TOUCH_EVERY = timedelta(minutes=5)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(session: Session, user: User, *, now: datetime) -> tuple[WebSession, str]:
    """Start a session for `user`; return it and the cookie secret (shown only now)."""
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        secret_hash=_digest(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + IDLE, now + LIFETIME),
    )
    session.add(row)
    # Sweep ended sessions here rather than in a job: logins are rare and this keeps it bounded.
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    session.flush()
    return row, secret


def authenticate(session: Session, secret: str | None, *, now: datetime) -> WebSession | None:
    """Return the live session for a cookie secret, else None (reads only; see `touch`)."""
    if not secret:
        return None
    row = session.scalar(select(WebSession).where(WebSession.secret_hash == _digest(secret)))
    if row is None or row.expires_at <= now or row.user.disabled_at is not None:
        return None
    return row


def touch_due(row: WebSession, *, now: datetime) -> bool:
    """Return True if `row`'s idle deadline should slide forward at `now`."""
    return now - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, session_id: int, *, now: datetime) -> None:
    """Slide the idle deadline of web session `session_id` (in a writing session)."""
    row = session.get(WebSession, session_id)
    if row is not None and row.expires_at > now:
        row.last_seen_at = now
        row.expires_at = min(now + IDLE, row.created_at + LIFETIME)
        session.flush()


def revoke(session: Session, secret: str | None) -> None:
    """End the session of a cookie secret (logging out twice is harmless)."""
    if secret:
        session.execute(delete(WebSession).where(WebSession.secret_hash == _digest(secret)))
        session.flush()


def revoke_all(session: Session, user: User) -> None:
    """End every session of `user` (after a password change)."""
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
