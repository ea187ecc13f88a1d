"""The responders' pages: login, dashboard, incidents, services, schedules, postmortems, metrics.

Reads need any login; changes need the responder role (admins may do everything). A change is
a POST of a form with the session's CSRF token; it goes through `tocsin.store`, commits, and
answers 303 to the page it came from. A refused change re-renders that page with the problems
next to the form that caused them and changes nothing.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from tocsin.core import pagination
from tocsin.core import postmortem as postmortem_core
from tocsin.core import runbook as runbook_core
from tocsin.core import schedule as sched
from tocsin.core.audit import Action as AuditAction
from tocsin.core.audit import Actor, Via
from tocsin.core.incident import (
    EventKind,
    IncidentStatus,
    PublicStatus,
    Role,
    incident_ref,
)
from tocsin.core.login_throttle import retry_after
from tocsin.engine import messages
from tocsin.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TocsinError
from tocsin.http.deps import NowDep, SessionDep
from tocsin.schemas import ServiceOut
from tocsin.services import actions, alerts, incidents, postmortems
from tocsin.services import audit as audit_log
from tocsin.services import swaps as swap_requests
from tocsin.store import (
    access,
    audit,
    integrations,
    live,
    policies,
    reports,
    schedules,
    services,
    severities,
    timeline,
    users,
    web_sessions,
)
from tocsin.store.db import transaction
from tocsin.store.models import Incident, IncidentChannel, Postmortem, User
from tocsin.store.users import UserRole
from tocsin.web import auth, schedule_view, sso
from tocsin.web.auth import LoginDep
from tocsin.web.render import page, redirect
from tocsin.web.routing import PageRoute
from tocsin.web.svg import schedule_svg
from tocsin.web.throttle import LoginThrottle, client_key

router = APIRouter(include_in_schema=False, route_class=PageRoute)

LIVE_SECONDS = 5
TIMELINE_KINDS = {
    "updates": {EventKind.STATUS_UPDATE},
    "notes": {EventKind.NOTE},
    "status": {
        EventKind.DECLARED,
        EventKind.STATUS_CHANGED,
        EventKind.MILESTONE_SKIPPED,
        EventKind.REOPENED,
        EventKind.SEVERITY_CHANGED,
        EventKind.ACKNOWLEDGED,
        EventKind.EDITED,
    },
    "roles": {EventKind.ROLE_ASSIGNED, EventKind.ROLE_REMOVED},
    "alerts": {
        EventKind.ALERT_ATTACHED,
        EventKind.ALERT_REPEATED,
        EventKind.ALERT_ACKNOWLEDGED,
        EventKind.ALERT_RESOLVED,
        EventKind.ALERTS_RESOLVED,
    },
    "paging": {EventKind.NOTIFIED, EventKind.ESCALATION, EventKind.REMINDER},
}


def _done(request: Request, to: str, flash: str = "") -> RedirectResponse:
    return redirect(to, flash)


# --------------------------------------------------------------------------------------------
# Login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    """Show the login form."""
    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = page(request, "login.html", {"next": auth.safe_next(next), "login_csrf": token})
    response.set_cookie(
        auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login"
    )
    return response


# Password checks running at once: argon2 costs a core and ~19 MiB each, and a flood of logins
# must leave the worker threads free for ingestion and the API.
LOGIN_THREADS = 2


async def in_thread(request: Request, work: Callable[[Session], Response]) -> Response:
    """Return `work`'s answer, run on a worker thread with a session it opens and closes there.

    Sessions take the database's write lock (SQLite), and argon2 takes a core: neither may run
    on the event loop, which would then stop serving everyone while it waits. The session is
    closed on that thread too, so the lock never waits for the loop to give it back.
    """

    login = getattr(request.state, "login", None)

    def run() -> Response:
        with request.app.state.sessions() as session:
            if isinstance(login, auth.Login):
                audit.act_as(session, login.audit_actor)
                access.act_for(session, login.principal)
            return work(session)

    return await run_in_threadpool(run)


class AccountDisabled(PermissionDenied):
    """The right password, of a user an administrator disabled."""


class PasswordsOff(PermissionDenied):
    """The right password, where only single sign-on logs this user in."""


def _start_session(
    state: Any, handle: str, password: str, now: datetime, client: str
) -> str | None:
    """Return a new session's cookie secret if `password` is `handle`'s, else None.

    A sign-in goes in the audit log, with the address it came from.
    """
    with state.read_sessions() as reading:
        user = users.find(reading, handle)
        user_id, stored = (user.id, user.password_hash) if user is not None else (None, None)
        disabled = user is not None and user.disabled_at is not None
    if not users.verify_password(stored, password) or user_id is None or stored is None:
        return None
    if disabled:  # told only to who knows the password
        raise AccountDisabled(f"@{handle} is disabled")
    if not sso.password_allowed(state.settings, handle):
        # After the password check, so that which handles may still use one stays unknown.
        raise PasswordsOff(f"@{handle} signs in with single sign-on")
    new_hash = users.rehash(stored, password)
    with transaction(state.sessions) as writing:
        user = writing.get(User, user_id)
        if user is None or user.password_hash != stored:  # changed while we checked
            return None
        audit.act_as(writing, Actor(user.handle, Via.WEB, f"from {client}" if client else ""))
        if new_hash is not None:
            # Stronger hashing parameters for the same password: not a change anyone made.
            writing.info[audit.QUIET] = {(User, "password_hash")}
            user.password_hash = new_hash
        audit.record(writing, AuditAction.SIGNED_IN, "user", user.handle)
        _row, secret = web_sessions.create(writing, user, now=now)
    return secret


def _login_limiter(request: Request) -> anyio.CapacityLimiter:
    limiter = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        limiter = request.app.state.login_limiter = anyio.CapacityLimiter(LOGIN_THREADS)
    return limiter


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, now: NowDep) -> Response:
    """Check the password and start a session (throttled after failures)."""
    data = await request.form()
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    expected = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    given = values.get(auth.CSRF_FIELD, "")
    target = auth.safe_next(values.get("next"))
    if not expected or not secrets.compare_digest(given, expected):
        return page(
            request,
            "login.html",
            {
                "next": target,
                "login_csrf": expected or secrets.token_urlsafe(32),
                "errors": {"form": "The form expired; please try again."},
            },
            status=403,
        )
    handle = values.get("handle", "").strip().lstrip("@").lower()
    password = values.get("password", "")
    errors: dict[str, str] = {}
    if not handle:
        errors["handle"] = "Enter your handle."
    if not password:
        errors["password"] = "Enter your password."
    context = {"next": target, "login_csrf": expected, "errors": errors, "handle": handle}
    if errors:
        return page(request, "login.html", context, status=400)
    throttle: LoginThrottle = request.app.state.login_throttle
    client = client_key(request.client.host if request.client else "")
    wait = throttle.admit(handle, client, now)
    if wait is not None:
        # Refused before the password is checked: a throttled guess learns nothing.
        seconds = retry_after(wait, now)
        errors["form"] = (
            f"Too many failed logins. Wait {seconds} second{'s' if seconds != 1 else ''} "
            "before trying again."
        )
        refused = page(request, "login.html", context, status=429)
        refused.headers["Retry-After"] = str(seconds)
        return refused
    address = request.client.host if request.client else ""
    try:
        secret = await anyio.to_thread.run_sync(
            _start_session,
            request.app.state,
            handle,
            password,
            now,
            address,
            limiter=_login_limiter(request),
        )
    except AccountDisabled:
        errors["form"] = "This account is disabled; an administrator can enable it again."
        return page(request, "login.html", context, status=403)
    except PasswordsOff:
        label = request.app.state.sso.label if request.app.state.sso else "single sign-on"
        errors["form"] = f"Passwords are turned off here: sign in with {label}."
        return page(request, "login.html", context, status=403)
    if secret is None:
        errors["form"] = "Unknown handle or wrong password."
        return page(request, "login.html", context, status=401)
    throttle.succeeded(handle, client)
    response = RedirectResponse(target, status_code=303)
    auth.set_cookie(request, response, secret)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, login: LoginDep) -> Response:
    """End this session."""
    await auth.form(request, login)

    def work(session: Session) -> Response:
        web_sessions.revoke(session, request.cookies.get(auth.COOKIE))
        audit.record(session, AuditAction.SIGNED_OUT, "user", login.user.handle)
        session.commit()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    return await in_thread(request, work)


# --------------------------------------------------------------------------------------------
# Dashboard


def _dashboard(session: Session, now: datetime) -> dict[str, Any]:
    scale = severities.scale(session)
    open_incidents = incidents.list_(session, open_only=True, limit=500)
    rank = {name: n for n, name in enumerate(scale.names)}
    open_incidents.sort(key=lambda i: (rank.get(i.severity, 99), i.started_at))
    by_severity = [
        (level.name, [i for i in open_incidents if i.severity == level.name])
        for level in scale.levels
    ]
    firing = alerts.list_(session, open_only=True, limit=live.FIRING)
    numbers = alerts.incident_numbers(session, firing)
    on_call = []
    for schedule, people in schedules.on_call_now(session, now):
        core_schedule = schedules.to_core(schedule)
        shifts = sched.final_shifts(core_schedule, now, now + timedelta(days=7))
        until = shifts[0].end if shifts else None
        upcoming = next((s for s in shifts[1:] if s.users), None)
        on_call.append((schedule, people, until, upcoming))
    return {
        "by_severity": by_severity,
        "open_count": len(open_incidents),
        "commanders": {i.id: incidents.commander_of(i) for i in open_incidents},
        "firing": firing,
        "alert_incidents": numbers,
        "service_slugs": {s.id: s.slug for s in services.list_(session)},
        "on_call": on_call,
        "now": now,
    }


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, now: NowDep, login: LoginDep) -> Response:
    """Open incidents by severity, alerts firing and who is on call, refreshed live."""
    etag = live.dashboard(session, now=now)
    context = _dashboard(session, now) | {"live": LIVE_SECONDS, "live_etag": etag}
    return page(request, "dashboard.html", context)


@router.get("/live/dashboard", response_class=HTMLResponse)
def dashboard_live(request: Request, session: SessionDep, now: NowDep, login: LoginDep) -> Response:
    """The live part of the dashboard, for the page's script to swap in (304 if unchanged)."""
    etag = live.dashboard(session, now=now)
    if pagination.not_modified(request.headers.get("if-none-match"), etag):
        return _not_modified(etag)
    return _tagged(page(request, "dashboard_live.html", _dashboard(session, now)), etag)


def _not_modified(etag: str) -> Response:
    """Return the answer to a poll that already has the current version: no body at all."""
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-store"})


def _tagged(response: Response, etag: str) -> Response:
    response.headers["ETag"] = etag
    return response


# --------------------------------------------------------------------------------------------
# Incidents


TIMELINE_PAGE = 100
ALERTS_PAGE = 100


def _timeline(
    session: Session, incident: Incident, kind: str | None, before: str | None = None
) -> dict[str, Any]:
    """Return the newest page of the timeline (older than `before`), for timeline.html."""
    wanted = TIMELINE_KINDS.get(kind or "")
    found = timeline.page(
        session,
        incident.id,
        kinds=None if wanted is None else {k.value for k in wanted},
        limit=TIMELINE_PAGE,
        cursor=before,
    )
    return {
        "events": found.items,
        "older": found.next_cursor,
        "before": before or "",
        "ref": incident_ref(incident.number),
        "kind": kind or "",
    }


def _responding(session: Session, request: Request, incident: Incident) -> dict[str, Any]:
    """Return the incident's teams ("owners") and whether the person may act on it."""
    owners = access.incident_teams(session, [incident.id])[incident.id]
    login = request.state.login
    may = access.may_respond_to_incident(session, login.principal, incident.id, owners)
    return {"owners": owners, "may_respond": may}


def _incident_context(
    session: Session,
    request: Request,
    incident: Incident,
    kind: str | None,
    now: datetime,
    *,
    alerts_after: str | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    scale = severities.scale(session)
    roles = incidents.active_roles(incident)
    settings = request.app.state.settings
    notification = messages.render_message(
        session, incident, "notification", template_dir=settings.template_dir
    )
    # The version first: on PostgreSQL each statement sees the newest commits, so an entry
    # committed while the page renders must make the version older, never newer, than the page.
    version = live.incident_timeline(session, incident.id, kind)
    attached = alerts.for_incident(session, incident, limit=ALERTS_PAGE, cursor=alerts_after)
    return _timeline(session, incident, kind, before) | {
        "incident": incident,
        **_responding(session, request, incident),
        "ref": incident_ref(incident.number),
        "kinds": list(TIMELINE_KINDS),
        "roles": roles,
        "commander": incidents.commander_of(incident),
        "severities": scale.levels,
        "statuses": [s.value for s in IncidentStatus],
        "public_statuses": [s.value for s in PublicStatus],
        "role_names": [r.value for r in Role if r is not Role.COMMANDER],
        "people": users.list_(session),
        "notification": notification,
        "postmortem": postmortems.find(session, incident),
        "slack_channel": session.get(IncidentChannel, incident.id),
        "is_open": IncidentStatus(incident.status).is_open,
        "acknowledged": incident.acknowledged_at is not None,
        "alerts": attached.items,
        "alerts_total": attached.total,
        "alerts_next": attached.next_cursor,
        "alerts_after": alerts_after or "",
        "now": now,
        "live": LIVE_SECONDS,
        "live_etag": version,
        "errors": {},
        "values": {},
    }


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(
    request: Request, session: SessionDep, now: NowDep, login: LoginDep, show: str = "open"
) -> Response:
    """List incidents: open ones, or all."""
    found = incidents.list_(session, open_only=show != "all", limit=200)
    return page(
        request,
        "incidents.html",
        {
            "incidents": found,
            "show": show,
            "commanders": {i.id: incidents.commander_of(i) for i in found},
            "now": now,
        },
    )


@router.get("/incidents/new", response_class=HTMLResponse)
def declare_form(request: Request, session: SessionDep, login: LoginDep) -> Response:
    """The form to declare an incident."""
    return page(request, "declare.html", _declare_context(session, {}, {}))


def _declare_context(
    session: Session, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "severities": severities.scale(session).levels,
        "services": services.list_(session),
        "people": users.list_(session),
        "values": values,
        "errors": errors,
    }


@router.post("/incidents", response_class=HTMLResponse)
async def declare(request: Request, now: NowDep, login: LoginDep) -> Response:
    """Declare an incident from the form."""
    data = await auth.form(request, login)
    login.need_to_respond("declare incidents")
    return await in_thread(request, lambda session: _declare(request, session, now, login, data))


def _declare(
    request: Request, session: Session, now: datetime, login: auth.Login, data: dict[str, str]
) -> Response:
    errors: dict[str, str] = {}
    if not data.get("title"):
        errors["title"] = "Say in a line what is broken."
    if not data.get("severity"):
        errors["severity"] = "Choose a severity; declare early, downgrade later."
    if not errors:
        try:
            outcome = incidents.declare(
                session,
                title=data["title"],
                severity=data["severity"],
                services=[data["service"]] if data.get("service") else [],
                impact=data.get("impact", ""),
                summary=data.get("summary", ""),
                commander=data.get("commander") or None,
                actor=login.actor,
                now=now,
            )
        except TocsinError as exc:
            session.rollback()
            errors = _field_errors(exc, ("severity", "service", "commander", "title"))
        else:
            session.commit()
            ref = incident_ref(outcome.incident.number)
            return _done(request, f"/incidents/{ref}", "; ".join(outcome.warnings))
    return page(
        request,
        "declare.html",
        _declare_context(session, data, errors),
        status=400,
    )


def _form_status(exc: TocsinError) -> int:
    """Return the status of a refused form: a name in it that matches nothing is bad input."""
    if isinstance(exc, Conflict | PermissionDenied):
        return 409 if isinstance(exc, Conflict) else 403
    return 400


def _field_errors(exc: TocsinError, fields: tuple[str, ...]) -> dict[str, str]:
    """Put each problem next to the field it names, the rest at the top of the form."""
    found: dict[str, str] = {}
    for problem in exc.problems or [exc.message]:
        lowered = problem.lower()
        field = next((f for f in fields if lowered.startswith(f) or f" {f}" in lowered), "form")
        found[field] = f"{found[field]} {problem}" if field in found else problem
    return found


@router.get("/incidents/{ref}", response_class=HTMLResponse)
def incident_page(
    ref: str,
    request: Request,
    session: SessionDep,
    now: NowDep,
    login: LoginDep,
    kind: str | None = None,
    alerts_after: Annotated[str | None, Query(alias="alerts")] = None,
    before: str | None = None,
) -> Response:
    """One incident: summary, roles, actions, the notification text, alerts and timeline."""
    # Both lists come a page at a time: alerts after the `alerts` cursor, first seen first;
    # timeline entries older than the `before` cursor, newest first.
    incident = incidents.get(session, ref)
    context = _incident_context(
        session, request, incident, kind, now, alerts_after=alerts_after, before=before
    )
    return page(request, "incident.html", context)


@router.get("/live/incidents/{ref}", response_class=HTMLResponse)
def incident_live(
    ref: str, request: Request, session: SessionDep, login: LoginDep, kind: str | None = None
) -> Response:
    """The live timeline of an incident: its newest entries, polled every few seconds.

    Its ETag changes with the timeline only; a poll that brings it gets 304 and no body.
    """
    incident = incidents.get(session, ref)
    etag = live.incident_timeline(session, incident.id, kind)
    if pagination.not_modified(request.headers.get("if-none-match"), etag):
        return _not_modified(etag)
    return _tagged(page(request, "timeline.html", _timeline(session, incident, kind)), etag)


Action = Callable[[Session, Incident, dict[str, str], str, datetime], list[str]]


def _require(data: dict[str, str], field: str, what: str) -> str:
    value = data.get(field, "")
    if not value:
        raise InvalidInput(f"{field}: {what}")
    return value


def _ack(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    return incidents.acknowledge(session, incident, actor=actor, now=now).warnings


def _commander(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    handle = _require(data, "user", "choose who takes command")
    has_one = incidents.commander_of(incident) is not None
    return incidents.assign(
        session, incident, handle, role=Role.COMMANDER, handover=has_one, actor=actor, now=now
    ).warnings


def _responder(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    handle = _require(data, "user", "choose who joins")
    role = data.get("role") or Role.RESPONDER.value
    return incidents.assign(
        session,
        incident,
        handle,
        role=role,
        speciality=data.get("speciality") or None,
        actor=actor,
        now=now,
    ).warnings


def _status(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    status = _require(data, "status", "choose the new status")
    return incidents.set_status(
        session, incident, status, message=data.get("message") or None, actor=actor, now=now
    ).warnings


def _severity(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    problems = []
    if not data.get("severity"):
        problems.append("severity: choose the new severity")
    if not data.get("reason"):
        problems.append("reason: say why the severity changes")
    if problems:
        raise InvalidInput.of(problems)
    return incidents.change_severity(
        session, incident, data["severity"], reason=data["reason"], actor=actor, now=now
    ).warnings


def _update(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    message = _require(data, "message", "write the update")
    visibility = data.get("visibility") or "internal"
    public_status = data.get("public_status") or None if visibility == "public" else None
    if visibility == "public" and data.get("public_title") is not None:
        title = data["public_title"]
        if title != (incident.public_title or ""):
            incidents.edit(session, incident, changes={"public_title": title}, actor=actor, now=now)
    outcome, _update_row = incidents.post_update(
        session,
        incident,
        message,
        visibility=visibility,
        public_status=public_status,
        actor=actor,
        now=now,
    )
    return outcome.warnings


def _note(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    message = _require(data, "message", "write the note")
    return incidents.add_note(session, incident, message, actor=actor, now=now).warnings


def _resolve(
    session: Session, incident: Incident, data: dict[str, str], actor: str, now: datetime
) -> list[str]:
    return incidents.resolve(
        session,
        incident,
        message=data.get("message") or None,
        resolution=data.get("resolution") or None,
        actor=actor,
        now=now,
    ).warnings


ACTIONS: dict[str, tuple[Action, str]] = {
    "ack": (_ack, "acknowledge incidents"),
    "commander": (_commander, "assign the commander"),
    "responders": (_responder, "add responders"),
    "status": (_status, "change the status"),
    "severity": (_severity, "change the severity"),
    "updates": (_update, "post status updates"),
    "notes": (_note, "add notes"),
    "resolve": (_resolve, "resolve incidents"),
}


@router.post("/incidents/{ref}/{action}", response_class=HTMLResponse)
async def incident_action(
    ref: str,
    action: str,
    request: Request,
    now: NowDep,
    login: LoginDep,
) -> Response:
    """Do one of the incident page's actions."""
    if action not in ACTIONS:
        raise NotFound(f"no such incident action {action!r}")
    data = await auth.form(request, login)
    _run, doing = ACTIONS[action]
    login.need_to_respond(doing)
    return await in_thread(
        request, lambda session: _incident_action(request, session, now, login, ref, action, data)
    )


def _incident_action(
    request: Request,
    session: Session,
    now: datetime,
    login: auth.Login,
    ref: str,
    action: str,
    data: dict[str, str],
) -> Response:
    run, _doing = ACTIONS[action]
    incident = incidents.load_for_view(session, ref)
    try:
        warnings = run(session, incident, data, login.actor, now)
    except TocsinError as exc:
        session.rollback()
        incident = incidents.load_for_view(session, ref)
        context = _incident_context(session, request, incident, None, now)
        context["errors"] = {action: exc.problems or [exc.message]}
        context["values"] = {action: data}
        return page(request, "incident.html", context, status=_form_status(exc))
    session.commit()
    return _done(request, f"/incidents/{incident_ref(incident.number)}", "; ".join(warnings))


# --------------------------------------------------------------------------------------------
# The audit log


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    login: LoginDep,
    since: str = "",
    until: str = "",
    who: str = "",
    object: str = "",
    cursor: str = "",
) -> Response:
    """The audit log, newest first, filtered by time, person and object (administrators)."""
    login.need(UserRole.ADMIN, "read the audit log")
    values = {"since": since, "until": until, "who": who, "object": object}
    context: dict[str, Any] = {
        "values": values,
        "kinds": audit.kinds(),
        "entries": [],
        "problems": [],
        "errors": {},
        "next_url": None,
    }
    try:
        where = audit_log.where(since=since, until=until, who=who, object=object, now=now)
        found = audit_log.page(session, where, limit=100, cursor=cursor or None)
    except InvalidInput as exc:
        context["problems"] = exc.problems or [exc.message]
        context["errors"] = {
            name: True
            for name in values
            if any(p.startswith(f"{name}:") for p in context["problems"])
        }
        return page(request, "audit.html", context, status=400)
    context["entries"] = found.items
    if found.next_cursor:
        query = {k: v for k, v in values.items() if v} | {"cursor": found.next_cursor}
        context["next_url"] = f"/audit?{urlencode(query)}"
    return page(request, "audit.html", context)


# --------------------------------------------------------------------------------------------
# Services


def _render_runbook(text: str) -> Markup:
    """Return the runbook as HTML with an anchor on every scenario heading."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and index + 1 < len(tokens):
            title = tokens[index + 1].content
            name = title.split(":", 1)[1] if title.lower().startswith("issue:") else title
            token.attrSet("id", runbook_core.slugify(name.strip()))
    return Markup(md.renderer.render(tokens, md.options, {}))


@router.get("/services", response_class=HTMLResponse)
def service_list(request: Request, session: SessionDep, login: LoginDep) -> Response:
    """Every service with its owner, policy and open incidents."""
    found = services.list_(session)
    open_counts: dict[str, int] = {}
    for incident in incidents.list_(session, open_only=True, limit=500):
        for slug in incident.service_slugs:
            open_counts[slug] = open_counts.get(slug, 0) + 1
    policy_names = {p.id: p.name for p in policies.list_policies(session)}
    return page(
        request,
        "services.html",
        {"services": found, "open_counts": open_counts, "policies": policy_names},
    )


@router.get("/services/{slug}", response_class=HTMLResponse)
def service_page(
    slug: str, request: Request, session: SessionDep, now: NowDep, login: LoginDep
) -> Response:
    """One service: runbook, integrations, escalation policy, recent incidents."""
    service = services.get_by_slug(session, slug)
    policy = None
    if service.escalation_policy_id is not None:
        policy = next(
            (p for p in policies.list_policies(session) if p.id == service.escalation_policy_id),
            None,
        )
    scenarios: list[runbook_core.Scenario] = []
    if service.runbook:
        scenarios = list(runbook_core.parse(service.runbook).scenarios)
    return page(
        request,
        "service.html",
        {
            "service": service,
            "shape": ServiceOut.of(service),
            "policy": policy,
            "levels": policies.policy_json(policy)["levels"] if policy else [],
            "integrations": integrations.list_(session, service=slug),
            "recent": incidents.list_(session, service=slug, limit=20),
            "runbook": _render_runbook(service.runbook) if service.runbook else None,
            "scenarios": [(s.name, s.slug) for s in scenarios],
            "definitions": service.severity_definitions or {},
            "now": now,
        },
    )


# --------------------------------------------------------------------------------------------
# Schedules


@router.get("/schedules", response_class=HTMLResponse)
def schedule_list(request: Request, session: SessionDep, now: NowDep, login: LoginDep) -> Response:
    """Every schedule with who is on call now."""
    rows = []
    for schedule in schedules.list_(session):
        rows.append((schedule, sched.on_call(schedules.to_core(schedule), now)))
    return page(request, "schedules.html", {"schedules": rows, "now": now})


def _schedule_context(
    session: Session,
    name: str,
    now: datetime,
    errors: dict[str, str],
    values: dict[str, str],
    *,
    viewer_zone: str = "UTC",
    zone: str | None = None,
) -> dict[str, Any]:
    schedule = schedules.get_by_name(session, name)
    core_schedule = schedules.to_core(schedule)
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=7)
    view = schedule_view.choose(viewer_zone, schedule.time_zone, zone)
    people = users.list_(session)
    names = {person.handle: person.name for person in people}
    return {
        "schedule": schedule,
        "owners": [schedule.team.slug if schedule.team is not None else None],
        "svg": schedule_svg(core_schedule, start, end, now=now, zone=view.zone, names=names),
        "view": view,
        "layers": schedule_view.layer_rows(core_schedule, now, end),
        "current": schedule_view.on_call(core_schedule, now, end),
        "on_call": sched.on_call(core_schedule, now),
        "gaps": sched.gaps(core_schedule, start, end),
        "overrides": schedules.list_overrides(session, name, since=now),
        "people": people,
        "errors": errors,
        "values": values,
        "now": now,
    }


@router.get("/schedules/{name}", response_class=HTMLResponse)
def schedule_page(
    name: str,
    request: Request,
    session: SessionDep,
    now: NowDep,
    login: LoginDep,
    zone: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The next 7 days of a schedule as a picture, and its overrides, in the viewer's time
    zone or (`?zone=schedule`) in the schedule's."""
    context = _schedule_context(
        session, name, now, {}, {}, viewer_zone=login.user.time_zone, zone=zone
    )
    # Shift swaps: the requests and the viewer's own coming shifts (see web/swaps.py).
    context["swaps"] = swap_requests.board(session, name, login.user.handle, now=now)
    return page(request, "schedule.html", context)


@router.post("/schedules/{name}/overrides", response_class=HTMLResponse)
async def add_override(name: str, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Put someone on call for a while, above every layer."""
    data = await auth.form(request, login)
    login.need_to_respond("add overrides")
    return await in_thread(
        request, lambda session: _add_override(request, session, now, login, name, data)
    )


def _add_override(
    request: Request,
    session: Session,
    now: datetime,
    login: auth.Login,
    name: str,
    data: dict[str, str],
) -> Response:
    errors: dict[str, str] = {}
    for field, what in (
        ("user", "Choose who is on call."),
        ("start", "When does it start?"),
        ("end", "When does it end?"),
    ):
        if not data.get(field):
            errors[field] = what
    if not errors:
        schedule = schedules.get_by_name(session, name)
        try:
            start = sched.parse_time(data["start"], schedule.time_zone)
            end = sched.parse_time(data["end"], schedule.time_zone)
            schedules.add_override(
                session,
                name,
                user=data["user"],
                start=start,
                end=end,
                note=data.get("note", ""),
                actor=login.actor,
                now=now,
            )
        except TocsinError as exc:
            session.rollback()
            errors = _field_errors(exc, ("user", "start", "end", "note"))
        else:
            session.commit()
            return _done(request, f"/schedules/{quote(name)}", "Override added.")
    context = _schedule_context(session, name, now, errors, data, viewer_zone=login.user.time_zone)
    return page(request, "schedule.html", context, status=400)


@router.post("/schedules/{name}/overrides/{override_id}/delete")
async def remove_override(
    name: str,
    override_id: int,
    request: Request,
    now: NowDep,
    login: LoginDep,
) -> Response:
    """Remove an override."""
    await auth.form(request, login)
    login.need_to_respond("remove overrides")

    def work(session: Session) -> Response:
        schedules.remove_override(session, name, override_id, now=now)
        session.commit()
        return _done(request, f"/schedules/{quote(name)}", "Override removed.")

    return await in_thread(request, work)


# --------------------------------------------------------------------------------------------
# Postmortems


@router.get("/postmortems", response_class=HTMLResponse)
def postmortem_list(
    request: Request, session: SessionDep, now: NowDep, login: LoginDep
) -> Response:
    """Postmortems, and resolved incidents still waiting for one."""
    rows = list(
        session.execute(
            select(Postmortem, Incident)
            .join(Incident, Incident.id == Postmortem.incident_id)
            .order_by(Incident.number.desc())
        )
    )
    have = {incident.id for _, incident in rows}
    waiting = [
        i
        for i in incidents.list_(session, statuses=["resolved", "postmortem"], limit=200)
        if i.id not in have
    ]
    open_items = actions.list_(session, status="open")
    return page(
        request,
        "postmortems.html",
        {"rows": rows, "waiting": waiting, "items": open_items, "now": now},
    )


def _postmortem_context(
    session: Session,
    request: Request,
    ref: str,
    errors: dict[str, list[str]],
    values: dict[str, str],
) -> dict[str, Any]:
    incident, postmortem = postmortems.get(session, ref)
    items = actions.list_(session, incident=incident)
    return {
        "incident": incident,
        **_responding(session, request, incident),
        "ref": incident_ref(incident.number),
        "postmortem": postmortem,
        "html": Markup(postmortems.to_html(postmortem.body)),
        "warnings": postmortems.blameless_warnings(session, postmortem),
        "items": items,
        "people": users.list_(session),
        "priorities": list(postmortem_core.PRIORITIES),
        "next_statuses": [s.value for s in postmortem_core.next_statuses(postmortem.status)],
        "errors": errors,
        "values": values,
    }


@router.get("/postmortems/{ref}", response_class=HTMLResponse)
def postmortem_page(
    ref: str, request: Request, session: SessionDep, login: LoginDep, edit: bool = False
) -> Response:
    """A postmortem with its action items; responders can edit and publish it."""
    context = _postmortem_context(session, request, ref, {}, {})
    context["editing"] = edit
    return page(request, "postmortem.html", context)


@router.post("/postmortems/{ref}/{action}", response_class=HTMLResponse)
async def postmortem_action(
    ref: str, action: str, request: Request, now: NowDep, login: LoginDep
) -> Response:
    """Draft, edit, publish a postmortem or add and close its action items."""
    data = await auth.form(request, login)
    login.need_to_respond("change postmortems")
    return await in_thread(
        request, lambda session: _postmortem_action(request, session, now, login, ref, action, data)
    )


def _postmortem_action(
    request: Request,
    session: Session,
    now: datetime,
    login: auth.Login,
    ref: str,
    action: str,
    data: dict[str, str],
) -> Response:
    flash = ""
    try:
        if action == "draft":
            incident = incidents.get(session, ref)
            if postmortems.find(session, incident) is None:
                postmortems.draft(
                    session,
                    ref,
                    actor=login.actor,
                    now=now,
                    template_dir=request.app.state.settings.template_dir,
                )
        elif action == "edit":
            postmortems.edit(
                session, ref, _require(data, "body", "the postmortem is empty"), now=now
            )
        elif action == "status":
            _pm, warnings = postmortems.set_status(
                session, ref, _require(data, "status", "choose the next status"), now=now
            )
            flash = "; ".join(warnings)
        elif action == "items":
            incident = incidents.get(session, ref)
            actions.add(
                session,
                incident=incident,
                action=data.get("action", ""),
                owner=data.get("owner") or None,
                priority=data.get("priority") or "P2",
                due=_due(data.get("due")),
                actor=login.actor,
                now=now,
            )
        elif action == "item-done":
            actions.set_status(session, int(_require(data, "item", "which item?")), "done", now=now)
        else:
            raise NotFound(f"no such postmortem action {action!r}")
    except TocsinError as exc:
        session.rollback()
        if isinstance(exc, NotFound) and action not in ("edit", "status", "items", "item-done"):
            raise
        context = _postmortem_context(
            session, request, ref, {action: exc.problems or [exc.message]}, data
        )
        context["editing"] = action == "edit"
        return page(request, "postmortem.html", context, status=_form_status(exc))
    session.commit()
    return _done(request, f"/postmortems/{ref}", flash)


def _due(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"due: {text!r} is not a date like 2024-07-01") from None


# --------------------------------------------------------------------------------------------
# Metrics


@router.get("/reports", response_class=HTMLResponse)
def report_page(
    request: Request, session: SessionDep, now: NowDep, login: LoginDep, days: int = 90
) -> Response:
    """MTTA and MTTR: the table from the report, and charts by month."""
    days = max(1, min(days, 3650))
    start = now - timedelta(days=days)
    data = reports.report(session, now=now, start=start)
    return page(request, "reports.html", {"report": data, "days": days, "now": now})


@router.get("/reports/chart.svg")
def report_chart(
    request: Request, session: SessionDep, now: NowDep, login: LoginDep, days: int = 90
) -> Response:
    """The MTTA/MTTR chart by month, drawn on the server."""
    from tocsin import plots

    days = max(1, min(days, 3650))
    found = reports.incident_times(session, start=now - timedelta(days=days))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chart.svg"
        plots.mtta_mttr_by_month(found, severities.scale(session), now=now, path=path)
        body = path.read_bytes()
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
