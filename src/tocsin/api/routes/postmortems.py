"""Postmortems and action items over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict

from tocsin.api.params import IncidentRef, RowId
from tocsin.core.incident import incident_ref
from tocsin.http.deps import NowDep, Reader, SessionDep, Writer
from tocsin.schemas import action_json, postmortem_json
from tocsin.services import actions, incidents, postmortems

router = APIRouter(tags=["postmortems"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PostmortemEdit(Body):
    body: str


class StatusIn(Body):
    status: str


class ActionIn(Body):
    action: str
    owner: str | None = None
    priority: str = "P2"
    due: date | None = None


class ActionStatusIn(Body):
    status: str


@router.post("/incidents/{ref}/postmortem", status_code=201)
def draft(
    ref: IncidentRef, request: Request, session: SessionDep, caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Draft the postmortem of a resolved incident."""
    postmortem = postmortems.draft(
        session,
        ref,
        actor=caller.actor,
        now=now,
        template_dir=request.app.state.settings.template_dir,
    )
    session.commit()
    return postmortem_json(incident_ref(incidents.get(session, ref).number), postmortem)


@router.get("/incidents/{ref}/postmortem")
def show(ref: IncidentRef, session: SessionDep, _caller: Reader) -> dict[str, Any]:
    """Show the postmortem."""
    incident, postmortem = postmortems.get(session, ref)
    return postmortem_json(incident_ref(incident.number), postmortem)


@router.get("/incidents/{ref}/postmortem.md", response_class=PlainTextResponse)
def markdown(ref: IncidentRef, session: SessionDep, _caller: Reader) -> str:
    """The postmortem as Markdown."""
    return postmortems.get(session, ref)[1].body


@router.get("/incidents/{ref}/postmortem.html", response_class=HTMLResponse)
def html(ref: IncidentRef, session: SessionDep, _caller: Reader) -> str:
    """The postmortem as an HTML fragment."""
    return postmortems.to_html(postmortems.get(session, ref)[1].body)


@router.put("/incidents/{ref}/postmortem")
def edit(
    ref: IncidentRef, body: PostmortemEdit, session: SessionDep, _caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Replace the postmortem's text."""
    postmortem = postmortems.edit(session, ref, body.body, now=now)
    session.commit()
    return postmortem_json(incident_ref(incidents.get(session, ref).number), postmortem)


@router.post("/incidents/{ref}/postmortem/status")
def set_status(
    ref: IncidentRef, body: StatusIn, session: SessionDep, _caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Move the postmortem on; publishing answers with the blameless check's warnings."""
    postmortem, warnings = postmortems.set_status(session, ref, body.status, now=now)
    session.commit()
    return postmortem_json(incident_ref(incidents.get(session, ref).number), postmortem, warnings)


@router.get("/incidents/{ref}/actions", tags=["actions"])
def list_actions(ref: IncidentRef, session: SessionDep, _caller: Reader) -> list[dict[str, Any]]:
    """An incident's action items."""
    incident = incidents.get(session, ref)
    return [action_json(i, incident.number) for i in actions.list_(session, incident=incident)]


@router.post("/incidents/{ref}/actions", status_code=201, tags=["actions"])
def addaction_json(
    ref: IncidentRef, body: ActionIn, session: SessionDep, caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Add an action item."""
    incident = incidents.get(session, ref)
    item = actions.add(
        session,
        incident=incident,
        action=body.action,
        owner=body.owner,
        priority=body.priority,
        due=body.due,
        actor=caller.actor,
        now=now,
    )
    session.commit()
    return action_json(item, incident.number)


@router.get("/actions", tags=["actions"])
def all_actions(
    session: SessionDep,
    _caller: Reader,
    now: NowDep,
    overdue: bool = False,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Every action item (overdue=true: open P0/P1 items past their due date)."""
    found = actions.list_(session, status=status, overdue=overdue, today=now.date())
    numbers = actions.incident_numbers(session, found)
    return [action_json(i, numbers.get(i.incident_id or 0)) for i in found]


@router.post("/actions/{item_id}/status", tags=["actions"])
def action_status(
    item_id: RowId, body: ActionStatusIn, session: SessionDep, _caller: Writer, now: NowDep
) -> dict[str, Any]:
    """Mark an action item done, won't do, or open."""
    item = actions.set_status(session, item_id, body.status, now=now)
    session.commit()
    return action_json(item, actions.incident_numbers(session, [item]).get(item.incident_id or 0))


@router.get("/report", tags=["metrics"])
def report(
    session: SessionDep,
    _caller: Reader,
    now: NowDep,
    since: str = "90d",
    service: str | None = None,
) -> dict[str, Any]:
    """MTTA/MTTR and the in-time share, overall and per service, severity and month."""
    from tocsin.core.timeutil import parse_duration
    from tocsin.store import reports

    start = now - parse_duration(since) if since != "all" else None
    return reports.report(session, now=now, start=start, service=service)
