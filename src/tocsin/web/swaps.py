"""Shift swaps on the schedule page: ask for cover of your shift, accept or cancel a request.

Each is a POST of a form with the session's CSRF token, goes through `services.swaps`, commits
and answers 303 back to the schedule page (to the request's row). A refused request for cover
re-renders the page with the problems beside its form and changes nothing; a request no longer
open, or one the person may not take, comes back as a message at the top of the page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tocsin.core import schedule as sched
from tocsin.errors import Conflict, InvalidInput, PermissionDenied
from tocsin.http.deps import NowDep
from tocsin.services import swaps
from tocsin.store import schedules
from tocsin.web import auth
from tocsin.web.auth import LoginDep
from tocsin.web.pages import _schedule_context, in_thread
from tocsin.web.render import page, redirect
from tocsin.web.routing import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
SwapId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _back(to: str, flash: str) -> RedirectResponse:
    return redirect(to, flash)


@router.post("/schedules/{name}/swaps", response_class=HTMLResponse)
async def request_cover(name: str, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Ask the schedule's teammates to cover part of your own shift."""
    data = await auth.form(request, login)
    login.need_to_respond("ask for cover")

    def work(session: Session) -> Response:
        errors: dict[str, str] = {}
        for field, what in (("start", "When does it start?"), ("end", "When does it end?")):
            if not data.get(field):
                errors[field] = what
        if not errors:
            schedules.get_by_name(session, name)
            # The form's datetime-local fields are in the viewer's zone, as the page shows
            # times; a shift's own button sends instants with their offset.
            zone = login.user.time_zone
            try:
                start = sched.parse_time(data["start"], zone)
                end = sched.parse_time(data["end"], zone)
                swap = swaps.request(
                    session,
                    name,
                    requester=login.user.handle,
                    start=start,
                    end=end,
                    note=data.get("note", ""),
                    now=now,
                )
            except InvalidInput as exc:
                session.rollback()
                errors = {"form": " ".join(exc.problems)}
            else:
                session.commit()
                return _back(
                    swaps.link(swap), "Asked your teammates for cover; they have been notified."
                )
        context = _schedule_context(session, name, now, {}, {}, viewer_zone=login.user.time_zone)
        context["swaps"] = swaps.board(session, name, login.user.handle, now=now)
        context["swap_errors"] = errors
        context["swap_values"] = data
        return page(request, "schedule.html", context, status=400)

    return await in_thread(request, work)


def _decide(
    now: datetime, login: auth.Login, swap_id: int, *, accept: bool
) -> Callable[[Session], Response]:
    """Return the work of accepting or cancelling a request, run on a worker thread."""

    def work(session: Session) -> Response:
        swap = swaps.get(session, swap_id)
        to = swaps.link(swap)
        try:
            if accept:
                swaps.accept(session, swap_id, taker=login.user.handle, now=now)
            else:
                swaps.cancel(session, swap_id, actor=login.user.handle, now=now)
        except (Conflict, PermissionDenied) as exc:
            session.rollback()
            return _back(to, exc.message)
        session.commit()
        return _back(to, "You are covering it now." if accept else "Request cancelled.")

    return work


@router.post("/swaps/{swap_id}/accept")
async def accept(swap_id: SwapId, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Take a teammate's shift: you become an override for the rest of its range."""
    await auth.form(request, login)
    login.need_to_respond("cover shifts")
    return await in_thread(request, _decide(now, login, swap_id, accept=True))


@router.post("/swaps/{swap_id}/cancel")
async def cancel(swap_id: SwapId, request: Request, now: NowDep, login: LoginDep) -> Response:
    """Withdraw a request nobody has taken yet."""
    await auth.form(request, login)
    return await in_thread(request, _decide(now, login, swap_id, accept=False))
