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
from typing import Protocol

from sqlalchemy.orm import Session

from tocsin.engine import escalations, reminders
from tocsin.services import actions, subscriptions
from tocsin.store.models import Incident


@dataclass(frozen=True, slots=True)
class Declared:
    """A new incident (its commander, if one was named, is already assigned)."""

    incident: Incident
    policy: str | None = None  # the escalation policy to run instead of its service's


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """Someone has the incident: its escalation stops and pages not yet sent are withdrawn."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """The incident went back to its escalation policy, which restarts at level 1."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class EscalatedNow:
    """Someone asked for the next escalation level now, without waiting out this one's delay."""

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


Event = (
    Declared
    | Acknowledged
    | Unacknowledged
    | EscalatedNow
    | SeverityChanged
    | PublicUpdatePosted
    | Resolved
)
Handler = Callable[[Session, Event, datetime], None]


class Follower(Protocol):
    """What reacts to a change of one incident: escalations.acknowledged, reminders..."""

    def __call__(self, session: Session, incident: Incident, *, now: datetime) -> object: ...


def _of_the_incident(follower: Follower) -> Handler:
    """Return a handler that hands the event's incident to `follower`."""

    def handle(session: Session, event: Event, now: datetime) -> None:
        follower(session, event.incident, now=now)

    return handle


def _start_escalation(session: Session, event: Event, now: datetime) -> None:
    # A commander named at once already has it, and that is the acknowledgement.
    if event.incident.acknowledged_at is None:
        policy = event.policy if isinstance(event, Declared) else None
        escalations.start(session, event.incident, now=now, policy=policy)


HANDLERS: dict[type[Event], tuple[Handler, ...]] = {
    Declared: (_start_escalation, _of_the_incident(reminders.on_declared)),
    Acknowledged: (_of_the_incident(escalations.acknowledged),),
    Unacknowledged: (_of_the_incident(escalations.unacknowledged),),
    EscalatedNow: (_of_the_incident(escalations.escalate_now),),
    SeverityChanged: (_of_the_incident(reminders.on_severity_changed),),
    PublicUpdatePosted: (
        _of_the_incident(reminders.on_public_update),
        _of_the_incident(subscriptions.on_public_update),
    ),
    # Telling the paged that it is over, then the runbook's follow-up action item, then the
    # status page's subscribers if no public update told them.
    Resolved: (
        _of_the_incident(escalations.resolved),
        _of_the_incident(actions.on_resolved),
        _of_the_incident(subscriptions.on_resolved),
    ),
}


def dispatch(session: Session, events: Iterable[Event], *, now: datetime) -> None:
    """Hand each event, in order, to everything that follows it."""
    for event in events:
        for handler in HANDLERS[type(event)]:
            handler(session, event, now)
    session.flush()
