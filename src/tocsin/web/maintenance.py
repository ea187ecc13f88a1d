"""Public maintenance in the browser: the list, a form to announce one, a button to cancel.

Everything goes through `services.maintenance`, as from the CLI and the API: the same checks,
the same notices to subscribers, the same audit entries. The form's times are read in the time
zone of the person signed in (their profile's), which the labels name; the status page and the
notices show them in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.core import schedule as sched
from tocsin.core import statuspage as core
from tocsin.errors import Conflict, NotFound, PermissionDenied, TocsinError
from tocsin.http.deps import NowDep, SessionDep
from tocsin.services import maintenance
from tocsin.store import statuspage
from tocsin.web import auth
from tocsin.web.auth import Login, LoginDep
from tocsin.web.pages import in_thread
from tocsin.web.render import page, redirect
from tocsin.web.routing import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FIELDS = ("title", "components", "start", "end", "message")


def _done(to: str, flash: str) -> RedirectResponse:
    return redirect(to, flash)


def _errors(exc: TocsinError) -> dict[str, str]:
    """Put each problem beside the field it names ("end: ..."), the others above the form."""
    found: dict[str, str] = {}
    for problem in exc.problems or [exc.message]:
        field = next((f for f in FIELDS if problem.lower().startswith(f"{f}:")), "form")
        found[field] = f"{found[field]} {problem}" if field in found else problem
    return found


def _status(exc: TocsinError) -> int:
    if isinstance(exc, PermissionDenied):
        return 403
    return 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 400


def _local(at: datetime, zone: str) -> str:
    """Return `at` in the reader's time zone, as the list shows it beside the UTC times."""
    try:
        tz = ZoneInfo(zone)
    except (ValueError, OSError):
        tz = ZoneInfo("UTC")
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _context(
    session: Session,
    login: Login,
    now: datetime,
    errors: dict[str, str],
    values: dict[str, Any],
) -> dict[str, Any]:
    comps = statuspage.components(session)
    rows = maintenance.list_(session, now=now, all_=True)[-50:]
    zone = login.user.time_zone
    return {
        "components": comps,
        "listed": [
            (
                core.maintenance_view(statuspage.facts_of(row), comps, now=now),
                _local(row.start, zone),
                _local(row.end, zone),
                sorted({w.service.slug for w in maintenance.silencing_windows(session, row.id)}),
            )
            for row in reversed(rows)
        ],
        "zone": zone,
        "errors": errors,
        "values": values,
        "ahead": (core.MaintenanceStage.SCHEDULED, core.MaintenanceStage.IN_PROGRESS),
    }


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance_page(
    request: Request, session: SessionDep, now: NowDep, login: LoginDep
) -> Response:
    """Public maintenance, newest first, and the form to announce one."""
    values = {"silence": "on", "components": []}
    return page(request, "maintenance.html", _context(session, login, now, {}, values))


@router.post("/maintenance", response_class=HTMLResponse)
async def announce(request: Request, now: NowDep, login: LoginDep) -> Response:
    """Announce public maintenance from the form."""
    data = await auth.form(request, login)
    chosen = [c for c in (await request.form()).getlist("component") if isinstance(c, str)]
    login.need_to_respond("announce maintenance")
    base: str = request.app.state.settings.base_url

    def work(session: Session) -> Response:
        values: dict[str, Any] = {**data, "components": chosen}
        errors: dict[str, str] = {}
        times: dict[str, datetime] = {}
        for field in ("start", "end"):
            if not data.get(field):
                errors[field] = f"{field}: when does it {'start' if field == 'start' else 'end'}?"
                continue
            try:
                times[field] = sched.parse_time(data[field], login.user.time_zone)
            except TocsinError as exc:
                errors[field] = f"{field}: {exc.message}"
        try:
            row = maintenance.announce(
                session,
                title=data.get("title", ""),
                components=chosen,
                start=times.get("start", now),
                end=times.get("end", now),
                message=data.get("message", ""),
                silence=bool(data.get("silence")),
                actor=login.actor,
                now=now,
                base_url=base,
            )
        except TocsinError as exc:
            session.rollback()
            found = _errors(exc)
            for field, problem in found.items():
                if field not in errors:  # a time that did not parse says so, not "in the past"
                    errors[field] = problem
            context = _context(session, login, now, errors, values)
            return page(request, "maintenance.html", context, status=_status(exc))
        if errors:
            session.rollback()
            context = _context(session, login, now, errors, values)
            return page(request, "maintenance.html", context, status=400)
        session.commit()
        return _done("/maintenance", f"Announced maintenance {row.id}: {row.title}")

    return await in_thread(request, work)


@router.post("/maintenance/{maintenance_id}/cancel")
async def cancel(maintenance_id: int, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Cancel public maintenance before or during it."""
    await auth.form(request, login)
    login.need_to_respond("cancel maintenance")
    base: str = request.app.state.settings.base_url

    def work(session: Session) -> Response:
        row = maintenance.cancel(session, maintenance_id, now=now, base_url=base)
        session.commit()
        return _done("/maintenance", f"Cancelled maintenance {row.id}: {row.title}")

    return await in_thread(request, work)
