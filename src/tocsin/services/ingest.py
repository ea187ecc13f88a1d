"""The alert pipeline: authenticate, dedup, route, open or attach an incident, start escalation.

Every alert enters here, whoever sends it: the HTTP writer (`ingest_many`, many senders' requests
per transaction), the heartbeats the engine finds missed and the drills (`ingest`, one
integration's events). This is the hot path, so it works in a few set-based statements per batch
rather than a few queries per event: one query finds the open alerts the batch names, new alerts go
in with one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING, changed ones with one
executemany UPDATE, timeline entries with one INSERT. Rare steps (declaring an incident, upgrading
its severity) use the ordinary incident functions.

The partial unique index on open (integration, dedup key) is the arbiter between nodes: an
insert that loses the race to another node is skipped by ON CONFLICT and applied as a repeat.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    String,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, lazyload

from tocsin.core import routing, runbook
from tocsin.core import schedule as sched
from tocsin.core.alerts import (
    AlertAction,
    AlertEvent,
    AlertSeverity,
    AlertStatus,
    Outcome,
    Route,
    RouteAction,
    Rule,
    decide,
    default_level,
    default_rules,
)
from tocsin.core.incident import EventKind, IncidentStatus, incident_ref
from tocsin.core.matchers import event_labels, stored_labels
from tocsin.core.severity import SeverityScale
from tocsin.core.timeutil import duration_text
from tocsin.errors import InvalidInput, TocsinError
from tocsin.ingest import alertmanager
from tocsin.services import incidents
from tocsin.store import integrations, policies, schedules, severities, users
from tocsin.store import services as service_rows
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import (
    Alert,
    AlertInhibitKey,
    Incident,
    IncidentService,
    Integration,
    MaintenanceWindow,
    Service,
    TimelineEvent,
)

log = logging.getLogger("tocsin.ingest")
_R = TypeVar("_R")

OPEN_INCIDENT = [s.value for s in IncidentStatus if s.is_open]
_ALERTS: Table = Alert.__table__  # type: ignore[assignment]
_TIMELINE: Table = TimelineEvent.__table__  # type: ignore[assignment]
_KEYS: Table = AlertInhibitKey.__table__  # type: ignore[assignment]
_CHUNK = 500  # keys per IN (...) list, well under SQLite's variable limit
_ACTOR = TimelineEvent.__table__.c.actor.type.length  # type: ignore[attr-defined]
_RUNBOOK = _ALERTS.c.runbook.type.length  # type: ignore[attr-defined]
# The route of an alert recorded while its group waits for open_after; it becomes "incident"
# when the group's incident opens and takes it.
HELD = "held"


@dataclass(frozen=True, slots=True)
class Result:
    """What one event did."""

    outcome: Outcome
    dedup_key: str
    alert_id: int | None = None
    incident: str | None = None


@dataclass(eq=False)
class _Alert:
    """An open alert as the batch sees it; written back at the end."""

    integration_id: int
    dedup_key: str
    status: str
    count: int
    summary: str
    incident_id: int | None
    id: int | None = None
    new: bool = False
    changed: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    last_seen: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    inhibit_keys: list[tuple[str, bool]] = field(default_factory=list)
    inserted: bool = False  # this batch's insert made the row (not another node's)
    filed: bool = False  # stored with inhibit keys (see AlertInhibitKey)
    # The count the row held when this batch read it: the batch adds what it counted since,
    # so that another node's repeats, counted at the same time, are not overwritten.
    stored_count: int = 0


@dataclass
class _Entry:
    """A timeline entry waiting for its alert's id."""

    incident_id: int
    kind: EventKind
    message: str
    actor: str
    alert: _Alert
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Closer:
    """Who acknowledged or resolved an incident's alert: a sender or a person."""

    actor: str
    sender: str | None  # the integration's type when the sender itself said it


@dataclass
class _OpenIncident:
    id: int
    severity: str


@dataclass
class _ServiceState:
    rules: list[Rule]
    in_maintenance: bool
    routes: routing.RouteTable = field(default_factory=lambda: routing.RouteTable(()))
    inhibit: list[routing.InhibitRule] = field(default_factory=list)
    group_by: tuple[str, ...] = ()
    window: timedelta | None = None
    open_after: routing.OpenAfter | None = None
    # The firing alerts of the service that inhibit under each inhibit key (see
    # AlertInhibitKey): those stored, read once per batch for the keys it asks about, and those
    # this batch opened, which are written only at its end.
    sources: dict[str, list[routing.Source]] = field(default_factory=dict)
    keys_read: set[str] = field(default_factory=set)
    keys_wanted: set[str] = field(default_factory=set)
    opened: dict[str, list[routing.Source]] = field(default_factory=dict)
    # Each alert group's open incident (None: it has none), looked up once per batch; when
    # `incidents_read`, every open incident of the service was read and a group not here has none.
    incidents: dict[str, _OpenIncident | None] = field(default_factory=dict)
    incidents_read: bool = False
    # Each group's recent firings, for open_after: read once, then the batch's own added.
    firings: dict[str, list[routing.Firing]] = field(default_factory=dict)
    firings_read: bool = False


@dataclass(frozen=True)
class _Placement:
    """Where an event's alert goes: the service (after label routes) and its routing decision."""

    service: Service
    decision: Route
    policy: str | None = None  # the escalation policy of an incident it opens, if not the service's
    labels: dict[str, str] | None = None  # the event's labels, when routes or inhibition need them
    group: str | None = None  # its alert group, when the service groups by labels
    # The inhibit keys under which a firing alert would quiet it (see routing.target_keys).
    inhibited_under: tuple[tuple[str, bool], ...] = ()


class Batch:
    """One transaction's worth of alert events."""

    def __init__(self, session: Session, *, now: datetime) -> None:
        self.session = session
        self.now = now
        self.alerts: dict[tuple[int, str], _Alert] = {}
        self.services: dict[int, _ServiceState] = {}
        self.entries: list[_Entry] = []
        self.touched: dict[int, _Closer] = {}
        self.acknowledged: dict[int, _Closer] = {}
        self._resolved: list[_Alert] = []
        self._looked: set[tuple[int, str]] = set()
        self.upgrades: list[tuple[int, str, str, str]] = []
        self._scale: SeverityScale | None = None
        self._locked: set[int] = set()
        self._by_slug: dict[str, Service | None] = {}
        self._loaded: list[Service] = []
        self._placed: dict[int, _Placement] = {}
        self._opened: dict[int, int] = {}  # incident id -> number, of those this batch opened
        self._resolved_keys: set[str] = set()

    # --- what the batch knows --------------------------------------------------------------

    def scale(self) -> SeverityScale:
        if self._scale is None:
            self._scale = severities.scale(self.session)
        return self._scale

    def prefetch(self, integration_id: int, keys: Iterable[str]) -> None:
        """Load the open alerts among `keys` of one integration, in as few queries as can be."""
        wanted = [k for k in dict.fromkeys(keys) if (integration_id, k) not in self._looked]
        self._looked.update((integration_id, k) for k in wanted)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self.session.execute(
                select(
                    _ALERTS.c.id,
                    _ALERTS.c.dedup_key,
                    _ALERTS.c.status,
                    _ALERTS.c["count"].label("n"),
                    _ALERTS.c.summary,
                    _ALERTS.c.incident_id,
                    # whether it is filed under inhibit keys: one index probe, read here so a
                    # resolve knows without another query whether it has keys to drop
                    exists().where(_KEYS.c.alert_id == _ALERTS.c.id).label("filed"),
                ).where(
                    _ALERTS.c.integration_id == integration_id,
                    _ALERTS.c.status != AlertStatus.RESOLVED.value,
                    _ALERTS.c.dedup_key.in_(chunk),
                )
            )
            for row in rows:
                self.alerts[(integration_id, row.dedup_key)] = _Alert(
                    integration_id,
                    row.dedup_key,
                    row.status,
                    row.n,
                    row.summary,
                    row.incident_id,
                    id=row.id,
                    filed=bool(row.filed),
                    stored_count=row.n,
                )

    def service(self, service: Service) -> _ServiceState:
        state = self.services.get(service.id)
        if state is None:
            self._load_states([service])
            state = self.services[service.id]
        return state

    def _load_states(self, wanted: Sequence[Service]) -> None:
        """Read what the batch needs of these services, and of the services their label routes
        send to, in a few queries for all of them rather than a few for each."""
        new = {s.id: s for s in wanted if s.id not in self.services}
        routes = {service.id: _routes(service) for service in new.values()}
        targets = {
            rule.service
            for table in routes.values()
            for rule in table.rules
            if rule.service is not None and rule.service not in self._by_slug
        }
        if targets:
            found = {
                row.slug: row
                for row in self.session.scalars(
                    select(Service)
                    .where(Service.slug.in_(targets))
                    .options(lazyload(Service.owner))  # routing never needs it
                )
            }
            self._by_slug.update({slug: found.get(slug) for slug in targets})
            # Routing is one hop: the routes of the services routed to send nothing further.
            new.update({row.id: row for row in found.values() if row.id not in self.services})
        if not new:
            return
        in_window = set(
            self.session.scalars(
                select(MaintenanceWindow.service_id).where(
                    MaintenanceWindow.service_id.in_(list(new)),
                    MaintenanceWindow.start <= self.now,
                    MaintenanceWindow.end > self.now,
                )
            )
        )
        self._loaded += new.values()
        for service in new.values():
            self.services[service.id] = _ServiceState(
                self._rules(service),
                service.id in in_window,
                routes.get(service.id) or _routes(service),
                _inhibit_rules(service),
                tuple(service.group_by or ()),
                _seconds(service.group_window_seconds),
                _open_after(service),
            )

    def _rules(self, service: Service) -> list[Rule]:
        """Return the service's routing rules, or the defaults placed on the scale in force."""
        if not service.alert_rules:
            return list(default_rules(self.scale()))
        return [
            Rule(RouteAction(r["action"]), r.get("severity"), r.get("sev"))
            for r in service.alert_rules
        ]

    def lock_services(self, work: Iterable[tuple[Integration, Sequence[AlertEvent]]]) -> None:
        """Lock, in id order, the services whose open incident these events may look up.

        Two senders often notify about one outage at once (Alertmanager's webhook and its
        pagerduty_configs do): the service row lock makes one declare, the other attach. Locked
        in arrival order, two nodes' batches can wait for each other and PostgreSQL aborts one
        (SQLSTATE 40P01); locked in one order up front, they only queue. Call it after
        `prefetch`, which tells which triggers may open an alert.
        """
        work = list(work)
        resolving = {
            (integration.id, e.dedup_key)
            for integration, events in work
            for e in events
            if e.action is AlertAction.RESOLVE
        }
        wanted: set[int] = set()
        for integration, events in work:
            # Without label routes or inhibit rules every event stays with the integration's
            # service, and one event that needs its incident is enough to know the lock is
            # needed; with them, each event is placed now (and asks for its inhibit keys).
            origin = integration.service
            routed = bool(origin.routes or origin.inhibit_rules)
            if not routed and integration.service.id in wanted | self._locked:
                continue
            for e in events:
                key = (integration.id, e.dedup_key)
                if e.action is not AlertAction.TRIGGER or (
                    key in self.alerts and key not in resolving
                ):
                    continue  # a repeat, an acknowledgement or a resolve: no incident look-up
                placed = self._place(integration, e)
                target = self.service(placed.service)
                if not target.in_maintenance and placed.decision.action is not RouteAction.ALERT:
                    wanted.add(placed.service.id)
                    target.keys_wanted.update(inhibit for inhibit, _ in placed.inhibited_under)
                    if not routed:
                        break
        wanted -= self._locked
        self._lock(Service, wanted)
        self._locked |= wanted
        self._read_incidents([s for s in self._loaded if s.id in wanted])

    def _lock(self, model: type[Service] | type[Incident], ids: Iterable[int]) -> None:
        # FOR NO KEY UPDATE: it excludes other batches like FOR UPDATE does, but not the key
        # share locks that foreign key checks take (inserting an alert or a timeline entry),
        # which FOR UPDATE would make wait and so deadlock. On SQLite, BEGIN IMMEDIATE already
        # serializes writers and there is no row lock: nothing to do.
        if self.session.get_bind().dialect.name == "sqlite":
            return
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _CHUNK):
            self.session.execute(
                select(model.id)
                .where(model.id.in_(wanted[start : start + _CHUNK]))
                .order_by(model.id)
                .with_for_update(key_share=True)
            ).all()

    def open_incident(self, service: Service, group: str | None) -> _OpenIncident | None:
        """Return the open incident that takes a new alert of the service's `group`, if any.

        Without `group_by`, that is the service's newest open incident; with it, the newest one
        opened for the group. With a `group_window`, only while the incident's newest alert is
        that recent: past it, the alert opens an incident of its own.
        """
        state = self.service(service)
        key = group or ""
        if key not in state.incidents and not state.incidents_read:
            self._ensure_locked(service)
            self._read_incidents([service], group)
        return state.incidents.get(key)

    def _read_incidents(self, wanted: Sequence[Service], group: str | None = None) -> None:
        """Read the open incidents of these services (of one group: only that group's) in one
        query, the newest of each group first."""
        if not wanted:
            return
        states = {service.id: self.service(service) for service in wanted}
        columns: list[Any] = [
            IncidentService.service_id,
            IncidentService.group_key,
            Incident.id,
            Incident.severity,
        ]
        if any(state.window is not None for state in states.values()):
            newest = (
                select(func.max(_ALERTS.c.first_seen))
                .where(_ALERTS.c.incident_id == Incident.id)
                .scalar_subquery()
            )
            columns.append(newest.label("newest"))
        query = (
            select(*columns)
            .join(IncidentService, IncidentService.incident_id == Incident.id)
            .where(
                IncidentService.service_id.in_(list(states)),
                Incident.status.in_(OPEN_INCIDENT),
            )
            .order_by(Incident.number.desc())
        )
        if group is not None:
            query = query.where(IncidentService.group_key == group)
        seen: set[tuple[int, str]] = set()
        for row in self.session.execute(query):
            state = states[row.service_id]
            key = (row.group_key or "") if state.group_by else ""
            if (row.service_id, key) in seen:
                continue  # an older one: the newest of a group takes its alerts
            seen.add((row.service_id, key))
            last = row.newest if state.window is not None else None
            joins = routing.joins_group(last, self.now, state.window)
            state.incidents[key] = _OpenIncident(row.id, row.severity) if joins else None
        for state in states.values():
            if group is None:
                state.incidents_read = True
            else:
                state.incidents.setdefault(group, None)

    def _ensure_locked(self, service: Service) -> None:
        if service.id not in self._locked:
            # A service `lock_services` did not foresee: lock it now (a deadlock with another
            # node is then possible, and the writer retries the batch).
            self._lock(Service, [service.id])
            self._locked.add(service.id)

    # --- applying events -----------------------------------------------------------------------

    def apply(
        self, integration: Integration, events: Sequence[AlertEvent], *, actor: str | None = None
    ) -> list[Pending]:
        """Apply `events` in order; return their results, complete once `finish` has run."""
        who = (actor or f"{integration.type}:{integration.name}")[:_ACTOR]
        closer = _Closer(who, None if actor else integration.type)
        self.prefetch(integration.id, (e.dedup_key for e in events))
        return [self._apply_one(integration, event, closer) for event in events]

    def _apply_one(self, integration: Integration, event: AlertEvent, closer: _Closer) -> Pending:
        actor = closer.actor
        key = (integration.id, event.dedup_key)
        alert = self.alerts.get(key)
        outcome = decide(event.action, AlertStatus(alert.status) if alert else None)
        if outcome is Outcome.IGNORED:
            return Pending(outcome, event.dedup_key, alert)
        if outcome is Outcome.OPENED:
            alert = self._open(integration, event, actor)
            self.alerts[key] = alert
            return Pending(outcome, event.dedup_key, alert)
        assert alert is not None
        alert.changed = True
        alert.last_seen = self.now
        if outcome is Outcome.REPEATED:
            alert.count += 1
            if event.summary:
                alert.summary = event.summary
            self._entry(
                alert,
                EventKind.ALERT_REPEATED,
                actor,
                f"Alert repeated (x{alert.count}): {alert.summary}",
                count=alert.count,
            )
        elif outcome is Outcome.ACKNOWLEDGED:
            alert.status = AlertStatus.ACKNOWLEDGED.value
            alert.acknowledged_at = self.now
            by = actor if ":" not in actor else actor.split(":", 1)[0]
            self._entry(
                alert,
                EventKind.ALERT_ACKNOWLEDGED,
                actor,
                f"Alert acknowledged by {by}: {alert.summary}",
            )
            if alert.incident_id is not None:
                self.acknowledged[alert.incident_id] = closer
        else:
            alert.status = AlertStatus.RESOLVED.value
            alert.resolved_at = self.now
            self._entry(alert, EventKind.ALERT_RESOLVED, actor, f"Alert resolved: {alert.summary}")
            if alert.incident_id is not None:
                self.touched[alert.incident_id] = closer
            # A trigger after this resolve, even in the same batch, opens a new alert.
            del self.alerts[(alert.integration_id, alert.dedup_key)]
            resolved = _key(alert.integration_id, alert.dedup_key)
            self._resolved_keys.add(resolved)
            for state in self.services.values():
                for opened in state.opened.values():
                    opened[:] = [source for source in opened if source.key != resolved]
            self._resolved.append(alert)
        return Pending(outcome, event.dedup_key, alert)

    def _entry(
        self, alert: _Alert, kind: EventKind, actor: str, message: str, **extra: Any
    ) -> None:
        if alert.incident_id is not None:
            self.entries.append(
                _Entry(alert.incident_id, kind, message, actor, alert, self.now, extra)
            )

    def _place(self, integration: Integration, event: AlertEvent) -> _Placement:
        """Return where the event's alert goes: the integration's service's label routes may
        send it to another service, at a severity, or drop it (recorded, never paged).

        Decided once per event: `lock_services` needs it before `_open` does.
        """
        placed = self._placed.get(id(event))
        if placed is not None:
            return placed
        origin = integration.service
        routes = self.service(origin).routes
        labels = event_labels(event) if routes else None
        routed = routing.route(routes, labels) if labels is not None else routing.Routed()
        service = origin
        if routed.service is not None and routed.service != origin.slug:
            found = self._service_named(routed.service)
            if found is None:
                log.error(
                    "a route of service %s sends alerts to service %r, which no longer exists;"
                    " the alert stays with %s",
                    origin.slug,
                    routed.service,
                    origin.slug,
                )
            else:
                service = found
        state = self.service(service)
        if labels is None and (state.inhibit or state.group_by):
            labels = event_labels(event)
        group = routing.group_key(labels or {}, state.group_by) if state.group_by else None
        decision = routing.decide(routed, event, state.rules)
        under = (
            tuple(routing.target_keys(state.inhibit, labels)) if state.inhibit and labels else ()
        )
        placed = _Placement(
            service, self._known_severity(decision), routed.policy, labels, group, under
        )
        self._placed[id(event)] = placed
        return placed

    def _inhibitor(
        self, state: _ServiceState, key: str, wanted: Sequence[tuple[str, bool]]
    ) -> str | None:
        """Return the summary of a firing alert of the service that inhibits this one, which
        would be filed under the keys `wanted` (its `_Placement.inhibited_under`)."""
        if not wanted:
            return None
        missing = {inhibit for inhibit, _ in wanted} - state.keys_read
        if missing:
            state.keys_wanted |= missing
            self._read_sources()
        resolved = self._resolved_keys

        def firing(inhibit: str) -> Iterable[routing.Source]:
            stored, opened = state.sources.get(inhibit), state.opened.get(inhibit)
            if not stored:
                return opened or ()
            return [*(s for s in stored if s.key not in resolved), *(opened or ())]

        found = routing.inhibitor(wanted, firing, key=key)
        return found.summary if found is not None else None

    def _read_sources(self) -> None:
        """Read the firing alerts filed under the inhibit keys the batch's alerts will ask
        about (`lock_services` collected them), of every service, in one query."""
        wanted = {
            service_id: state.keys_wanted - state.keys_read
            for service_id, state in self.services.items()
            if state.keys_wanted - state.keys_read
        }
        keys = sorted(set().union(*wanted.values()))
        dialect = self.session.get_bind().dialect.name
        rows = self.session.execute(
            _sources_query(dialect),
            {"services": _listed(dialect, list(wanted)), "keys": _listed(dialect, keys)},
        )
        for row in rows:
            if row.key not in wanted[row.service_id]:
                continue  # another service's key: two services with the same rule
            self.services[row.service_id].sources.setdefault(row.key, []).append(
                routing.Source(
                    _key(row.integration_id, row.dedup_key), row.matches_target, row.summary
                )
            )
        for service_id, read in wanted.items():
            self.services[service_id].keys_read |= read

    def _service_named(self, slug: str) -> Service | None:
        if slug not in self._by_slug:  # read with the routes' other targets, unless renamed since
            self._by_slug[slug] = service_rows.find(self.session, slug)
        return self._by_slug[slug]

    def _open(self, integration: Integration, event: AlertEvent, actor: str) -> _Alert:
        placed = self._place(integration, event)
        service = placed.service
        state = self.service(service)
        decision = placed.decision
        summary = event.summary or event.dedup_key
        inhibitor = None
        key = _key(integration.id, event.dedup_key)
        inhibit_keys: list[tuple[str, bool]] = []
        if state.inhibit:
            labels = placed.labels if placed.labels is not None else event_labels(event)
            if not state.in_maintenance and decision.action is not RouteAction.ALERT:
                inhibitor = self._inhibitor(state, key, placed.inhibited_under)
                if inhibitor is not None:
                    # Recorded and attached, but it opens no incident, upgrades none, pages nobody.
                    decision = Route(RouteAction.ATTACH, None)
            inhibit_keys = routing.source_keys(state.inhibit, labels)
            for inhibit, matches_target in inhibit_keys:
                state.opened.setdefault(inhibit, []).append(
                    routing.Source(key, matches_target, summary)
                )
        alert = _Alert(
            integration.id, event.dedup_key, AlertStatus.TRIGGERED.value, 1, summary, None, new=True
        )
        alert.inhibit_keys = inhibit_keys
        alert.values = {
            "integration_id": integration.id,
            "service_id": service.id,
            "dedup_key": event.dedup_key,
            "severity": event.severity.value,
            "raw_severity": event.raw_severity,
            "sev": decision.sev,
            "route": decision.action.value,
            "group_key": placed.group,
            "suppressed": state.in_maintenance,
            "source": event.source[:300],
            "runbook": runbook_reference(event.details) or matching_runbook_rule(service, event),
            "details": dict(event.details),
            "links": [{"href": link.href, "text": link.text} for link in event.links],
            "first_seen": self.now,
        }
        if state.in_maintenance or decision.action is RouteAction.ALERT:
            return alert
        incident = self.open_incident(service, placed.group)
        counted = None
        if state.open_after is not None and incident is None:
            counted = self._count_firing(state, service, placed.group, key)
            if decision.action is RouteAction.INCIDENT and counted < state.open_after.count:
                # Recorded and held: the group opens no incident until enough alerts fired.
                alert.values["route"] = HELD
                return alert
        if incident is None and decision.action is RouteAction.INCIDENT:
            declared = incidents.declare(
                self.session,
                title=summary[:300],
                severity=decision.sev or self._unplaced_level(),
                services=[service],
                detection=f"{integration.type} alert via {integration.name}: {summary}"[:2000],
                commander=self._commander(service),
                commander_answered=False,
                policy=placed.policy,
                group=placed.group,
                actor=actor,
                now=self.now,
            ).incident
            incident = _OpenIncident(declared.id, declared.severity)
            self._opened[declared.id] = declared.number
            state.incidents[placed.group or ""] = incident
            if counted is not None:
                self._attach_held(state, service, placed.group, incident, actor)
        if incident is None:
            return alert
        alert.incident_id = incident.id
        notes = []
        if counted is not None and state.open_after is not None:
            notes.append(
                f"{_ordinal(counted)} alert of its group within "
                f"{duration_text(int(state.open_after.within.total_seconds()))}: open_after reached"
            )
        if inhibitor:
            notes.append(f"inhibited by {inhibitor}, it pages nobody")
        self._entry(
            alert,
            EventKind.ALERT_ATTACHED,
            actor,
            f"Alert triggered: {summary} [{event.raw_severity or event.severity}] "
            f"via {integration.name} ({integration.type})" + "".join(f"; {note}" for note in notes),
            dedup_key=event.dedup_key,
            severity=event.severity.value,
            **({"inhibited_by": inhibitor} if inhibitor else {}),
        )
        if decision.sev and self.scale().compare(decision.sev, incident.severity) < 0:
            # Applied after the alert's own timeline entry, which it follows.
            reason = f"a {event.raw_severity or event.severity} alert arrived: {summary}"
            self.upgrades.append((incident.id, decision.sev, reason, actor))
            incident.severity = decision.sev
        return alert

    def _count_firing(
        self, state: _ServiceState, service: Service, group: str | None, key: str
    ) -> int:
        """Add this alert's firing to its group's and return how many count for open_after.

        Firings in maintenance and alerts that page nobody (dropped, low urgency) do not count.
        """
        assert state.open_after is not None
        if not state.firings_read:
            # Every group's recent firings in one query, whichever groups the batch touches.
            since = self.now - state.open_after.within
            rows = self.session.execute(
                select(
                    _ALERTS.c.integration_id,
                    _ALERTS.c.dedup_key,
                    _ALERTS.c.group_key,
                    _ALERTS.c.first_seen,
                    _ALERTS.c.resolved_at,
                ).where(
                    _ALERTS.c.service_id == service.id,
                    _ALERTS.c.last_seen >= since,  # first_seen <= last_seen: the index narrows it
                    _ALERTS.c.first_seen >= since,
                    _ALERTS.c.suppressed.is_(False),
                    _ALERTS.c.route != RouteAction.ALERT.value,
                )
            )
            for r in rows:
                if state.group_by and r.group_key is None:
                    continue  # stored before the service grouped: it counts for no group
                state.firings.setdefault(r.group_key or "", []).append(
                    routing.Firing(_key(r.integration_id, r.dedup_key), r.first_seen, r.resolved_at)
                )
            state.firings_read = True
        firings = state.firings.setdefault(group or "", [])
        firings.append(routing.Firing(key, self.now))
        return routing.firings_counted(state.open_after, firings, self.now)

    def _attach_held(
        self,
        state: _ServiceState,
        service: Service,
        group: str | None,
        incident: _OpenIncident,
        actor: str,
    ) -> None:
        """Attach the group's open alerts held for open_after to the incident that opened."""
        query = select(
            _ALERTS.c.id,
            _ALERTS.c.integration_id,
            _ALERTS.c.dedup_key,
            _ALERTS.c.summary,
            _ALERTS.c.severity,
            _ALERTS.c.raw_severity,
            _ALERTS.c.sev,
        ).where(
            _ALERTS.c.service_id == service.id,
            # No index of its own: a partial index on held alerts slowed every batch's writes
            # by a third on SQLite, and this runs only when a group reaches its count.
            _ALERTS.c.route == HELD,
            _ALERTS.c.status != AlertStatus.RESOLVED.value,
            _ALERTS.c.incident_id.is_(None),
        )
        if group is not None:
            query = query.where(_ALERTS.c.group_key == group)
        # (alert, the sender's severity word, the severity it would have opened at)
        held: list[tuple[_Alert, str, str | None]] = []
        for row in self.session.execute(query.order_by(_ALERTS.c.id)):
            known = self.alerts.get((row.integration_id, row.dedup_key))
            if known is not None and known.id != row.id:
                continue  # resolved earlier in this batch (and fired again as a new alert)
            if known is None:
                if _key(row.integration_id, row.dedup_key) in self._resolved_keys:
                    continue  # resolved earlier in this batch: it no longer fires
                known = _Alert(
                    row.integration_id, row.dedup_key, "", 0, row.summary, None, id=row.id
                )
            held.append((known, row.raw_severity or row.severity, row.sev))
        stored = sorted(a.id for a, _, _ in held if a.id is not None)
        for start in range(0, len(stored), _CHUNK):
            self.session.execute(
                update(_ALERTS)
                .where(_ALERTS.c.id.in_(stored[start : start + _CHUNK]))
                .values(incident_id=incident.id, route=RouteAction.INCIDENT.value),
                execution_options={"synchronize_session": False},
            )
        held += [
            (a, a.values["raw_severity"] or a.values["severity"], a.values["sev"])
            for a in self.alerts.values()
            if a.new
            and a.values.get("route") == HELD
            and a.values["service_id"] == service.id
            and a.values["group_key"] == group
        ]
        scale = self.scale()
        for alert, severity, sev in held:
            alert.incident_id = incident.id
            if alert.new:
                alert.values["route"] = RouteAction.INCIDENT.value
            self._entry(
                alert,
                EventKind.ALERT_ATTACHED,
                actor,
                f"Alert triggered: {alert.summary} [{severity}]; held until its group reached"
                " open_after",
                dedup_key=alert.dedup_key,
                held=True,
            )
            if sev and sev in scale.names and scale.compare(sev, incident.severity) < 0:
                # A held alert more severe than the one that opened the incident raises it, as
                # it would have had it arrived after the incident opened.
                reason = f"a held {severity} alert joined: {alert.summary}"
                self.upgrades.append((incident.id, sev, reason, actor))
                incident.severity = sev

    def _known_severity(self, decision: Route) -> Route:
        """Return `decision` with a severity the scale knows: an alert must page, not fail.

        A rule can name a severity that a later change of the scale removed; the alert then
        opens the incident at the most severe level, the safe side, and the log says why.
        """
        if decision.sev is None:
            return decision
        scale = self.scale()
        try:
            return Route(decision.action, scale.get(decision.sev).name)
        except InvalidInput:
            log.error(
                "a routing rule names severity %r, which the scale no longer has; using %s",
                decision.sev,
                scale.names[0],
            )
            return Route(decision.action, scale.names[0])

    def _unplaced_level(self) -> str:
        """Return the level for an `incident` rule stored without one (rules are checked now).

        It is where an unclassified alert opens by default: the level of an `error`.
        """
        scale = self.scale()
        return default_level(AlertSeverity.ERROR, scale) or scale.names[0]

    def _commander(self, service: Service) -> str | None:
        """Return the IC the service's policy names: `user:HANDLE` or `schedule:NAME`'s on-call."""
        policy = service.incident_commander
        if not policy:
            return None
        kind, _, name = policy.partition(":")
        if kind == "user":
            # A policy naming a since-deleted user must not keep the alert from its incident.
            return name if users.find(self.session, name) is not None else None
        schedule = schedules.find(self.session, name)
        if schedule is None:
            return None
        on_call = sched.on_call(schedules.to_core(schedule), self.now)
        return on_call[0] if on_call else None

    # --- writing back ----------------------------------------------------------------------

    def finish(self) -> None:
        """Write every change of the batch; results know their alert ids afterwards."""
        self.session.flush()  # incidents declared on the way need their rows first
        # Every incident row this batch will write, locked up front in id order (see
        # lock_services): writing them one by one in arrival order deadlocks between nodes.
        self._lock(
            Incident,
            [
                *(e.incident_id for e in self.entries),
                *(u[0] for u in self.upgrades),
                *self.touched,
                *self.acknowledged,
            ],
        )
        self._insert_new()
        self._insert_inhibit_keys()
        self._update_changed()
        self._forget_inhibit_keys()
        self._insert_entries()
        self._upgrade_severities()
        self._say_all_resolved()
        self._acknowledge_with_the_alerts()

    def _upgrade_severities(self) -> None:
        scale = self.scale()
        for incident_id, sev, reason, actor in self.upgrades:
            incident = self.session.get(Incident, incident_id)
            if incident is not None and scale.compare(sev, incident.severity) < 0:
                incidents.change_severity(
                    self.session, incident, sev, reason=reason, actor=actor, now=self.now
                )
        self.session.flush()

    def _all(self) -> list[_Alert]:
        return [*self.alerts.values(), *self._resolved]

    def _insert_new(self) -> None:
        # In one order on every node: two inserts of one open key wait for each other.
        new = sorted(
            (a for a in self._all() if a.new), key=lambda a: (a.integration_id, a.dedup_key)
        )
        if not new:
            return
        rows = [
            {
                **a.values,
                "status": a.status,
                "count": a.count,
                "summary": a.summary,
                "incident_id": a.incident_id,
                "last_seen": a.last_seen or self.now,
                "acknowledged_at": a.acknowledged_at,
                "resolved_at": a.resolved_at,
            }
            for a in new
        ]
        dialect = self.session.get_bind().dialect.name
        statement = _insert_skipping_open_duplicates(dialect)
        returned = self.session.execute(
            statement.returning(
                _ALERTS.c.id, _ALERTS.c.integration_id, _ALERTS.c.dedup_key, _ALERTS.c.status
            ),
            rows,
        ).all()
        # One key can have several new rows in a batch (fired, resolved, fired again): at most
        # one of them open, which is the one whose id matters (its inhibit keys, its incident).
        ids: dict[tuple[int, str, bool], list[int]] = {}
        for r in returned:
            open_ = r.status != AlertStatus.RESOLVED.value
            ids.setdefault((r.integration_id, r.dedup_key, open_), []).append(r.id)
        for alert in new:
            open_ = alert.status != AlertStatus.RESOLVED.value
            found = ids.get((alert.integration_id, alert.dedup_key, open_))
            alert.id = found.pop(0) if found else None
            alert.new = False
            alert.inserted = alert.id is not None
            alert.stored_count = alert.count if alert.inserted else 0
            if alert.id is None:
                # Another node opened this alert between our look and our insert: fold ours
                # into theirs as repeats.
                self._fold_into_existing(alert)

    def _insert_inhibit_keys(self) -> None:
        rows = [
            {
                "alert_id": a.id,
                "key": inhibit,
                "service_id": a.values["service_id"],
                "matches_target": matches_target,
            }
            for a in self._all()
            if a.inserted and a.inhibit_keys and a.status != AlertStatus.RESOLVED.value
            for inhibit, matches_target in a.inhibit_keys
        ]
        if rows:
            self.session.execute(insert(_KEYS), rows)

    def _forget_inhibit_keys(self) -> None:
        """Drop the inhibit keys of the alerts this batch resolved: they quiet nothing now, and
        a key's look-up should not wade through every time an alert fired under it. (Look-ups
        skip resolved alerts anyway: this only keeps the table small.)"""
        resolved = sorted(a.id for a in self._resolved if a.id is not None and a.filed)
        for start in range(0, len(resolved), _CHUNK):
            self.session.execute(
                delete(_KEYS).where(_KEYS.c.alert_id.in_(resolved[start : start + _CHUNK]))
            )

    def _fold_into_existing(self, alert: _Alert) -> None:
        row = self.session.execute(
            select(_ALERTS.c.id, _ALERTS.c["count"].label("n"), _ALERTS.c.incident_id).where(
                _ALERTS.c.integration_id == alert.integration_id,
                _ALERTS.c.dedup_key == alert.dedup_key,
                _ALERTS.c.status != AlertStatus.RESOLVED.value,
            )
        ).one()
        alert.id = row.id
        alert.count += row.n
        alert.stored_count = row.n
        alert.incident_id = row.incident_id
        alert.changed = True
        alert.last_seen = self.now

    def _update_changed(self) -> None:
        changed = sorted(
            (a for a in self._all() if a.changed and a.id is not None), key=lambda a: a.id or 0
        )
        if not changed:
            return
        self.session.execute(
            update(_ALERTS)
            .where(_ALERTS.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                count=_ALERTS.c["count"] + bindparam("b_added"),
                summary=bindparam("b_summary"),
                last_seen=bindparam("b_last_seen", type_=_ALERTS.c.last_seen.type),
                acknowledged_at=func.coalesce(
                    bindparam("b_acknowledged_at", type_=_ALERTS.c.acknowledged_at.type),
                    _ALERTS.c.acknowledged_at,
                ),
                resolved_at=bindparam("b_resolved_at", type_=_ALERTS.c.resolved_at.type),
            ),
            [
                {
                    "b_id": a.id,
                    "b_status": a.status,
                    "b_added": a.count - a.stored_count,
                    "b_summary": a.summary,
                    "b_last_seen": a.last_seen or self.now,
                    "b_acknowledged_at": a.acknowledged_at,
                    "b_resolved_at": a.resolved_at,
                }
                for a in changed
            ],
            execution_options={"synchronize_session": False},
        )

    def _insert_entries(self) -> None:
        if not self.entries:
            return
        self.session.execute(
            insert(_TIMELINE),
            [
                {
                    "incident_id": e.incident_id,
                    "at": e.at,
                    "actor": e.actor,
                    "kind": e.kind.value,
                    "message": e.message,
                    "data": {"alert": e.alert.id, **e.extra},
                }
                for e in self.entries
            ],
        )
        # An incident this batch declared has this batch's time already.
        touched = sorted({e.incident_id for e in self.entries} - self._opened.keys())
        for start in range(0, len(touched), _CHUNK):
            self.session.execute(
                update(Incident)
                .where(Incident.id.in_(touched[start : start + _CHUNK]))
                .values(updated_at=self.now),
                execution_options={"synchronize_session": False},
            )

    def _still_open(self, incident_id: int, *statuses: AlertStatus) -> int:
        """Return how many of the incident's alerts are in one of `statuses`."""
        count = self.session.scalar(
            select(func.count())
            .select_from(_ALERTS)
            .where(
                _ALERTS.c.incident_id == incident_id,
                _ALERTS.c.status.in_([status.value for status in statuses]),
            )
        )
        return count or 0

    def _open_incident_row(self, incident_id: int) -> Incident | None:
        # Acknowledgements and resolves of an incident's alerts often arrive together on several
        # nodes; `finish` locked the incident row before writing the alerts, so the last of them
        # sees the others' commits and what follows from "every alert" is done exactly once.
        incident = self.session.get(Incident, incident_id, populate_existing=True)
        if incident is None or not IncidentStatus(incident.status).is_open:
            return None
        return incident

    def _say_all_resolved(self) -> None:
        """Say when an incident's last alert is resolved, and resolve it if its service says so."""
        for incident_id, closer in sorted(self.touched.items()):
            incident = self._open_incident_row(incident_id)
            if incident is None or self._still_open(
                incident_id, AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED
            ):
                continue
            last = self.session.scalar(
                select(func.max(_ALERTS.c.resolved_at)).where(_ALERTS.c.incident_id == incident_id)
            )
            # never before the resolve it follows, whichever node's clock stamped it
            at = max(self.now, last) if last else self.now
            # The incident's own service decides, wherever the alert's integration belongs.
            auto_resolve = any(link.service.auto_resolve for link in incident.services)
            stays = "" if auto_resolve else "; the incident stays open until a person resolves it"
            self.session.execute(
                insert(_TIMELINE),
                [
                    {
                        "incident_id": incident_id,
                        "at": at,
                        "actor": "tocsin",
                        "kind": EventKind.ALERTS_RESOLVED.value,
                        "message": f"All alerts resolved{stays}",
                        "data": {},
                    }
                ],
            )
            if auto_resolve:
                by = f"the sender ({closer.sender})" if closer.sender else closer.actor
                self.session.expire(incident, ["events"])
                incidents.resolve(
                    self.session,
                    incident,
                    message=f"All alerts resolved by {by}; the service resolves its incidents"
                    " with their alerts (auto_resolve)",
                    actor=closer.actor,
                    now=at,
                )

    def _acknowledge_with_the_alerts(self) -> None:
        """Acknowledge an incident whose open alerts are all acknowledged, as PagerDuty does.

        The sender acknowledging an alert says someone has it; once no alert of the incident is
        left unacknowledged, the escalation stops as if a responder had acknowledged.
        """
        for incident_id, closer in sorted(self.acknowledged.items()):
            incident = self._open_incident_row(incident_id)
            if incident is None or self._still_open(incident_id, AlertStatus.TRIGGERED):
                continue
            if (
                incident.acknowledged_at is not None
                and policies.is_acknowledged(self.session, incident) is not False
            ):
                continue  # already acknowledged, and its escalation with it
            incidents.acknowledge(
                self.session, incident, actor=closer.actor, sender=closer.sender, now=self.now
            )

    def results(self, *pending: list[Pending]) -> list[list[Result]]:
        """Return finished results for each list of pending ones (call after `finish`)."""
        numbers = self._incident_numbers(
            p.alert.incident_id for group in pending for p in group if p.alert
        )
        return [
            [
                Result(
                    p.outcome,
                    p.dedup_key,
                    p.alert.id if p.alert else None,
                    incident_ref(numbers[p.alert.incident_id])
                    if p.alert and p.alert.incident_id in numbers
                    else None,
                )
                for p in group
            ]
            for group in pending
        ]

    def _incident_numbers(self, ids: Iterable[int | None]) -> dict[int, int]:
        wanted = {i for i in ids if i is not None}
        # The incidents this batch opened are known; only the others are read.
        known = {i: self._opened[i] for i in wanted if i in self._opened}
        if not wanted - known.keys():
            return known
        rows = self.session.execute(
            select(Incident.id, Incident.number).where(Incident.id.in_(wanted - known.keys()))
        )
        return known | {row.id: row.number for row in rows}


@dataclass
class Pending:
    outcome: Outcome
    dedup_key: str
    alert: _Alert | None


# What `stored_labels` reads of an alert row.
_LABEL_COLUMNS = (
    _ALERTS.c.id,
    _ALERTS.c.integration_id,
    _ALERTS.c.dedup_key,
    _ALERTS.c.summary,
    _ALERTS.c.severity,
    _ALERTS.c.raw_severity,
    _ALERTS.c.source,
    _ALERTS.c.details,
)


def flag_inhibiting(session: Session, service: Service) -> int:
    """File the service's open alerts under its current inhibit rules again.

    Called when a service's inhibit rules change, so that alerts already firing quiet the
    alerts that arrive after the change; returns how many open alerts can inhibit now.
    """
    rules = _inhibit_rules(service)
    if session.get_bind().dialect.name == "postgresql":
        # The lock ingest takes on the service (see Batch.lock_services): a batch that read the
        # old rules files its alerts before this, or waits and reads the new ones.
        session.execute(
            select(Service.id).where(Service.id == service.id).with_for_update(key_share=True)
        ).all()
    session.execute(delete(_KEYS).where(_KEYS.c.service_id == service.id))
    rows = session.execute(
        select(*_LABEL_COLUMNS).where(
            _ALERTS.c.service_id == service.id,
            _ALERTS.c.status != AlertStatus.RESOLVED.value,
        )
    ).all()
    keys = [
        {"alert_id": row.id, "key": inhibit, "service_id": service.id, "matches_target": both}
        for row in rows
        for inhibit, both in routing.source_keys(rules, stored_labels(row))
    ]
    if keys:
        session.execute(insert(_KEYS), keys)
    return len({key["alert_id"] for key in keys})


def runbook_reference(details: Any) -> str | None:
    """Return the `service#scenario` a sender put in a `runbook` label, annotation or detail."""
    places = [details]
    if isinstance(details, dict):
        places += [details.get(key) for key in ("labels", "annotations", "custom_details")]
    for place in places:
        if isinstance(place, dict) and isinstance(place.get("runbook"), str):
            try:
                service, slug = runbook.parse_reference(place["runbook"])
            except InvalidInput:
                continue  # a runbook URL or free text: not ours to follow
            if len(service) + 1 + len(slug) > _RUNBOOK:
                continue  # longer than any service's scenario can be
            return f"{service}#{slug}"
    return None


def matching_runbook_rule(service: Service, event: AlertEvent) -> str | None:
    """Return `service#scenario` of the first of the service's runbook rules the alert matches.

    A rule matches when every field it names equals the alert's: a label, an annotation, a
    detail, or the alert's `summary` or `source`.
    """
    if not service.runbook_rules:
        return None
    fields: dict[str, Any] = {"summary": event.summary, "source": event.source}
    details = event.details
    for nested in ("custom_details", "annotations", "labels"):
        if isinstance(details.get(nested), dict):
            fields.update(details[nested])
    fields.update({k: v for k, v in details.items() if not isinstance(v, dict)})
    for rule in service.runbook_rules:
        wanted: dict[str, Any] = rule.get("match", {})
        if wanted and all(str(fields.get(key)) == str(value) for key, value in wanted.items()):
            return f"{service.slug}#{rule['scenario']}"
    return None


def _insert_skipping_open_duplicates(dialect: str) -> Any:
    # The same literal predicate as the partial index, so the database can match the two.
    where = text("status != 'resolved'")
    if dialect == "postgresql":
        return postgresql.insert(_ALERTS).on_conflict_do_nothing(
            index_elements=["integration_id", "dedup_key"], index_where=where
        )
    return sqlite.insert(_ALERTS).on_conflict_do_nothing(
        index_elements=["integration_id", "dedup_key"], index_where=where
    )


def ingest(
    session: Session,
    integration: Integration,
    events: Sequence[AlertEvent],
    *,
    now: datetime,
    actor: str | None = None,
) -> list[Result]:
    """Apply one sender's events to alerts and incidents; return what each did."""
    batch = Batch(session, now=now)
    pending = batch.apply(integration, events, actor=actor)
    batch.finish()
    return batch.results(pending)[0]


Adjust = Callable[[Integration, Sequence[AlertEvent]], Sequence[AlertEvent]]


@dataclass(frozen=True, slots=True)
class Submission:
    """One sender's request: its integration key, the route's type, and the parsed events."""

    key: str | None
    expect: IntegrationType | None
    events: Sequence[AlertEvent]


def _routes(service: Service) -> routing.RouteTable:
    """Return the service's stored label routes as core rules (checked when they were applied)."""
    return _route_table(json.dumps(service.routes or []))


@functools.lru_cache(maxsize=256)
def _route_table(stored: str) -> routing.RouteTable:
    return routing.RouteTable(_parsed(stored, routing.rule_of))


@functools.cache
def _sources_query(dialect: str) -> Any:
    """Return the query of the firing alerts filed under some inhibit keys of some services.

    Built once: a batch asks for hundreds of keys, and building the statement and binding one
    parameter per key took ten times longer than the database takes to answer. The lists are
    one parameter each (see `_listed`).
    """
    return (
        select(
            _KEYS.c.service_id,
            _KEYS.c.key,
            _KEYS.c.matches_target,
            _ALERTS.c.integration_id,
            _ALERTS.c.dedup_key,
            _ALERTS.c.summary,
        )
        .join(_ALERTS, _ALERTS.c.id == _KEYS.c.alert_id)
        .where(
            _one_of(dialect, _KEYS.c.service_id, "services", Integer),
            _one_of(dialect, _KEYS.c.key, "keys", String),
            _ALERTS.c.status != AlertStatus.RESOLVED.value,
        )
    )


def _one_of(dialect: str, column: Any, name: str, kind: type[Integer] | type[String]) -> Any:
    """Return `column IN (the list in parameter name)`: an array on PostgreSQL, a JSON array
    read with json_each on SQLite."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name, type_=postgresql.ARRAY(kind)))
    listed: Any = select(literal_column("value")).select_from(func.json_each(bindparam(name)))
    return column.in_(listed.scalar_subquery())


def _listed(dialect: str, values: list[Any]) -> Any:
    """Return a list as `_one_of` binds it."""
    return values if dialect == "postgresql" else json.dumps(values)


def _key(integration_id: int, dedup_key: str) -> str:
    return f"{integration_id}:{dedup_key}"


def _seconds(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def _open_after(service: Service) -> routing.OpenAfter | None:
    """Return the service's flap suppression, if it has one."""
    if service.open_after_count is None or service.open_after_seconds is None:
        return None
    return routing.OpenAfter(
        service.open_after_count,
        timedelta(seconds=service.open_after_seconds),
        _seconds(service.flap_window_seconds),
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _inhibit_rules(service: Service) -> list[routing.InhibitRule]:
    """Return the service's stored inhibit rules as core rules (checked when applied)."""
    return list(_parsed(json.dumps(service.inhibit_rules or []), routing.inhibit_rule_of))


@functools.lru_cache(maxsize=256)
def _parsed(stored: str, rule_of: Callable[[dict[str, Any]], _R]) -> tuple[_R, ...]:
    """Return stored rules (as JSON text) parsed, once per process for each text: every batch
    reads them, and 50 routes' regexes take longer to parse than the batch takes to route."""
    return tuple(rule_of(spec) for spec in json.loads(stored))


def for_integration(integration: Integration, events: Sequence[AlertEvent]) -> list[AlertEvent]:
    """Return `events` as the integration's service reads them.

    An Alertmanager service may name another label than `severity` for the severity; raises
    InvalidInput listing every value of that label that cannot be stored.
    """
    if integration.type == IntegrationType.ALERTMANAGER.value:
        return alertmanager.with_severity_label(list(events), integration.service.severity_label)
    return list(events)


def ingest_many(
    session: Session,
    submissions: Sequence[Submission],
    *,
    now: datetime,
    seen: Callable[[Integration], None] | None = None,
) -> list[list[Result] | TocsinError]:
    """Apply many senders' submissions in one batch; return each one's results or refusal.

    Each distinct key is authenticated once; a key that is unknown, or not for the route it came
    by, refuses its own submission only. `seen` hears of every integration whose key was valid.
    """
    batch = Batch(session, now=now)
    answers: list[list[Result] | TocsinError | None] = []
    ready: list[tuple[int, Integration, Sequence[AlertEvent]]] = []
    known: dict[str | None, Integration | TocsinError] = {}
    for submission in submissions:
        if submission.key not in known:
            try:
                found = integrations.authenticate(session, submission.key)
                if seen is not None:
                    seen(found)
                known[submission.key] = found
            except TocsinError as exc:
                known[submission.key] = exc
        integration = known[submission.key]
        try:
            if isinstance(integration, TocsinError):
                raise integration
            integrations.check_type(integration, submission.expect)
            read = for_integration(integration, submission.events)
        except TocsinError as exc:
            answers.append(exc)
            continue
        ready.append((len(answers), integration, read))
        answers.append(None)
    # One look-up per integration for the whole batch, not one per request.
    keys: dict[int, list[str]] = {}
    for _i, integration, events in ready:
        keys.setdefault(integration.id, []).extend(e.dedup_key for e in events)
    for integration_id, wanted in keys.items():
        batch.prefetch(integration_id, wanted)
    batch.lock_services((integration, events) for _i, integration, events in ready)
    pending = [batch.apply(integration, events) for _i, integration, events in ready]
    batch.finish()
    for (i, _integration, _events), results in zip(ready, batch.results(*pending), strict=True):
        answers[i] = results
    done: list[list[Result] | TocsinError] = []
    for answer in answers:
        assert answer is not None  # every submission was refused or applied above
        done.append(answer)
    return done
