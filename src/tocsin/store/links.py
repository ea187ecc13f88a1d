"""Chat accounts linked to users, and the one-time codes that link them."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.store.models import ChatLink, LinkCode, User

# Long enough to type on a phone, too many to guess in the minutes a code lives.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
CODE_LIFETIME = timedelta(minutes=15)


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_code(session: Session, user: User, provider: str, *, now: datetime) -> str:
    """Return a new one-time code that links a `provider` account to `user`; the user's
    earlier codes for that provider stop working."""
    session.execute(
        delete(LinkCode).where(LinkCode.user_id == user.id, LinkCode.provider == provider)
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(
        LinkCode(
            code_hash=_digest(code),
            user_id=user.id,
            provider=provider,
            expires_at=now + CODE_LIFETIME,
        )
    )
    session.flush()
    return code


def redeem(
    session: Session, provider: str, code: str, external_id: str, *, now: datetime
) -> User | None:
    """Link `external_id` to the user whose unexpired code this is, using the code up; return
    the user, or None for a code that is unknown, used or expired."""
    found = session.get(LinkCode, _digest(code), with_for_update=True)
    if found is None or found.provider != provider:
        return None
    session.delete(found)
    owner = session.get(User, found.user_id)
    if found.expires_at <= now or owner is None or owner.disabled_at is not None:
        return None
    link = session.get(ChatLink, (provider, external_id))
    if link is None:
        session.add(
            ChatLink(
                provider=provider, external_id=external_id, user_id=found.user_id, linked_at=now
            )
        )
    else:
        link.user_id, link.linked_at = found.user_id, now
    session.flush()
    return session.get(User, found.user_id)


def linked_user(session: Session, provider: str, external_id: str) -> User | None:
    """Return the enabled user a chat account is linked to, if any."""
    return session.scalar(
        select(User)
        .join(ChatLink, ChatLink.user_id == User.id)
        .where(
            ChatLink.provider == provider,
            ChatLink.external_id == external_id,
            User.disabled_at.is_(None),  # a disabled user acts nowhere
        )
    )


def linked_accounts(session: Session, provider: str, handles: Iterable[str]) -> dict[str, str]:
    """Return handle -> chat account id of those among `handles` linked on `provider`."""
    wanted = set(handles)
    if not wanted:
        return {}
    rows = session.execute(
        select(User.handle, ChatLink.external_id)
        .join(ChatLink, ChatLink.user_id == User.id)
        .where(ChatLink.provider == provider, User.handle.in_(wanted))
    )
    return {row.handle: row.external_id for row in rows}


def links_of(session: Session, user: User) -> list[ChatLink]:
    """Return the chat accounts linked to a user."""
    return list(
        session.scalars(
            select(ChatLink).where(ChatLink.user_id == user.id).order_by(ChatLink.provider)
        )
    )


def unlink(session: Session, user: User, provider: str) -> int:
    """Unlink every `provider` account of a user; return how many there were."""
    found = list(
        session.scalars(
            select(ChatLink).where(ChatLink.user_id == user.id, ChatLink.provider == provider)
        )
    )
    for link in found:
        session.delete(link)  # one by one, so the audit log sees each
    session.flush()
    return len(found)
