"""Action items: what is done so an incident does not happen again."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core.incident import incident_ref
from tocsin.core.postmortem import ActionStatus, parse_action_status, parse_priority
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store import users
from tocsin.store.incidents import commander_of
from tocsin.store.models import ActionItem, Incident, User

RUNBOOK = "runbook"


def add(
    session: Session,
    *,
    incident: Incident | None,
    action: str,
    owner: str | None,
    priority: str,
    due: date | None = None,
    kind: str = "manual",
    actor: str,
    now: datetime,
) -> ActionItem:
    """Add an action item; every problem is reported at once."""
    problems: list[str] = []
    if not action.strip():
        problems.append("action must not be empty")
    person: User | None = None
    if owner:
        person = users.find(session, owner)
        if person is None:
            problems.append(f"owner: unknown user {owner!r}")
    try:
        level = parse_priority(priority)
    except InvalidInput as exc:
        problems.append(exc.message)
        level = ""
    if problems:
        raise InvalidInput.of(problems)
    item = ActionItem(
        incident_id=incident.id if incident else None,
        action=action.strip(),
        owner=person,
        priority=level,
        status=ActionStatus.OPEN.value,
        due_date=due,
        kind=kind,
        created_by=actor,
        created_at=now,
    )
    session.add(item)
    session.flush()
    return item


def get(session: Session, item_id: int) -> ActionItem:
    """Return action item `item_id`, or raise NotFound."""
    item = session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"unknown action item {item_id}")
    return item


def list_(
    session: Session,
    *,
    incident: Incident | None = None,
    status: str | None = None,
    overdue: bool = False,
    today: date | None = None,
) -> list[ActionItem]:
    """Return action items: by priority, then due date. `overdue` means open P0/P1 past due."""
    query = select(ActionItem).order_by(ActionItem.priority, ActionItem.due_date, ActionItem.id)
    if incident is not None:
        query = query.where(ActionItem.incident_id == incident.id)
    if status is not None:
        query = query.where(ActionItem.status == parse_action_status(status).value)
    if overdue:
        if today is None:
            raise InvalidInput("overdue needs today's date")
        query = query.where(
            ActionItem.status == ActionStatus.OPEN.value,
            ActionItem.priority.in_(["P0", "P1"]),
            ActionItem.due_date < today,
        )
    return list(session.scalars(query))


def set_status(session: Session, item_id: int, status: str, *, now: datetime) -> ActionItem:
    """Mark an action item done, won't do, or open again."""
    item = get(session, item_id)
    target = parse_action_status(status)
    if item.status == target.value:
        raise Conflict(f"action item {item_id} is already {target.value}")
    item.status = target.value
    item.closed_at = None if target is ActionStatus.OPEN else now
    session.flush()
    return item


def on_resolved(session: Session, incident: Incident, *, now: datetime) -> ActionItem | None:
    """Add "Update the <service> runbook with the resolution steps" (the seed's last mistake).

    Added once per incident; the postmortem saying the runbook was updated closes it.
    """
    if not incident.services:
        return None
    existing = session.scalar(
        select(ActionItem).where(ActionItem.incident_id == incident.id, ActionItem.kind == RUNBOOK)
    )
    if existing is not None:
        return existing
    service = incident.services[0].service
    owner = service.owner or commander_of(incident)
    return add(
        session,
        incident=incident,
        action=f"Update the {service.slug} runbook with the resolution steps "
        f"of {incident_ref(incident.number)}",
        owner=owner.handle if owner else None,
        priority="P2",
        due=(now + timedelta(days=7)).date(),
        kind=RUNBOOK,
        actor="tocsin",
        now=now,
    )


def close_runbook_item(session: Session, incident: Incident, *, now: datetime) -> None:
    """Close the incident's runbook action item: the postmortem says the runbook is updated."""
    item = session.scalar(
        select(ActionItem).where(ActionItem.incident_id == incident.id, ActionItem.kind == RUNBOOK)
    )
    if item is not None and item.status == ActionStatus.OPEN.value:
        item.status = ActionStatus.DONE.value
        item.closed_at = now
        session.flush()


def incident_numbers(session: Session, items: list[ActionItem]) -> dict[int, int]:
    """Return {incident id: number} for the items' incidents (one query)."""
    ids = {i.incident_id for i in items if i.incident_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Incident.id, Incident.number).where(Incident.id.in_(ids)))
    return {row.id: row.number for row in rows}
