"""User administration in the browser: create, change, disable and re-enable users, reset
passwords, set roles and teams, revoke tokens (administrators only).

Every change goes through `services.users`, as from the CLI and the API: the same checks, the
same audit entries (named after the administrator signed in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, NotFound, TocsinError
from tocsin.http.deps import NowDep, SessionDep
from tocsin.services import users as people
from tocsin.store import access, teams, users
from tocsin.store.users import UserRole
from tocsin.web import auth
from tocsin.web.auth import Login, LoginDep
from tocsin.web.pages import in_thread
from tocsin.web.render import page, redirect
from tocsin.web.routing import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FIELDS = ("handle", "name", "email", "time_zone", "role")


def _admin(login: Login) -> None:
    login.need(UserRole.ADMIN, "administer users")


def _done(to: str, flash: str) -> RedirectResponse:
    return redirect(to, flash)


def _errors(exc: TocsinError) -> dict[str, str]:
    """Put each problem beside the field it names, the others at the top of the form."""
    found: dict[str, str] = {}
    for problem in exc.problems or [exc.message]:
        lowered = problem.lower()
        where = next(
            (f for f in FIELDS if lowered.startswith(f.replace("_", " ")) or lowered.startswith(f)),
            "form",
        )
        found[where] = f"{found[where]} {problem}" if where in found else problem
    return found


def _status(exc: TocsinError) -> int:
    return 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 400


def _list_context(session: Session, errors: dict[str, str], values: dict[str, str]) -> Any:
    listed = users.list_(session)
    return {
        "people": listed,
        "teams_of": people.teams_by_user(session, listed),
        "roles": list(UserRole),
        "errors": errors,
        "values": values,
    }


def _user_context(
    session: Session,
    handle: str,
    errors: dict[str, str],
    values: dict[str, str] | None,
    password: str | None = None,
) -> dict[str, Any]:
    user = users.get_by_handle(session, handle)
    return {
        "person": user,
        "member_of": access.team_roles(session, user.id),
        "teams": teams.list_(session),
        "tokens": people.tokens_of(session, user),
        "roles": list(UserRole),
        "errors": errors,
        "values": values
        or {"name": user.name, "email": user.email or "", "time_zone": user.time_zone},
        "password": password,
    }


@router.get("/admin/users", response_class=HTMLResponse)
def user_list(request: Request, session: SessionDep, login: LoginDep) -> Response:
    """Everyone who can be paged or log in, and a form to add someone."""
    _admin(login)
    return page(request, "admin_users.html", _list_context(session, {}, {}))


@router.post("/admin/users", response_class=HTMLResponse)
async def add_user(request: Request, now: NowDep, login: LoginDep) -> Response:
    """Add a user."""
    _admin(login)
    data = await auth.form(request, login)

    def work(session: Session) -> Response:
        try:
            user = users.create(
                session,
                handle=data.get("handle", ""),
                name=data.get("name") or None,
                email=data.get("email") or None,
                time_zone=data.get("time_zone") or "UTC",
                role=data.get("role") or UserRole.RESPONDER,
                now=now,
            )
        except TocsinError as exc:
            session.rollback()
            context = _list_context(session, _errors(exc), data)
            return page(request, "admin_users.html", context, status=_status(exc))
        session.commit()
        return _done(
            f"/admin/users/{quote(user.handle)}",
            f"Added @{user.handle}. Reset the password to let them log in.",
        )

    return await in_thread(request, work)


@router.get("/admin/users/{handle}", response_class=HTMLResponse)
def user_page(handle: str, request: Request, session: SessionDep, login: LoginDep) -> Response:
    """One user: details, role, teams, status, password and tokens."""
    _admin(login)
    return page(request, "admin_user.html", _user_context(session, handle, {}, None))


@router.post("/admin/users/{handle}", response_class=HTMLResponse)
async def edit_user(handle: str, request: Request, login: LoginDep) -> Response:
    """Change a user's details, role and teams."""
    _admin(login)
    data = await auth.form(request, login)
    # One select per team, named "team:SLUG": not in it (""), responder or admin.
    chosen = [
        f"{key.removeprefix('team:')}:{value}"
        for key, value in data.items()
        if key.startswith("team:") and value
    ]

    def work(session: Session) -> Response:
        try:
            user, changed = people.update(
                session,
                handle,
                name=data.get("name", ""),
                email=data.get("email", ""),
                time_zone=data.get("time_zone", ""),
                role=data.get("role") or None,
            )
            changed += people.set_teams(session, user.handle, chosen)
        except TocsinError as exc:
            session.rollback()
            context = _user_context(session, handle, _errors(exc), data)
            return page(request, "admin_user.html", context, status=_status(exc))
        session.commit()
        said = ", ".join(c.replace("_", " ") for c in changed) if changed else "nothing changed"
        return _done(f"/admin/users/{quote(user.handle)}", f"@{user.handle}: {said}.")

    return await in_thread(request, work)


async def _act(
    request: Request,
    login: Login,
    handle: str,
    act: Callable[[Session], object],
    said: str,
) -> Response:
    """Run one of the user page's buttons: `act` in a transaction, then back to the page
    saying `said` (or the page `act` rendered), or the page with why it was refused."""
    _admin(login)
    await auth.form(request, login)

    def work(session: Session) -> Response:
        try:
            shown = act(session)
        except TocsinError as exc:
            session.rollback()
            context = _user_context(session, handle, {"form": exc.message}, None)
            return page(request, "admin_user.html", context, status=_status(exc))
        session.commit()
        if isinstance(shown, Response):
            return shown
        return _done(f"/admin/users/{quote(handle)}", said)

    return await in_thread(request, work)


@router.post("/admin/users/{handle}/disable")
async def disable_user(handle: str, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Keep a user from logging in and using tokens; log them out."""
    return await _act(
        request,
        login,
        handle,
        lambda session: people.disable(session, handle, now=now, by=login.user.handle),
        f"Disabled @{handle}: no login, no API token, browsers logged out.",
    )


@router.post("/admin/users/{handle}/enable")
async def enable_user(handle: str, request: Request, login: LoginDep) -> Response:
    """Let a disabled user log in again."""
    return await _act(
        request,
        login,
        handle,
        lambda session: people.enable(session, handle),
        f"Enabled @{handle}.",
    )


@router.post("/admin/users/{handle}/sso/forget")
async def forget_sso_account(handle: str, request: Request, login: LoginDep) -> Response:
    """Unbind the provider account the user signed in with."""
    return await _act(
        request,
        login,
        handle,
        lambda session: people.forget_sso_account(session, handle),
        f"@{handle}'s next single sign-on binds the account it comes from.",
    )


@router.post("/admin/users/{handle}/password", response_class=HTMLResponse)
async def reset_password(handle: str, request: Request, login: LoginDep) -> Response:
    """Give the user a new password, shown on this page once (never kept in a cookie)."""

    def reset(session: Session) -> Response:
        user, password = people.reset_password(session, handle)
        context = _user_context(session, user.handle, {}, None, password=password)
        return page(request, "admin_user.html", context)

    return await _act(request, login, handle, reset, "")


@router.post("/admin/users/{handle}/tokens/{token_id}/revoke")
async def revoke_token(
    handle: str, token_id: int, request: Request, now: NowDep, login: LoginDep
) -> Response:
    """Revoke one of the user's API tokens."""

    def revoke(session: Session) -> Any:
        return people.revoke_token(session, handle, token_id, now=now)

    return await _act(request, login, handle, revoke, f"Revoked token {token_id}.")
