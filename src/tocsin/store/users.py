"""Users: the people who respond, are on call and use the API."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store.models import User

HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserRole(StrEnum):
    """What a user may do: read, respond to incidents, or administer Tocsin."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


def check_time_zone(name: str, where: str = "time zone") -> list[str]:
    """Return a problem if `name` is not an IANA time zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
        return [f"{where}: unknown time zone {name!r} (use an IANA name like Europe/Berlin)"]
    return []


def validate(
    *,
    handle: str | None,
    name: str | None,
    email: str | None,
    time_zone: str | None,
    role: str | None,
) -> list[str]:
    """Return every problem with these user fields (None means "not given")."""
    problems: list[str] = []
    if handle is not None and not HANDLE.match(handle):
        problems.append(
            f"handle {handle!r} must be 1-40 lowercase letters, digits, '.', '_' or '-'"
        )
    if name is not None and not name.strip():
        problems.append("name must not be empty")
    if email and not EMAIL.match(email):
        problems.append(f"email {email!r} is not an email address")
    if time_zone is not None:
        problems += check_time_zone(time_zone)
    if role is not None and role not in set(UserRole):
        problems.append(f"unknown role {role!r}; valid roles: {', '.join(UserRole)}")
    return problems


def get_by_handle(session: Session, handle: str) -> User:
    """Return the user `handle`, or raise NotFound."""
    user = session.scalar(select(User).where(User.handle == handle.lstrip("@").lower()))
    if user is None:
        raise NotFound(f"unknown user {handle!r}")
    return user


def find(session: Session, handle: str) -> User | None:
    """Return the user `handle`, or None."""
    return session.scalar(select(User).where(User.handle == handle.lstrip("@").lower()))


def list_(session: Session) -> list[User]:
    """Return every user, by handle."""
    return list(session.scalars(select(User).order_by(User.handle)))


def create(
    session: Session,
    *,
    handle: str,
    name: str | None = None,
    email: str | None = None,
    time_zone: str = "UTC",
    role: str = UserRole.RESPONDER,
    now: datetime,
) -> User:
    """Create a user; the handle must be new."""
    handle = handle.lstrip("@")
    problems = validate(handle=handle, name=name, email=email, time_zone=time_zone, role=role)
    if problems:
        raise InvalidInput.of(problems)
    if find(session, handle) is not None:
        raise Conflict(f"user {handle!r} already exists")
    user = User(
        handle=handle,
        name=(name or handle).strip(),
        email=email or None,
        time_zone=time_zone,
        role=str(role),
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def update(
    session: Session,
    user: User,
    *,
    name: str | None = None,
    email: str | None = None,
    time_zone: str | None = None,
    role: str | None = None,
) -> list[str]:
    """Change the given fields of `user`; return the names of the fields that changed."""
    problems = validate(handle=None, name=name, email=email, time_zone=time_zone, role=role)
    if problems:
        raise InvalidInput.of(problems)
    changed = []
    for field, value in (
        ("name", name),
        ("email", email),
        ("time_zone", time_zone),
        ("role", role),
    ):
        if value is not None and getattr(user, field) != value:
            setattr(user, field, value)
            changed.append(field)
    session.flush()
    return changed


MIN_PASSWORD = 10

# argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane): a login costs one core
# a fraction of a second; the library's default (64 MiB on 4 lanes) took seconds on a 2-core host.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Checked against when the handle is unknown, so a wrong handle costs as long as a wrong password.
_UNKNOWN = _hasher.hash("no user has this password")


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash new passwords with `hasher` from now on; return the one used before (for tests)."""
    global _hasher, _UNKNOWN
    before = _hasher
    _hasher = hasher
    _UNKNOWN = hasher.hash("no user has this password")
    return before


def password_problems(password: str) -> list[str]:
    """Return what is wrong with `password` as a new login password."""
    if len(password) < MIN_PASSWORD:
        return [f"password: must be at least {MIN_PASSWORD} characters"]
    return []


def set_password(session: Session, user: User, password: str) -> None:
    """Store an argon2id hash of `password` as the user's web login."""
    problems = password_problems(password)
    if problems:
        raise InvalidInput.of(problems)
    user.password_hash = _hasher.hash(password)
    session.flush()


def verify_password(stored: str | None, password: str) -> bool:
    """Return True if `password` matches the `stored` hash; no hash takes as long and fails.

    This is the slow part of a login (argon2, by design): call it outside any transaction, and
    never on the event loop.
    """
    try:
        _hasher.verify(stored or _UNKNOWN, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return stored is not None


def rehash(stored: str, password: str) -> str | None:
    """Return a new hash of `password` if `stored` uses older parameters, else None."""
    return _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
