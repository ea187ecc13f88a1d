"""What happened to an incident, and who reacts to it.

The incident lifecycle (`services.incidents`) records each change and returns these events; the
dispatcher hands them to the escalation, the reminders and the action items, in the same
transaction. The lifecycle knows none of its followers, so nothing imports in a circle, and a
new follower (a chat channel, a status-page subscription) is one more line in `HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.engine import escalations, reminders
from tocsin.services import actions
from tocsin.store.models import Incident


@dataclass(frozen=True, slots=True)
class Declared:
    """A new incident (its commander, if one was named, is already assigned)."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """Someone has the incident: its escalation stops and pages not yet sent are withdrawn."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """The incident went back to its escalation policy, which restarts at level 1."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class SeverityChanged:
    """The severity moved up or down: cadences and who must hear of it change with it."""

    incident: Incident
    previous: str


@dataclass(frozen=True, slots=True)
class PublicUpdatePosted:
    """A status update went to the status page."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class Resolved:
    """The incident left the open states (resolved or closed)."""

    incident: Incident


Event = Declared | Acknowledged | Unacknowledged | SeverityChanged | PublicUpdatePosted | Resolved
Handler = Callable[[Session, Event, datetime], None]


def _start_escalation(session: Session, event: Event, now: datetime) -> None:
    # A commander named at once already has it, and that is the acknowledgement.
    if event.incident.acknowledged_at is None:
        escalations.start(session, event.incident, now=now)


def _set_reminders(session: Session, event: Event, now: datetime) -> None:
    reminders.on_declared(session, event.incident, now=now)


def _stop_escalation(session: Session, event: Event, now: datetime) -> None:
    escalations.acknowledged(session, event.incident, now=now)


def _restart_escalation(session: Session, event: Event, now: datetime) -> None:
    escalations.unacknowledged(session, event.incident, now=now)


def _follow_severity(session: Session, event: Event, now: datetime) -> None:
    reminders.on_severity_changed(session, event.incident, now=now)


def _next_update_due(session: Session, event: Event, now: datetime) -> None:
    reminders.on_public_update(session, event.incident, now=now)


def _tell_resolved(session: Session, event: Event, now: datetime) -> None:
    escalations.resolved(session, event.incident, now=now)


def _runbook_action_item(session: Session, event: Event, now: datetime) -> None:
    actions.on_resolved(session, event.incident, now=now)


HANDLERS: dict[type[Event], tuple[Handler, ...]] = {
    Declared: (_start_escalation, _set_reminders),
    Acknowledged: (_stop_escalation,),
    Unacknowledged: (_restart_escalation,),
    SeverityChanged: (_follow_severity,),
    PublicUpdatePosted: (_next_update_due,),
    Resolved: (_tell_resolved, _runbook_action_item),
}


def dispatch(session: Session, events: Iterable[Event], *, now: datetime) -> None:
    """Hand each event, in order, to everything that follows it."""
    for event in events:
        for handler in HANDLERS[type(event)]:
            handler(session, event, now)
    session.flush()
