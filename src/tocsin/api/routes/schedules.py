"""Schedules over HTTP: who is on call, the final schedule, overrides and iCalendar feeds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from tocsin import ical
from tocsin.api.params import RowId
from tocsin.config import ScheduleSpec
from tocsin.core import schedule as sched
from tocsin.errors import InvalidInput
from tocsin.http.deps import NowDep, Reader, SessionDep, Writer, bearer
from tocsin.schemas import iso, override_json
from tocsin.services import schedules as specs
from tocsin.store import schedules as store
from tocsin.store import tokens, users
from tocsin.store.models import Schedule
from tocsin.store.tokens import Scope

router = APIRouter(tags=["schedules"])
FEED_DAYS = 90
MAX_RANGE = timedelta(days=3660)


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    user: str
    start: str = Field(description="ISO-8601; without an offset local to the schedule's zone.")
    end: str
    note: str = ""


def _schedule(s: Schedule, now: datetime) -> dict[str, Any]:
    spec = specs.to_spec(s, overrides=False).model_dump(by_alias=True, exclude={"overrides"})
    spec["on_call_now"] = list(sched.on_call(store.to_core(s), now))
    return spec


def _instant(text: str | None, zone: str, default: datetime, name: str) -> datetime:
    if text is None:
        return default
    try:
        return sched.parse_time(text, zone)
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc.message}") from exc


def _calendar_caller(
    session: SessionDep,
    token: Annotated[str | None, Query(description="A token with the calendar scope.")] = None,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    """Authenticate a calendar app, which can only put a token in the URL."""
    secret = token or (credentials.credentials if credentials else None)
    _user, scopes = tokens.authenticate(session, secret)
    tokens.require_scope(scopes, Scope.CALENDAR)


CalendarCaller = Annotated[None, Depends(_calendar_caller)]


@router.get("/schedules")
def list_schedules(session: SessionDep, _caller: Reader, now: NowDep) -> list[dict[str, Any]]:
    """List schedules with their layers and who is on call now."""
    return [_schedule(s, now) for s in store.list_(session)]


@router.post("/schedules", status_code=201)
def put_schedule(
    spec: ScheduleSpec, session: SessionDep, caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Create a schedule, or replace its layers (the config file's shape)."""
    specs.put(session, spec, actor=caller.actor, now=now)
    session.commit()
    return _schedule(store.get_by_name(session, spec.name), now)


@router.get("/schedules/{name}.ics", response_class=Response)
def schedule_ics(name: str, session: SessionDep, _caller: CalendarCaller, now: NowDep) -> Response:
    """The final schedule for the next 90 days as iCalendar, gaps included."""
    schedule = store.to_core(store.get_by_name(session, name))
    shifts = sched.final_shifts(schedule, now, now + timedelta(days=FEED_DAYS))
    return Response(ical.schedule_feed(name, shifts, now=now), media_type="text/calendar")


@router.get("/users/{handle}/oncall.ics", response_class=Response)
def user_ics(handle: str, session: SessionDep, _caller: CalendarCaller, now: NowDep) -> Response:
    """When this user is on call, on any schedule, in the next 90 days, as iCalendar."""
    user = users.get_by_handle(session, handle)
    end = now + timedelta(days=FEED_DAYS)
    shifts = [
        (s.name, shift)
        for s in store.list_(session)
        for shift in sched.final_shifts(store.to_core(s), now, end)
    ]
    return Response(ical.user_feed(user.handle, shifts, now=now), media_type="text/calendar")


@router.get("/schedules/{name}")
def show_schedule(name: str, session: SessionDep, _caller: Reader, now: NowDep) -> dict[str, Any]:
    """Show a schedule: layers, restrictions and who is on call now."""
    return _schedule(store.get_by_name(session, name), now)


@router.get("/schedules/{name}/oncall")
def oncall(
    name: str,
    session: SessionDep,
    _caller: Reader,
    now: NowDep,
    at: Annotated[
        str | None, Query(description="Default now; no offset = schedule's zone.")
    ] = None,
) -> dict[str, Any]:
    """Who is on call at `at`."""
    schedule = store.to_core(store.get_by_name(session, name))
    instant = _instant(at, schedule.time_zone, now, "at")
    return {"schedule": name, "at": iso(instant), "users": list(sched.on_call(schedule, instant))}


@router.get("/schedules/{name}/final")
def final(
    name: str,
    session: SessionDep,
    _caller: Reader,
    now: NowDep,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    """The final schedule over [from, to): contiguous shifts, gaps as empty user lists."""
    schedule = store.to_core(store.get_by_name(session, name))
    start = _instant(from_, schedule.time_zone, now, "from")
    end = _instant(to, schedule.time_zone, start + timedelta(days=7), "to")
    if end <= start:
        raise InvalidInput(f"to {iso(end)} must be after from {iso(start)}")
    if end - start > MAX_RANGE:
        raise InvalidInput("ask for at most ten years at a time")
    return [
        {"start": iso(s.start), "end": iso(s.end), "users": list(s.users)}
        for s in sched.final_shifts(schedule, start, end)
    ]


@router.get("/schedules/{name}/overrides")
def list_overrides(
    name: str, session: SessionDep, _caller: Reader, now: NowDep, all: bool = False
) -> list[dict[str, Any]]:
    """List overrides (current and future ones unless all=true)."""
    return [
        override_json(o) for o in store.list_overrides(session, name, since=None if all else now)
    ]


@router.post("/schedules/{name}/overrides", status_code=201)
def add_override(
    name: str, body: OverrideIn, session: SessionDep, caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Put a user on call for a window, above every layer."""
    zone = store.get_by_name(session, name).time_zone
    problems = []
    start = end = None
    for label, text in (("start", body.start), ("end", body.end)):
        try:
            parsed = sched.parse_time(text, zone)
        except InvalidInput as exc:
            problems.append(f"{label}: {exc.message}")
            continue
        if label == "start":
            start = parsed
        else:
            end = parsed
    if problems or start is None or end is None:
        raise InvalidInput.of(problems)
    override = store.add_override(
        session,
        name,
        user=body.user,
        start=start,
        end=end,
        note=body.note,
        actor=caller.actor,
        now=now,
    )
    session.commit()
    return override_json(override)


@router.delete("/schedules/{name}/overrides/{override_id}", status_code=204)
def remove_override(
    name: str, override_id: RowId, session: SessionDep, _caller: Writer, now: NowDep
) -> Response:
    """Remove an override."""
    store.remove_override(session, name, override_id, now=now)
    session.commit()
    return Response(status_code=204)
