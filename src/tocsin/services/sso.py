"""Single sign-on's side in Tocsin: which user verified claims sign in, made at the first
sign-in when the deployment allows, their role and teams following the provider's groups.

The provider has already been asked and its ID token checked (`tocsin.identity.oidc`); here the
claims meet the users table. A disabled user is refused as surely as with a password.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core import sso
from tocsin.errors import InvalidInput, PermissionDenied
from tocsin.services import users as people
from tocsin.store import access, teams, users
from tocsin.store.models import User

log = logging.getLogger("tocsin.sso")


class Refused(PermissionDenied):
    """Verified claims that sign nobody in; the message says why and what to do."""


def sign_in(session: Session, claims: dict[str, Any], rules: sso.Rules, *, now: datetime) -> User:
    """Return the user the claims sign in, after bringing their role and teams in line."""
    email = sso.email_of(claims, rules)
    if email is None:
        raise Refused(
            f"the identity provider sent no verified email in the {rules.email_claim!r} claim, "
            "and Tocsin knows people by their email"
        )
    subject = f"{claims.get('iss')}|{claims.get('sub')}"[:300]
    bound = session.scalar(select(User).where(User.sso_subject == subject))
    found = (
        [bound]
        if bound is not None
        else list(session.scalars(select(User).where(func.lower(User.email) == email)))
    )
    if len(found) > 1:
        raise Refused(
            f"{len(found)} Tocsin users have the email {email}; an administrator must keep one"
        )
    groups = sso.groups_of(claims, rules)
    if found:
        user = found[0]
        if user.sso_subject is None:
            user.sso_subject = subject  # the first sign-in binds the account to this user
        elif user.sso_subject != subject:
            raise Refused(
                f"@{user.handle} signs in with another account at the identity provider; this "
                f"one only claims the same email ({email})"
            )
    elif rules.create_role:
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        handle = sso.new_handle(email, lambda h: users.find(session, h) is not None)
        user = users.create(
            session,
            handle=handle,
            name=(name or email)[:200],
            email=email,
            role=sso.role_for(groups, rules) or rules.create_role,
            now=now,
        )
        user.sso_subject = subject
    else:
        raise Refused(
            f"no Tocsin user has the email {email}; an administrator can add you on the Users "
            "page (or let first sign-ins create users)"
        )
    if user.disabled_at is not None:
        raise Refused(f"@{user.handle} is disabled; an administrator can enable the account")
    _follow_groups(session, user, groups, rules)
    return user


def _follow_groups(session: Session, user: User, groups: list[str], rules: sso.Rules) -> None:
    if rules.role_groups:
        role = sso.role_for(groups, rules)
        if role is not None and role != user.role:
            try:
                people.update(session, user.handle, role=role)
            except InvalidInput as exc:  # the last administrator stays one
                log.warning("kept @%s's role at sign-in: %s", user.handle, exc)
    if rules.team_groups:
        managed = set(rules.team_groups.values())
        wanted = set(sso.teams_for(groups, rules))
        known = [slug for slug in wanted if teams.find(session, slug) is not None]
        for slug in sorted(wanted - set(known)):
            log.warning("TOCSIN_OIDC_TEAM_GROUPS names team %r, which does not exist", slug)
        # The groups say who is in a managed team; a role in it given in Tocsin (admin) stays.
        roles = access.team_roles(session, user.id)
        entries = [
            f"{slug}:{role}" for slug, role in roles.items() if slug not in managed or slug in known
        ]
        entries += [slug for slug in known if slug not in roles]
        people.set_teams(session, user.handle, sorted(entries))
