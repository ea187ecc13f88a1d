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
from tocsin.store import teams, users
from tocsin.store.models import ApiToken, TeamMember, User
from tocsin.store.users import UserRole

PREFIX = "tsn_"


class Scope(StrEnum):
    """What a token may do; `calendar` < `read` < `write` < `admin`, each including the ones before.

    `calendar` reads only the iCalendar feeds (so a calendar app's subscription URL grants
    nothing else), `read` reads everything, `write` runs incidents, `admin` manages users and
    tokens. `metrics` stands apart: it only scrapes /metrics (which `admin` may do too), so a
    Prometheus server's token reads nothing else.
    """

    CALENDAR = "calendar"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    METRICS = "metrics"


_RANK = {Scope.CALENDAR: 0, Scope.READ: 1, Scope.WRITE: 2, Scope.ADMIN: 3}

# The most a token may do is what its user's role allows, whatever scopes it was given: a
# viewer reads, a responder also runs incidents, only an admin administers.
ROLE_SCOPES: dict[str, frozenset[Scope]] = {
    UserRole.VIEWER: frozenset({Scope.CALENDAR, Scope.READ, Scope.METRICS}),
    UserRole.RESPONDER: frozenset({Scope.CALENDAR, Scope.READ, Scope.WRITE, Scope.METRICS}),
    UserRole.ADMIN: frozenset(Scope),
}


def allowed_scopes(role: str) -> frozenset[Scope]:
    """Return the scopes a token of a user with `role` may use (none for an unknown role)."""
    return ROLE_SCOPES.get(role, frozenset())


def effective_scopes(scopes: list[str], role: str) -> list[str]:
    """Return what a token with `scopes` may do for a user with `role`.

    A ranked scope above the role is lowered to the role's highest (a responder's old `admin`
    token writes), a scope the role never has is dropped.
    """
    allowed = allowed_scopes(role)
    top = max((_RANK[s] for s in allowed if s in _RANK), default=-1)
    kept: set[str] = set()
    for name in scopes:
        if name in allowed:
            kept.add(name)
        elif name in _RANK and top >= 0:
            kept.add(next(s.value for s, r in _RANK.items() if r == min(top, _RANK[Scope(name)])))
    return sorted(kept)


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


def reach(session: Session, user: User, *, team_id: int | None = None) -> str:
    """Return the role whose scopes cap `user`'s tokens (of team `team_id`, if scoped).

    A viewer with a role in a team writes there (the session checks where), so their tokens
    may write too; a token scoped to a team never administers people or tokens.
    """
    role = user.role
    if role == UserRole.VIEWER:
        query = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
        if team_id is not None:
            query = query.where(TeamMember.team_id == team_id)
        if session.scalar(query.limit(1)) is not None:
            role = UserRole.RESPONDER
    if team_id is not None and role == UserRole.ADMIN:
        role = UserRole.RESPONDER
    return role


def default_scopes(role: str) -> list[str]:
    """Return the scopes of a token created without any: read, and write if the role allows."""
    return [s.value for s in (Scope.READ, Scope.WRITE) if s in allowed_scopes(role)]


def create(
    session: Session,
    *,
    handle: str,
    name: str,
    scopes: list[str] | str | None = None,
    team: str | None = None,
    now: datetime,
) -> tuple[ApiToken, str]:
    """Create a token for user `handle`; return it and its secret, which is shown only now.

    Without `scopes` the token reads, and writes if the user's role allows; scopes beyond the
    role are refused rather than quietly dropped. With `team` it acts on that team's objects
    only, and its user must be in the team (or an administrator).
    """
    user = users.get_by_handle(session, handle)
    problems = []
    team_id = None
    if team is not None:
        found = teams.find(session, team)
        if found is None:
            problems.append(f"unknown team {team!r}")
        else:
            team_id = found.id
            member = session.get(TeamMember, (found.id, user.id))
            if member is None and user.role != UserRole.ADMIN:
                problems.append(f"@{user.handle} is not in team {team!r}")
    role = reach(session, user, team_id=team_id)
    parsed = parse_scopes(default_scopes(role) if scopes is None else scopes)
    beyond = [s for s in parsed if s not in allowed_scopes(role)]
    if beyond:
        most = ", ".join(s.value for s in Scope if s in allowed_scopes(role)) or "none"
        whose = f"@{user.handle}'s role {role!r}"
        if team_id is not None:
            whose = f"a token of team {team!r} for @{user.handle}"
        problems.append(
            f"scope {', '.join(beyond)} is beyond what {whose} allows (at most: {most})"
        )
    if not name.strip():
        problems.append("token name must not be empty")
    if problems:
        raise InvalidInput.of(problems)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip(),
        secret_hash=hash_secret(secret),
        hint=secret[-4:],
        scopes=parsed,
        team_id=team_id,
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, secret


def authenticate(session: Session, secret: str | None) -> tuple[User, list[str]]:
    """Return the user and scopes of bearer `secret`, or raise Unauthenticated.

    The scopes are capped by the user's role now, so a demoted user's tokens lose at once what
    the new role does not allow.
    """
    token, scopes = authenticate_token(session, secret)
    return token.user, scopes


def authenticate_token(session: Session, secret: str | None) -> tuple[ApiToken, list[str]]:
    """Return the token of bearer `secret` and its scopes now, or raise Unauthenticated."""
    if not secret:
        raise Unauthenticated("missing API token; send `Authorization: Bearer <token>`")
    digest = hash_secret(secret.strip())
    token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == digest))
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        raise Unauthenticated("unknown API token")
    if token.revoked_at is not None:
        raise Unauthenticated(f"API token {token.name!r} was revoked")
    if token.user.disabled_at is not None:
        raise Unauthenticated(f"API token {token.name!r} belongs to a disabled user")
    return token, effective_scopes(
        list(token.scopes), reach(session, token.user, team_id=token.team_id)
    )


def grants(scopes: list[str], needed: Scope) -> bool:
    """Return whether `scopes` allow `needed` (ranked scopes include lower ones)."""
    if needed is Scope.METRICS:
        return Scope.METRICS in scopes or Scope.ADMIN in scopes
    best = max((_RANK[Scope(s)] for s in scopes if s in _RANK), default=-1)
    return best >= _RANK[needed]


def require_scope(scopes: list[str], needed: Scope) -> None:
    """Raise PermissionDenied unless `scopes` grant `needed`."""
    if not grants(scopes, needed):
        has = ", ".join(scopes) or "no scope its user's role allows"
        raise PermissionDenied(f"this API token lacks the {needed.value!r} scope (it has: {has})")


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
