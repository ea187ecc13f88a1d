"""Shift swaps over HTTP: ask for cover of part of your shift, list, show, accept, cancel.

The caller is the token's user: the requester of a new request, the taker of an accepted one,
and the person whose warnings a request shows. A request whose content is refused (a range that
is not the caller's on-call time, too short, in the past) answers 422 listing every problem; one
no longer open (taken, cancelled, expired) answers 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api.params import RowId
from tocsin.core import schedule as sched
from tocsin.core.swaps import NOTE_LENGTH
from tocsin.errors import InvalidInput
from tocsin.http.deps import NowDep, Reader, SessionDep, Writer
from tocsin.http.errors import error_body
from tocsin.services import swaps
from tocsin.store import schedules

router = APIRouter(tags=["schedules"])


class SwapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(
        max_length=64, description="ISO-8601; without an offset local to the schedule's zone."
    )
    end: str = Field(max_length=64, description="Exclusive; written alike.")
    note: str = Field("", max_length=NOTE_LENGTH, description="Why, for the teammates.")


def _refused(exc: InvalidInput) -> JSONResponse:
    return JSONResponse(error_body(exc.message, exc.problems), status_code=422)


@router.get("/schedules/{name}/swaps")
def list_swaps(
    name: str, session: SessionDep, caller: Reader, now: NowDep, open: bool = False
) -> list[dict[str, Any]]:
    """List a schedule's swap requests (only those still open with open=true), latest first."""
    found = swaps.list_(session, schedule=name, open_only=open, now=now)
    return [swaps.to_json(swaps.view(session, s, caller.user.handle, now=now)) for s in found]


@router.post("/schedules/{name}/swaps", status_code=201, response_model=None)
def request_swap(
    name: str, body: SwapIn, session: SessionDep, caller: Writer, now: NowDep
) -> dict[str, Any] | JSONResponse:
    """Ask the schedule's teammates to cover [start, end) of the caller's own shift."""
    zone = schedules.get_by_name(session, name).time_zone
    problems: list[str] = []
    bounds = []
    for label, text in (("start", body.start), ("end", body.end)):
        try:
            bounds.append(sched.parse_time(text, zone))
        except InvalidInput as exc:
            problems.append(f"{label}: {exc.message}")
    if problems:
        return _refused(InvalidInput.of(problems))
    try:
        swap = swaps.request(
            session,
            name,
            requester=caller.user.handle,
            start=bounds[0],
            end=bounds[1],
            note=body.note,
            now=now,
        )
    except InvalidInput as exc:
        return _refused(exc)
    session.commit()
    return swaps.to_json(swaps.view(session, swap, caller.user.handle, now=now))


@router.get("/swaps/{swap_id}")
def show_swap(swap_id: RowId, session: SessionDep, caller: Reader, now: NowDep) -> dict[str, Any]:
    """Show a swap request, with the warnings the caller would see before accepting it."""
    swap = swaps.get(session, swap_id)
    return swaps.to_json(swaps.view(session, swap, caller.user.handle, now=now))


@router.post("/swaps/{swap_id}/accept")
def accept_swap(swap_id: RowId, session: SessionDep, caller: Writer, now: NowDep) -> dict[str, Any]:
    """Cover the rest of the request's range: the caller becomes an override for it."""
    swap = swaps.accept(session, swap_id, taker=caller.user.handle, now=now)
    session.commit()
    return swaps.to_json(swaps.view(session, swap, caller.user.handle, now=now))


@router.post("/swaps/{swap_id}/cancel")
def cancel_swap(swap_id: RowId, session: SessionDep, caller: Writer, now: NowDep) -> dict[str, Any]:
    """Withdraw an open request (its requester, or whoever manages the schedule)."""
    swap = swaps.cancel(session, swap_id, actor=caller.user.handle, now=now)
    session.commit()
    return swaps.to_json(swaps.view(session, swap, caller.user.handle, now=now))
