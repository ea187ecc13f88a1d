"""The public status page, decided from values: component states, current incidents, history.

What customers see is only what responders chose to publish. An incident appears once it has a
public update, under its public title (or the names of the components it affects, never the
internal title, which often quotes an alert). Internal updates, notes, people and alert details
are not inputs here, so they cannot leak out of this module. Drills never appear.

Component states follow Statuspage's five: an open published incident puts every component of
its services into the state its severity maps to (the highest severity is a major outage, the
next a partial outage, any other degraded performance); an active maintenance window shows
"under maintenance" unless an incident is worse. A component's state is the worst of those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from tocsin.core.incident import PublicStatus

HISTORY_DAYS = 90


class ComponentState(StrEnum):
    """A component's state on the status page, best first."""

    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def label(self) -> str:
        """Return the words customers read."""
        return self.value.replace("_", " ").capitalize()

    @property
    def badness(self) -> int:
        """Return how bad the state is: 0 operational .. 4 major outage."""
        return list(ComponentState).index(self)


BANNER = {
    ComponentState.OPERATIONAL: "All systems operational",
    ComponentState.UNDER_MAINTENANCE: "Scheduled maintenance in progress",
    ComponentState.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentState.PARTIAL_OUTAGE: "Partial system outage",
    ComponentState.MAJOR_OUTAGE: "Major system outage",
}


def state_for_rank(rank: int) -> ComponentState:
    """Return the component state an incident of severity `rank` (1 = highest) causes."""
    if rank <= 1:
        return ComponentState.MAJOR_OUTAGE
    if rank == 2:
        return ComponentState.PARTIAL_OUTAGE
    return ComponentState.DEGRADED_PERFORMANCE


@dataclass(frozen=True, slots=True)
class Component:
    slug: str
    name: str
    description: str
    services: frozenset[str]


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    at: datetime
    status: PublicStatus
    message: str


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What the status page may know of an incident (nothing internal is passed in)."""

    number: int
    public_title: str | None
    severity_rank: int
    is_open: bool
    services: frozenset[str]
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]
    is_drill: bool = False


@dataclass(frozen=True, slots=True)
class Maintenance:
    services: frozenset[str]
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class PublicIncident:
    """An incident as the status page shows it."""

    number: int
    title: str
    impact: ComponentState
    components: tuple[str, ...]
    status: PublicStatus
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]  # newest first

    @property
    def anchor(self) -> str:
        """Return the fragment id of the incident on the page."""
        return f"incident-{self.number}"


@dataclass(frozen=True, slots=True)
class ComponentView:
    slug: str
    name: str
    description: str
    state: ComponentState
    days: tuple[tuple[date, ComponentState], ...]  # oldest first, HISTORY_DAYS of them


@dataclass(frozen=True, slots=True)
class Page:
    overall: ComponentState
    components: tuple[ComponentView, ...]
    current: tuple[PublicIncident, ...]
    history: tuple[tuple[date, tuple[PublicIncident, ...]], ...] = field(default=())

    @property
    def banner(self) -> str:
        """Return the headline of the page."""
        return BANNER[self.overall]


def public(incident: IncidentFacts, components: Sequence[Component]) -> PublicIncident | None:
    if incident.is_drill or not incident.updates:
        return None
    updates = tuple(sorted(incident.updates, key=lambda u: u.at, reverse=True))
    touched = tuple(c.name for c in components if c.services & incident.services)
    status = updates[0].status
    if not incident.is_open and status is not PublicStatus.RESOLVED:
        # Resolved inside Tocsin before anyone posted the public resolution: it is over.
        status = PublicStatus.RESOLVED
    if incident.public_title:
        title = incident.public_title
    elif touched:
        title = f"Incident affecting {', '.join(touched)}"
    else:
        title = "Service incident"
    resolved_at = None
    if updates[0].status is PublicStatus.RESOLVED:
        resolved_at = updates[0].at  # what customers were told
    elif status is PublicStatus.RESOLVED:
        resolved_at = incident.resolved_at or updates[0].at
    return PublicIncident(
        number=incident.number,
        title=title,
        impact=state_for_rank(incident.severity_rank),
        components=touched,
        status=status,
        started_at=min(incident.started_at, updates[-1].at),
        resolved_at=resolved_at,
        updates=updates,
    )


def _day_range(start: datetime, end: datetime) -> Iterable[date]:
    day = start.date()
    while day <= end.date():
        yield day
        day += timedelta(days=1)


def build(
    components: Sequence[Component],
    incidents: Iterable[IncidentFacts],
    maintenance: Iterable[Maintenance],
    *,
    now: datetime,
    days: int = HISTORY_DAYS,
) -> Page:
    """Return the status page at `now` (UTC days for the history)."""
    published = [p for p in (public(i, components) for i in incidents) if p is not None]
    current = [p for p in published if p.status is not PublicStatus.RESOLVED]
    current.sort(key=lambda p: (-p.impact.badness, p.started_at))
    first_day = now.date() - timedelta(days=days - 1)
    worst: dict[tuple[str, date], ComponentState] = {}

    def mark(component: str, day: date, state: ComponentState) -> None:
        if day < first_day or day > now.date():
            return
        if state.badness > worst.get((component, day), ComponentState.OPERATIONAL).badness:
            worst[(component, day)] = state

    live: dict[str, ComponentState] = {}
    for incident in published:
        for component in components:
            if component.name not in incident.components:
                continue
            end = incident.resolved_at or now
            for day in _day_range(incident.started_at, end):
                mark(component.slug, day, incident.impact)
            if incident.status is not PublicStatus.RESOLVED:
                before = live.get(component.slug, ComponentState.OPERATIONAL)
                if incident.impact.badness > before.badness:
                    live[component.slug] = incident.impact
    for window in maintenance:
        active = window.start <= now and (window.end is None or now < window.end)
        for component in components:
            if not component.services & window.services:
                continue
            for day in _day_range(window.start, min(window.end or now, now)):
                mark(component.slug, day, ComponentState.UNDER_MAINTENANCE)
            if active and component.slug not in live:
                live[component.slug] = ComponentState.UNDER_MAINTENANCE
    views = tuple(
        ComponentView(
            slug=c.slug,
            name=c.name,
            description=c.description,
            state=live.get(c.slug, ComponentState.OPERATIONAL),
            days=tuple(
                (
                    first_day + timedelta(days=n),
                    worst.get((c.slug, first_day + timedelta(days=n)), ComponentState.OPERATIONAL),
                )
                for n in range(days)
            ),
        )
        for c in components
    )
    overall = max(
        (v.state for v in views), key=lambda s: s.badness, default=ComponentState.OPERATIONAL
    )
    if current and overall is ComponentState.OPERATIONAL:
        # A published incident on no component still means something is wrong.
        overall = max((p.impact for p in current), key=lambda s: s.badness)
    by_day: dict[date, list[PublicIncident]] = {}
    for incident in published:
        day = incident.started_at.date()
        if first_day <= day <= now.date():
            by_day.setdefault(day, []).append(incident)
    history = tuple(
        (day, tuple(sorted(by_day[day], key=lambda p: p.started_at, reverse=True)))
        for day in sorted(by_day, reverse=True)
    )
    return Page(overall=overall, components=views, current=tuple(current), history=history)


def feed_entries(
    incidents: Iterable[IncidentFacts], components: Sequence[Component], *, limit: int = 50
) -> list[tuple[PublicIncident, PublicUpdate]]:
    """Return the newest public updates, each with its incident, for the Atom feed."""
    entries = [
        (incident, update)
        for incident in (public(i, components) for i in incidents)
        if incident is not None
        for update in incident.updates
    ]
    entries.sort(key=lambda e: (e[1].at, e[0].number), reverse=True)
    return entries[:limit]
