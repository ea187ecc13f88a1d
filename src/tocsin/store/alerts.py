"""Alerts in the database: dedup, routing into incidents, maintenance, heartbeats.

`ingest` is the one way alert events get in, whichever sender they came from. It only flushes;
the caller commits, and answers the sender 2xx only after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.core import schedule as sched
from tocsin.core.alerts import (
    DEFAULT_RULES,
    AlertAction,
    AlertEvent,
    AlertStatus,
    Outcome,
    Route,
    RouteAction,
    Rule,
    decide,
    route,
)
from tocsin.core.incident import EventKind, IncidentStatus, incident_ref
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store import incidents, schedules, services, severities
from tocsin.store.models import (
    Alert,
    Incident,
    IncidentService,
    Integration,
    MaintenanceWindow,
    Service,
    ServiceEvent,
    TimelineEvent,
)

OPEN_INCIDENT = [s.value for s in IncidentStatus if s.is_open]
HEARTBEAT_KEY = "heartbeat-missed"


@dataclass(frozen=True, slots=True)
class Result:
    """What one event did."""

    outcome: Outcome
    dedup_key: str
    alert_id: int | None = None
    incident: str | None = None


def rules_for(service: Service) -> list[Rule]:
    """Return the service's routing rules (the defaults unless it has its own)."""
    if not service.alert_rules:
        return list(DEFAULT_RULES)
    return [
        Rule(RouteAction(r["action"]), r.get("severity"), r.get("sev")) for r in service.alert_rules
    ]


def in_maintenance(session: Session, service_id: int, now: datetime) -> MaintenanceWindow | None:
    """Return the service's maintenance window in force at `now`, if any."""
    return session.scalar(
        select(MaintenanceWindow)
        .where(
            MaintenanceWindow.service_id == service_id,
            MaintenanceWindow.start <= now,
            MaintenanceWindow.end > now,
        )
        .limit(1)
    )


def _open_alert(session: Session, integration_id: int, dedup_key: str) -> Alert | None:
    return session.scalar(
        select(Alert).where(
            Alert.integration_id == integration_id,
            Alert.dedup_key == dedup_key,
            Alert.status != AlertStatus.RESOLVED.value,
        )
    )


def _open_incident(session: Session, service_id: int) -> Incident | None:
    return session.scalar(
        select(Incident)
        .join(IncidentService, IncidentService.incident_id == Incident.id)
        .where(IncidentService.service_id == service_id, Incident.status.in_(OPEN_INCIDENT))
        .order_by(Incident.number.desc())
        .limit(1)
    )


def _actor(integration: Integration) -> str:
    return f"{integration.type}:{integration.name}"


def _timeline(
    incident: Incident,
    *,
    at: datetime,
    actor: str,
    kind: EventKind,
    message: str,
    data: dict[str, Any],
) -> None:
    # Appended through the session rather than the relationship, so a busy incident's whole
    # timeline is not loaded for every alert event.
    session = Session.object_session(incident)
    assert session is not None
    session.add(
        TimelineEvent(
            incident_id=incident.id, at=at, actor=actor, kind=kind.value, message=message, data=data
        )
    )
    incident.updated_at = at


def ingest(
    session: Session, integration: Integration, events: list[AlertEvent], *, now: datetime
) -> list[Result]:
    """Apply sender events to alerts and incidents; return what each did."""
    results = []
    for event in events:
        results.append(_ingest_one(session, integration, event, now=now))
    session.flush()
    return results


def _ingest_one(
    session: Session, integration: Integration, event: AlertEvent, *, now: datetime
) -> Result:
    alert = _open_alert(session, integration.id, event.dedup_key)
    outcome = decide(event.action, AlertStatus(alert.status) if alert else None)
    if outcome is Outcome.IGNORED:
        return Result(outcome, event.dedup_key, alert.id if alert else None)
    if outcome is Outcome.OPENED:
        alert = _open(session, integration, event, now=now)
        if alert is None:  # another node opened it a moment ago: this is a repeat
            alert = _open_alert(session, integration.id, event.dedup_key)
            assert alert is not None
            outcome = Outcome.REPEATED
        else:
            return Result(outcome, event.dedup_key, alert.id, _ref(session, alert))
    assert alert is not None
    actor = _actor(integration)
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if outcome is Outcome.REPEATED:
        alert.count += 1
        alert.last_seen = now
        if event.summary:
            alert.summary = event.summary
        if incident is not None:
            _timeline(
                incident,
                at=now,
                actor=actor,
                kind=EventKind.ALERT_REPEATED,
                message=f"Alert repeated (x{alert.count}): {alert.summary}",
                data={"alert": alert.id, "count": alert.count},
            )
    elif outcome is Outcome.ACKNOWLEDGED:
        alert.status = AlertStatus.ACKNOWLEDGED.value
        alert.acknowledged_at = now
        alert.last_seen = now
        if incident is not None:
            _timeline(
                incident,
                at=now,
                actor=actor,
                kind=EventKind.ALERT_ACKNOWLEDGED,
                message=f"Alert acknowledged by {integration.type}: {alert.summary}",
                data={"alert": alert.id},
            )
    elif outcome is Outcome.RESOLVED:
        _resolve_alert(session, alert, incident, actor=actor, now=now)
    return Result(outcome, event.dedup_key, alert.id, _ref(session, alert))


def _ref(session: Session, alert: Alert) -> str | None:
    if alert.incident_id is None:
        return None
    number = session.scalar(select(Incident.number).where(Incident.id == alert.incident_id))
    return incident_ref(number) if number is not None else None


def _open(
    session: Session, integration: Integration, event: AlertEvent, *, now: datetime
) -> Alert | None:
    service = integration.service
    decision: Route = route(event.severity, event.raw_severity, rules_for(service))
    window = in_maintenance(session, service.id, now)
    alert = Alert(
        integration_id=integration.id,
        service_id=service.id,
        dedup_key=event.dedup_key,
        status=AlertStatus.TRIGGERED.value,
        severity=event.severity,
        raw_severity=event.raw_severity,
        sev=decision.sev,
        route=decision.action.value,
        suppressed=window is not None,
        summary=event.summary or event.dedup_key,
        source=event.source[:300],
        details=dict(event.details),
        links=[{"href": link.href, "text": link.text} for link in event.links],
        count=1,
        first_seen=now,
        last_seen=now,
    )
    try:
        # The partial unique index on open (integration, key) is the arbiter between nodes.
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return None
    if window is not None or decision.action is RouteAction.ALERT:
        return alert
    # Two senders often notify about the same outage at once (Alertmanager's webhook and its
    # pagerduty_configs do). Lock the service row so only one of them declares the incident and
    # the other attaches to it; on SQLite, BEGIN IMMEDIATE already serializes writers.
    session.execute(select(Service.id).where(Service.id == service.id).with_for_update())
    incident = _open_incident(session, service.id)
    actor = _actor(integration)
    if incident is None and decision.action is RouteAction.INCIDENT:
        incident = _declare_for(session, service, alert, integration, decision, now=now)
    if incident is None:
        return alert
    alert.incident_id = incident.id
    _timeline(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ALERT_ATTACHED,
        message=f"Alert triggered: {alert.summary} [{event.raw_severity or event.severity}] "
        f"via {integration.name} ({integration.type})",
        data={"alert": alert.id, "dedup_key": alert.dedup_key, "severity": alert.severity},
    )
    if decision.sev and incident.severity != decision.sev:
        scale = severities.scale(session)
        if scale.compare(decision.sev, incident.severity) < 0:
            incidents.change_severity(
                session,
                incident,
                decision.sev,
                reason=f"a {event.raw_severity or event.severity} alert arrived: {alert.summary}",
                actor=actor,
                now=now,
            )
    return alert


def _declare_for(
    session: Session,
    service: Service,
    alert: Alert,
    integration: Integration,
    decision: Route,
    *,
    now: datetime,
) -> Incident:
    commander = _commander_for(session, service, now)
    outcome = incidents.declare(
        session,
        title=alert.summary[:300],
        severity=decision.sev or "SEV-2",
        services=[service.slug],
        detection=f"{integration.type} alert via {integration.name}: {alert.summary}"[:2000],
        started_at=min(now, alert.first_seen),
        commander=commander,
        actor=_actor(integration),
        now=now,
    )
    return outcome.incident


def _commander_for(session: Session, service: Service, now: datetime) -> str | None:
    """Return the IC the service's policy names: `user:HANDLE` or the on-call of `schedule:NAME`."""
    policy = service.incident_commander
    if not policy:
        return None
    kind, _, name = policy.partition(":")
    if kind == "user":
        return name
    schedule = schedules.find(session, name)
    if schedule is None:
        return None
    on_call = sched.on_call(schedules.to_core(schedule), now)
    return on_call[0] if on_call else None


def _resolve_alert(
    session: Session, alert: Alert, incident: Incident | None, *, actor: str, now: datetime
) -> None:
    alert.status = AlertStatus.RESOLVED.value
    alert.resolved_at = now
    alert.last_seen = now
    if incident is None:
        return
    _timeline(
        incident,
        at=now,
        actor=actor,
        kind=EventKind.ALERT_RESOLVED,
        message=f"Alert resolved: {alert.summary}",
        data={"alert": alert.id},
    )
    session.flush()
    # Resolves of an incident's alerts often arrive together; the incident row lock makes the
    # last of them see the others' commits, so "all resolved" is said exactly once.
    session.execute(select(Incident.id).where(Incident.id == incident.id).with_for_update())
    still_open = session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(Alert.incident_id == incident.id, Alert.status != AlertStatus.RESOLVED.value)
    )
    if not still_open and IncidentStatus(incident.status).is_open:
        last = session.scalar(
            select(func.max(Alert.resolved_at)).where(Alert.incident_id == incident.id)
        )
        _timeline(
            incident,
            # Never before the resolve it follows, whichever node's clock stamped that one.
            at=max(now, last) if last else now,
            actor="tocsin",
            kind=EventKind.ALERTS_RESOLVED,
            message="All alerts resolved; the incident stays open until a person resolves it",
            data={},
        )


# --- people acting on alerts ------------------------------------------------------------------


def get(session: Session, alert_id: int) -> Alert:
    """Return alert `alert_id`, or raise NotFound."""
    found = session.get(Alert, alert_id)
    if found is None:
        raise NotFound(f"unknown alert {alert_id}")
    return found


def list_(
    session: Session,
    *,
    status: list[str] | None = None,
    open_only: bool = False,
    service: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Return alerts, most recently seen first."""
    query = select(Alert).order_by(Alert.last_seen.desc(), Alert.id.desc()).limit(limit)
    if open_only:
        query = query.where(Alert.status != AlertStatus.RESOLVED.value)
    if status:
        wanted = []
        for s in status:
            try:
                wanted.append(AlertStatus(s.lower()).value)
            except ValueError:
                raise InvalidInput(
                    f"unknown alert status {s!r}; valid: {', '.join(AlertStatus)}"
                ) from None
        query = query.where(Alert.status.in_(wanted))
    if service:
        query = query.where(Alert.service_id == services.get_by_slug(session, service).id)
    return list(session.scalars(query))


def acknowledge(session: Session, alert_id: int, *, actor: str, now: datetime) -> Alert:
    """Acknowledge an alert by hand."""
    alert = get(session, alert_id)
    if alert.status != AlertStatus.TRIGGERED.value:
        raise Conflict(
            f"alert {alert_id} is {alert.status}; only a triggered alert can be acknowledged"
        )
    alert.status = AlertStatus.ACKNOWLEDGED.value
    alert.acknowledged_at = now
    if alert.incident_id:
        incident = session.get(Incident, alert.incident_id)
        assert incident is not None
        _timeline(
            incident,
            at=now,
            actor=actor,
            kind=EventKind.ALERT_ACKNOWLEDGED,
            message=f"Alert acknowledged by {actor}: {alert.summary}",
            data={"alert": alert.id},
        )
    session.flush()
    return alert


def resolve(session: Session, alert_id: int, *, actor: str, now: datetime) -> Alert:
    """Resolve an alert by hand."""
    alert = get(session, alert_id)
    if alert.status == AlertStatus.RESOLVED.value:
        raise Conflict(f"alert {alert_id} is already resolved")
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    _resolve_alert(session, alert, incident, actor=actor, now=now)
    session.flush()
    return alert


# --- maintenance windows ----------------------------------------------------------------------


def add_maintenance(
    session: Session,
    *,
    service: str,
    start: datetime,
    end: datetime,
    reason: str = "",
    actor: str,
    now: datetime,
) -> MaintenanceWindow:
    """Suppress paging for `service` from `start` to `end`; alerts are still recorded."""
    svc = services.get_by_slug(session, service)
    if end <= start:
        raise InvalidInput(f"maintenance for {service!r} must end after it starts")
    if end <= now:
        raise InvalidInput(f"maintenance for {service!r} would already be over")
    window = MaintenanceWindow(
        service=svc, start=start, end=end, reason=reason.strip(), created_by=actor, created_at=now
    )
    session.add(window)
    session.add(
        ServiceEvent(
            service_id=svc.id,
            at=now,
            kind="maintenance",
            summary=f"Maintenance {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
            + (f": {reason.strip()}" if reason.strip() else ""),
            source=actor,
            details={},
        )
    )
    session.flush()
    return window


def list_maintenance(
    session: Session, *, service: str | None = None, since: datetime | None = None
) -> list[MaintenanceWindow]:
    """Return maintenance windows (those ending after `since`, if given), by start."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.start)
    if service:
        query = query.where(
            MaintenanceWindow.service_id == services.get_by_slug(session, service).id
        )
    if since is not None:
        query = query.where(MaintenanceWindow.end > since)
    return list(session.scalars(query))


def end_maintenance(session: Session, window_id: int, *, now: datetime) -> MaintenanceWindow:
    """End a maintenance window now (or delete it if it has not started)."""
    window = session.get(MaintenanceWindow, window_id)
    if window is None:
        raise NotFound(f"unknown maintenance window {window_id}")
    if window.start > now:
        session.delete(window)
    else:
        window.end = min(window.end, now)
    session.flush()
    return window


# --- change events and heartbeats --------------------------------------------------------------


def record_change(
    session: Session,
    integration: Integration,
    *,
    summary: str,
    source: str,
    at: datetime,
    details: dict[str, Any],
) -> ServiceEvent:
    """Put a change (a deploy, a config push) on the service's timeline."""
    event = ServiceEvent(
        service_id=integration.service_id,
        at=at,
        kind="change",
        summary=summary,
        source=source or _actor(integration),
        details=details,
    )
    session.add(event)
    session.flush()
    return event


def service_timeline(session: Session, service: str, *, limit: int = 100) -> list[ServiceEvent]:
    """Return the newest entries of a service's own timeline."""
    svc = services.get_by_slug(session, service)
    return list(
        session.scalars(
            select(ServiceEvent)
            .where(ServiceEvent.service_id == svc.id)
            .order_by(ServiceEvent.at.desc(), ServiceEvent.id.desc())
            .limit(limit)
        )
    )


def ping(session: Session, integration: Integration, *, now: datetime) -> list[Result]:
    """Record a heartbeat: the next is due an interval from now; a missed-beat alert resolves."""
    if integration.heartbeat_interval_seconds is None:
        raise InvalidInput(f"integration {integration.name!r} is not a heartbeat")
    integration.heartbeat_last_ping_at = now
    integration.heartbeat_deadline_at = now + timedelta(
        seconds=integration.heartbeat_interval_seconds
    )
    return ingest(session, integration, [AlertEvent(AlertAction.RESOLVE, HEARTBEAT_KEY)], now=now)


def missed_heartbeats(session: Session, *, now: datetime) -> list[Result]:
    """Open an alert for every heartbeat whose deadline has passed; return what was done."""
    due = session.scalars(
        select(Integration)
        .where(Integration.heartbeat_deadline_at <= now)
        .order_by(Integration.heartbeat_deadline_at)
    ).all()
    results = []
    for integration in due:
        last = integration.heartbeat_last_ping_at
        since = f"no ping since {last:%Y-%m-%d %H:%M:%S} UTC" if last else "no ping yet"
        minutes = (integration.heartbeat_interval_seconds or 0) // 60
        event = AlertEvent(
            AlertAction.TRIGGER,
            HEARTBEAT_KEY,
            summary=f"Heartbeat {integration.name} of {integration.service.slug} missed: {since} "
            f"(expected every {minutes} min)",
            severity="error",
            raw_severity="error",
            source="tocsin heartbeat",
        )
        results += ingest(session, integration, [event], now=now)
        # Until the next ping there is nothing more to wait for; the open alert says it all.
        integration.heartbeat_deadline_at = None
    session.flush()
    return results


def next_heartbeat_deadline(session: Session) -> datetime | None:
    """Return the earliest heartbeat deadline still ahead."""
    return session.scalar(select(func.min(Integration.heartbeat_deadline_at)))


def incident_numbers(session: Session, found: list[Alert]) -> dict[int, int]:
    """Return {incident id: number} for the incidents these alerts are attached to (one query)."""
    ids = {a.incident_id for a in found if a.incident_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Incident.id, Incident.number).where(Incident.id.in_(ids)))
    return {row[0]: row[1] for row in rows}
