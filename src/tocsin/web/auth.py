"""Logins for the browser: the session cookie, roles, CSRF checks on every form.

The cookie holds a random secret (HttpOnly, SameSite=Lax, Secure behind https); the database
keeps its SHA-256 only. Each session has its own CSRF token that every form posts back; the
login form, which has no session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from tocsin.core.access import RANKS, Need, Principal
from tocsin.core.audit import Actor, Via
from tocsin.errors import PermissionDenied, TocsinError
from tocsin.http.deps import NowDep, ReadSessionDep, SessionDep
from tocsin.store import access, audit, web_sessions
from tocsin.store.db import transaction
from tocsin.store.models import User, WebSession
from tocsin.store.users import UserRole

COOKIE = "tocsin_session"
LOGIN_CSRF_COOKIE = "tocsin_login_csrf"
CSRF_FIELD = "csrf_token"


class LoginRequired(TocsinError):
    """No live session: the browser is sent to the login page."""


class BadCsrf(PermissionDenied):
    """A form came back without this session's CSRF token."""


@dataclass(frozen=True)
class Login:
    """The person behind a browser request."""

    user: User
    session: WebSession
    principal: Principal

    @property
    def csrf(self) -> str:
        """Return the CSRF token forms must post back."""
        return self.session.csrf_token

    @property
    def actor(self) -> str:
        """Return the name that goes on the timeline."""
        return self.user.handle

    @property
    def audit_actor(self) -> Actor:
        """Return who the audit log names for this browser's changes."""
        return Actor(self.user.handle, Via.WEB)

    def can(self, role: UserRole) -> bool:
        """Return True if this user's role includes `role`."""
        return RANKS.get(self.user.role, 0) >= RANKS[role]

    @property
    def responds(self) -> bool:
        """True if this user responds to something: a responder, or in a team."""
        return self.principal.may_respond_somewhere()

    def responds_to(self, owners: Iterable[str | None]) -> bool:
        """Return whether this user may respond to an object of teams `owners` (in templates)."""
        return self.principal.may(Need.RESPOND, owners)

    def need_to_respond(self, doing: str) -> None:
        """Raise PermissionDenied unless the user responds to something (the session checks
        the object itself when the change is written)."""
        if not self.responds:
            raise PermissionDenied(
                f"@{self.user.handle} is a {self.user.role} in no team and cannot {doing}; "
                "that needs the responder role, or a role in the team"
            )

    def need(self, role: UserRole, doing: str) -> None:
        """Raise PermissionDenied unless the user may act as `role`."""
        if not self.can(role):
            raise PermissionDenied(
                f"@{self.user.handle} is a {self.user.role} and cannot {doing}; "
                f"that needs the {role} role"
            )


def current(request: Request, session: ReadSessionDep, writer: SessionDep, now: NowDep) -> Login:
    """Return the login of this request, or raise LoginRequired.

    It reads in the read session and ends that transaction, so a POST does not hold a snapshot
    (or, on PostgreSQL, an open transaction) while its form arrives; the rare write, sliding
    the idle deadline, is a short transaction of its own.
    """
    row = web_sessions.authenticate(session, request.cookies.get(COOKIE), now=now)
    principal = access.principal_of(session, row.user) if row is not None else None
    session.commit()
    if row is None or principal is None:
        raise LoginRequired("please log in")
    if web_sessions.touch_due(row, now=now):
        with transaction(request.app.state.sessions) as writing:
            web_sessions.touch(writing, row.id, now=now)
    login = Login(row.user, row, principal)
    request.state.login = login
    audit.act_as(writer, login.audit_actor)  # the request's write session, if it writes
    access.act_for(writer, login.principal)
    return login


LoginDep = Annotated[Login, Depends(current)]


async def form(request: Request, login: Login) -> dict[str, str]:
    """Return the posted form after checking its CSRF token against the session's."""
    data = await request.form()
    token = data.get(CSRF_FIELD)
    if not isinstance(token, str) or not secrets.compare_digest(token, login.csrf):
        raise BadCsrf("the form is missing its security token; reload the page and try again")
    return {k: v.strip() for k, v in data.items() if isinstance(v, str) and k != CSRF_FIELD}


def safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else the dashboard (no open redirects)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def set_cookie(request: Request, response: Response, secret: str) -> None:
    """Set the session cookie on `response`."""
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(web_sessions.LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
