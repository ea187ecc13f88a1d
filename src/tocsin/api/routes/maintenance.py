"""Public maintenance on the status page, over HTTP: announce, list, show, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tocsin.api.params import RowId
from tocsin.errors import InvalidInput
from tocsin.http.deps import NowDep, Reader, SessionDep, Writer
from tocsin.http.errors import error_body
from tocsin.schemas import PublicMaintenanceOut
from tocsin.services import maintenance

router = APIRouter(tags=["status page"])


class PublicMaintenanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="What customers read, in a line (at most 200 characters).")
    components: list[str] = Field(description="The slugs of the status components it affects.")
    start: AwareDatetime | None = Field(None, description="When it starts; default: now.")
    end: AwareDatetime
    message: str = Field("", description="More for customers: what changes for them.")
    silence: bool = Field(
        True,
        description="Page nobody for the components' services meanwhile; false keeps paging.",
    )


def _base_url(request: Request) -> str:
    base: str = request.app.state.settings.base_url
    return base


@router.get("/status/maintenance")
def list_public_maintenance(
    session: SessionDep, _caller: Reader, now: NowDep, all: bool = False
) -> list[PublicMaintenanceOut]:
    """List public maintenance, soonest first: scheduled and in progress, or every one."""
    return [
        PublicMaintenanceOut.of(session, row, now=now)
        for row in maintenance.list_(session, now=now, all_=all)
    ]


@router.post("/status/maintenance", status_code=201, response_model=PublicMaintenanceOut)
def announce_public_maintenance(
    request: Request, body: PublicMaintenanceIn, session: SessionDep, caller: Writer, now: NowDep
) -> Any:
    """Announce maintenance on the status page and to its subscribers.

    By default the services of its components page nobody while it runs (`silence`). A body
    with problems (an empty or long title, unknown components, an end before the start or
    already past) is refused with 422 listing every one of them.
    """
    try:
        row = maintenance.announce(
            session,
            title=body.title,
            components=body.components,
            start=body.start or now,
            end=body.end,
            message=body.message,
            silence=body.silence,
            actor=caller.actor,
            now=now,
            base_url=_base_url(request),
        )
    except InvalidInput as exc:
        # The body has the documented shape but says something impossible: every problem at
        # once, in the answer a malformed field gets.
        return JSONResponse(error_body(exc.message, exc.problems), status_code=422)
    session.commit()
    return PublicMaintenanceOut.of(session, row, now=now)


@router.get("/status/maintenance/{maintenance_id}")
def show_public_maintenance(
    maintenance_id: RowId, session: SessionDep, _caller: Reader, now: NowDep
) -> PublicMaintenanceOut:
    """Show one public maintenance."""
    return PublicMaintenanceOut.of(session, maintenance.get(session, maintenance_id), now=now)


@router.post("/status/maintenance/{maintenance_id}/cancel")
def cancel_public_maintenance(
    request: Request, maintenance_id: RowId, session: SessionDep, _caller: Writer, now: NowDep
) -> PublicMaintenanceOut:
    """Cancel public maintenance before or during it: paging resumes, subscribers are told.

    409 if it is already completed or cancelled.
    """
    row = maintenance.cancel(session, maintenance_id, now=now, base_url=_base_url(request))
    session.commit()
    return PublicMaintenanceOut.of(session, row, now=now)
