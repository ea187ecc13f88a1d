"""Administering people: change, disable and re-enable users, reset their passwords, set
their teams and revoke their tokens; the CLI, the API and the web UI all come here (and make
users with `store.users.create`, which checks every field).

Two rules keep an installation administrable: the last enabled administrator can be neither
disabled nor demoted, and disabling someone ends their browser sessions at once (their tokens
stop working too: `tokens.authenticate` refuses a disabled user's). A disabled user stays on
rotas and timelines, as a person who left is still part of the history.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core.access import ADMIN, parse_team_role
from tocsin.errors import InvalidInput
from tocsin.store import access, teams, tokens, users, web_sessions
from tocsin.store.models import ApiToken, Team, TeamMember, User
from tocsin.store.users import UserRole


def update(
    session: Session,
    handle: str,
    *,
    name: str | None = None,
    email: str | None = None,
    time_zone: str | None = None,
    role: str | None = None,
) -> tuple[User, list[str]]:
    """Change the given fields of a user; return the user and the fields that changed."""
    user = users.get_by_handle(session, handle)
    if role is not None and role != UserRole.ADMIN and user.role == UserRole.ADMIN:
        keep_an_admin(session, user, f"make @{user.handle} a {role}")
    return user, users.update(session, user, name=name, email=email, time_zone=time_zone, role=role)


def disable(session: Session, handle: str, *, now: datetime, by: str | None = None) -> User:
    """Keep a user from signing in and from using their tokens, and end their sessions.

    `by`, the administrator doing it, may not disable themselves: that is never what is meant.
    """
    user = users.get_by_handle(session, handle)
    if by is not None and user.handle == by:
        raise InvalidInput(f"@{by} cannot disable themselves; another administrator can")
    if user.disabled_at is None:
        if user.role == UserRole.ADMIN:
            keep_an_admin(session, user, f"disable @{user.handle}")
        user.disabled_at = now
        web_sessions.revoke_all(session, user)
    session.flush()
    return user


def enable(session: Session, handle: str) -> User:
    """Let a disabled user sign in and use their tokens again."""
    user = users.get_by_handle(session, handle)
    user.disabled_at = None
    session.flush()
    return user


def forget_sso_account(session: Session, handle: str) -> User:
    """Unbind the identity-provider account a user signed in with, so that the next account
    to sign in with their email is bound instead (after an account was recreated there)."""
    user = users.get_by_handle(session, handle)
    user.sso_subject = None
    session.flush()
    return user


def reset_password(session: Session, handle: str) -> tuple[User, str]:
    """Give a user a new random password, ending their sessions; return it (shown once)."""
    user = users.get_by_handle(session, handle)
    password = secrets.token_urlsafe(15)
    users.set_password(session, user, password)
    web_sessions.revoke_all(session, user)
    return user, password


def set_teams(session: Session, handle: str, entries: list[str]) -> list[str]:
    """Make the user a member of exactly the teams `entries` name; return what changed, as
    lines. An entry is "SLUG" (a responder of the team) or "SLUG:admin" (its administrator)."""
    user = users.get_by_handle(session, handle)
    wanted_roles: dict[str, str] = {}
    problems = []
    for entry in entries:
        try:
            slug, role = parse_team_role(entry)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if wanted_roles.get(slug) != ADMIN:
            wanted_roles[slug] = role
    found = {slug: teams.find(session, slug) for slug in wanted_roles}
    problems += [f"unknown team {slug!r}" for slug, team in found.items() if team is None]
    if problems:
        raise InvalidInput.of(problems)
    wanted = {team.id: (team, wanted_roles[slug]) for slug, team in found.items() if team}
    changes: list[str] = []
    rows = session.execute(
        select(TeamMember, Team.slug)
        .join(Team, Team.id == TeamMember.team_id)
        .where(TeamMember.user_id == user.id)
    )
    for member, slug in rows.all():
        if member.team_id not in wanted:
            session.delete(member)
            changes.append(f"left {slug}")
        elif member.role != wanted[member.team_id][1]:
            member.role = wanted[member.team_id][1]
            changes.append(f"{member.role} of {slug}")
    session.flush()
    current = set(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id)))
    for team_id, (team, role) in wanted.items():
        if team_id not in current:
            last = session.scalar(
                select(func.max(TeamMember.position)).where(TeamMember.team_id == team_id)
            )
            session.add(
                TeamMember(team_id=team_id, user_id=user.id, position=(last or 0) + 1, role=role)
            )
            changes.append(f"joined {team.slug}" + (" as admin" if role == ADMIN else ""))
    session.flush()
    return changes


def teams_of(session: Session, user: User) -> list[str]:
    """Return the user's teams as `set_teams` takes them ("SLUG", "SLUG:admin"), sorted."""
    return teams_by_user(session, [user])[user.id]


def teams_by_user(session: Session, people: list[User]) -> dict[int, list[str]]:
    """Return each user's teams, as `teams_of` does, in one query: by user id."""
    roles = access.team_roles_of(session, [user.id for user in people])
    return {
        user.id: [
            slug + (":admin" if role == ADMIN else "")
            for slug, role in sorted(roles.get(user.id, {}).items())
        ]
        for user in people
    }


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """Return the user's API tokens, newest first (never their secrets)."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, handle: str, token_id: int, *, now: datetime) -> ApiToken:
    """Revoke one of the user's tokens."""
    user = users.get_by_handle(session, handle)
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise InvalidInput(f"@{user.handle} has no API token with id {token_id}")
    return tokens.revoke(session, token_id, now=now)


def enabled_admins(session: Session) -> list[str]:
    """Return the handles of the enabled administrators."""
    return list(
        session.scalars(
            select(User.handle)
            .where(User.role == UserRole.ADMIN, User.disabled_at.is_(None))
            .order_by(User.handle)
        )
    )


def keep_an_admin(session: Session, user: User, doing: str) -> None:
    """Raise InvalidInput if `user` is the last enabled administrator (before `doing`).

    The enabled administrators' rows are locked first (PostgreSQL), so two administrators
    demoting each other at once cannot both pass and leave none.
    """
    admins = session.scalars(
        select(User.id)
        .where(User.role == UserRole.ADMIN, User.disabled_at.is_(None))
        .order_by(User.id)
        .with_for_update()
    )
    others = [row for row in admins if row != user.id]
    if not others:
        raise InvalidInput(
            f"cannot {doing}: @{user.handle} is the last enabled administrator, and nobody could "
            "administer Tocsin then; make someone else an admin first"
        )
