"""Incidents over HTTP: declare, run, resolve, read the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from tocsin.api.params import IncidentRef
from tocsin.engine import messages
from tocsin.http.deps import NowDep, Reader, SessionDep, Writer
from tocsin.schemas import IncidentOut, StatusUpdateOut, TimelineEventOut
from tocsin.services import incidents
from tocsin.store import notifications

router = APIRouter(prefix="/incidents", tags=["incidents"])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclareIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "All requests returning 502",
                    "severity": "SEV-1",
                    "services": ["api-gateway"],
                }
            ]
        },
    )

    title: str = Field(description="What is broken, in a line: 'All requests returning 502'.")
    severity: str = Field(description="SEV-1 (highest) .. SEV-4. Declare early; downgrade later.")
    services: list[str] = []
    impact: str = ""
    summary: str = ""
    detection: str = Field("", description="How it was detected (the alert that fired).")
    started_at: datetime | None = Field(None, description="When impact began; may be back-dated.")
    commander: str | None = Field(None, description="Handle of the incident commander.")


class EditIn(Body):
    title: str | None = None
    public_title: str | None = Field(
        None, description="The title the public status page shows (else the components)."
    )
    summary: str | None = None
    impact: str | None = None
    detection: str | None = None
    root_cause: str | None = None
    resolution: str | None = None
    started_at: datetime | None = None


class StatusIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "mitigating", "message": "Rolling back last deployment"}]
        },
    )

    status: str
    message: str | None = None


class SeverityIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"severity": "SEV-2", "reason": "Only one region is affected"}]
        },
    )

    severity: str
    reason: str


class RoleIn(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user": "alice", "role": "commander"}]}
    )

    user: str
    role: str = "commander"
    speciality: str | None = None
    handover: bool = False


class ResponderIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user": "bob", "speciality": "Networking"}]},
    )

    user: str
    speciality: str | None = None


class UpdateIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "Rolling back", "visibility": "public", "public_status": "identified"}
            ]
        },
    )

    message: str
    visibility: Literal["internal", "public"] = "internal"
    public_status: str | None = Field(
        None, description="investigating, identified, monitoring or resolved (public only)."
    )


class PageIn(Body):
    target: str = Field(
        description="Whom to page now, by their notification rules: user:HANDLE or"
        " schedule:NAME (whoever it has on call)."
    )


class NoteIn(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"message": "Error rate back under 1%"}]}
    )

    message: str


class ResolveIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "Rollback complete, traffic restored", "resolution": "Rolled back"}
            ]
        },
    )

    message: str | None = None
    resolution: str | None = None
    root_cause: str | None = None
    summary: str | None = None


def _answer(session: SessionDep, outcome: incidents.Outcome) -> IncidentOut:
    session.commit()
    return IncidentOut.of(outcome.incident, outcome.warnings)


@router.get("")
def list_incidents(
    session: SessionDep,
    _caller: Reader,
    status: Annotated[list[str] | None, Query()] = None,
    open: bool = False,
    service: str | None = None,
    severity: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[IncidentOut]:
    """List incidents, newest first."""
    found = incidents.list_(
        session,
        statuses=status,
        open_only=open,
        service=service,
        severity=severity,
        limit=limit,
    )
    return [IncidentOut.of(i) for i in found]


@router.post("", status_code=201)
def declare(body: DeclareIn, session: SessionDep, caller: Writer, now: NowDep) -> IncidentOut:
    """Declare an incident."""
    outcome = incidents.declare(session, **body.model_dump(), actor=caller.actor, now=now)
    return _answer(session, outcome)


@router.get("/{ref}")
def show(ref: IncidentRef, session: SessionDep, _caller: Reader) -> IncidentOut:
    """Show one incident."""
    return IncidentOut.of(incidents.get(session, ref))


@router.patch("/{ref}")
def edit(
    ref: IncidentRef, body: EditIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Change the title, summary, impact, detection, root cause, resolution or start."""
    changes = body.model_dump(exclude_unset=True)
    outcome = incidents.edit(session, ref, changes=changes, actor=caller.actor, now=now)
    return _answer(session, outcome)


@router.post("/{ref}/status")
def set_status(
    ref: IncidentRef, body: StatusIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Move the incident to another status."""
    outcome = incidents.set_status(
        session, ref, body.status, message=body.message, actor=caller.actor, now=now
    )
    return _answer(session, outcome)


@router.post("/{ref}/severity")
def change_severity(
    ref: IncidentRef, body: SeverityIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Upgrade or downgrade the severity, with a reason."""
    outcome = incidents.change_severity(
        session, ref, body.severity, reason=body.reason, actor=caller.actor, now=now
    )
    return _answer(session, outcome)


@router.post("/{ref}/roles")
def assign(
    ref: IncidentRef, body: RoleIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Give a user a role (commander by default)."""
    outcome = incidents.assign(
        session,
        ref,
        body.user,
        role=body.role,
        speciality=body.speciality,
        handover=body.handover,
        actor=caller.actor,
        now=now,
    )
    return _answer(session, outcome)


@router.delete("/{ref}/roles/{role}/{user}")
def unassign(
    ref: IncidentRef, role: str, user: str, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """End a user's role."""
    outcome = incidents.unassign(session, ref, user, role=role, actor=caller.actor, now=now)
    return _answer(session, outcome)


@router.post("/{ref}/responders")
def add_responder(
    ref: IncidentRef, body: ResponderIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Add a responder with a speciality."""
    outcome = incidents.assign(
        session,
        ref,
        body.user,
        role="responder",
        speciality=body.speciality,
        actor=caller.actor,
        now=now,
    )
    return _answer(session, outcome)


@router.post("/{ref}/acknowledge")
def acknowledge(ref: IncidentRef, session: SessionDep, caller: Writer, now: NowDep) -> IncidentOut:
    """Acknowledge the incident."""
    return _answer(session, incidents.acknowledge(session, ref, actor=caller.actor, now=now))


@router.post("/{ref}/page")
def page(
    ref: IncidentRef, body: PageIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Page someone about the incident now: a user, or whoever a schedule has on call."""
    return _answer(session, incidents.page(session, ref, body.target, actor=caller.actor, now=now))


@router.post("/{ref}/unacknowledge")
def unacknowledge(
    ref: IncidentRef, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Restart the escalation from level 1 (it pages now)."""
    return _answer(session, incidents.unacknowledge(session, ref, actor=caller.actor, now=now))


@router.get("/{ref}/notifications")
def list_notifications(
    ref: IncidentRef, session: SessionDep, _caller: Reader
) -> list[dict[str, Any]]:
    """Who was notified about the incident, how, and how it went."""
    return notifications.notifications_json(session, ref)


@router.post("/{ref}/updates", status_code=201)
def post_update(
    ref: IncidentRef, body: UpdateIn, session: SessionDep, caller: Writer, now: NowDep
) -> StatusUpdateOut:
    """Post an internal or public status update."""
    _outcome, update = incidents.post_update(
        session,
        ref,
        body.message,
        visibility=body.visibility,
        public_status=body.public_status,
        actor=caller.actor,
        now=now,
    )
    session.commit()
    return StatusUpdateOut.of(update)


@router.get("/{ref}/updates")
def list_updates(
    ref: IncidentRef,
    session: SessionDep,
    _caller: Reader,
    visibility: Literal["internal", "public"] | None = None,
) -> list[StatusUpdateOut]:
    """List the status updates, oldest first."""
    incident = incidents.get(session, ref)
    return [
        StatusUpdateOut.of(u)
        for u in incident.updates
        if visibility is None or u.visibility == visibility
    ]


@router.post("/{ref}/notes", status_code=201)
def add_note(
    ref: IncidentRef, body: NoteIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Add a note to the timeline."""
    return _answer(
        session, incidents.add_note(session, ref, body.message, actor=caller.actor, now=now)
    )


@router.post("/{ref}/resolve")
def resolve(
    ref: IncidentRef, body: ResolveIn, session: SessionDep, caller: Writer, now: NowDep
) -> IncidentOut:
    """Resolve the incident."""
    outcome = incidents.resolve(session, ref, **body.model_dump(), actor=caller.actor, now=now)
    return _answer(session, outcome)


@router.get("/{ref}/timeline")
def timeline(
    ref: IncidentRef, session: SessionDep, _caller: Reader, kind: str | None = None
) -> list[TimelineEventOut]:
    """Return the timeline, oldest first."""
    events = incidents.timeline(session, ref)
    return [TimelineEventOut.of(e) for e in events if kind is None or e.kind == kind]


@router.get("/{ref}/notification", response_class=PlainTextResponse)
def notification(
    ref: IncidentRef,
    request: Request,
    session: SessionDep,
    _caller: Reader,
    kind: Literal["notification", "resolution"] = "notification",
) -> str:
    """Render the INCIDENT NOTIFICATION (or the RESOLUTION summary) as text."""
    return messages.render_message(
        session, ref, kind, template_dir=request.app.state.settings.template_dir
    )
