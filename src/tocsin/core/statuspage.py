"""The public status page, decided from values: component states, current incidents, history.

What customers see is only what responders chose to publish. An incident appears once it has a
public update, under its public title (or the names of the components it affects, never the
internal title, which often quotes an alert). Internal updates, notes, people and alert details
are not inputs here, so they cannot leak out of this module. Drills never appear.

Component states follow Statuspage's five: an open published incident puts every component of
its services into the state its severity maps to (the highest severity is a major outage, the
next a partial outage, any other degraded performance); an active maintenance window shows
"under maintenance" unless an incident is worse. A component's state is the worst of those.

Public maintenance is announced ahead with its components and times: scheduled until it starts,
in progress until it ends, then completed; or cancelled, before or during. The page lists what
is scheduled or in progress, soonest first; completed maintenance joins the incidents in the
history, on the day it started. Its stages reach the Atom feed as entries of their own.

An incident is current until it is resolved, and only then history: listed under both, an open
incident read as two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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


class MaintenanceStage(StrEnum):
    """Where a public maintenance is at a moment, as customers read it."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """Return the words customers read."""
        return self.value.replace("_", " ").capitalize()


class Notified(StrEnum):
    """The last stage of a public maintenance subscribers were told of: the values
    `PublicMaintenance.notified` holds, in the order they are told."""

    NOTHING = ""
    ANNOUNCED = "announced"
    STARTED = "started"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# What subscribers are told of a maintenance at each stage; cancelled is told apart.
_TOLD = {
    MaintenanceStage.SCHEDULED: Notified.ANNOUNCED,
    MaintenanceStage.IN_PROGRESS: Notified.STARTED,
    MaintenanceStage.COMPLETED: Notified.COMPLETED,
}
_TOLD_ORDER = (Notified.NOTHING, Notified.ANNOUNCED, Notified.STARTED, Notified.COMPLETED)


@dataclass(frozen=True, slots=True)
class MaintenanceFacts:
    """A public maintenance as announced: `components` are status-component slugs."""

    id: int
    title: str
    message: str
    components: tuple[str, ...]
    start: datetime
    end: datetime
    announced_at: datetime
    cancelled_at: datetime | None = None


def stage(maintenance: MaintenanceFacts, now: datetime) -> MaintenanceStage:
    """Return the stage of `maintenance` at `now`."""
    if maintenance.cancelled_at is not None and maintenance.cancelled_at <= now:
        return MaintenanceStage.CANCELLED
    if now < maintenance.start:
        return MaintenanceStage.SCHEDULED
    if now < maintenance.end:
        return MaintenanceStage.IN_PROGRESS
    return MaintenanceStage.COMPLETED


def ran_until(maintenance: MaintenanceFacts) -> datetime | None:
    """Return when the maintenance stopped (its end, or its cancellation during it), or None if
    it was cancelled before it started."""
    cancelled = maintenance.cancelled_at
    if cancelled is None:
        return maintenance.end
    if cancelled <= maintenance.start:
        return None
    return min(cancelled, maintenance.end)


def window_text(start: datetime, end: datetime) -> str:
    """Return the times of a maintenance in UTC, saying so (customers are everywhere):
    "2024-06-21 22:00-23:30 UTC", the dash an en dash."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}\u2013{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} UTC \u2013 {end:%Y-%m-%d %H:%M} UTC"


def notice_due(maintenance: MaintenanceFacts, notified: str, now: datetime) -> Notified | None:
    """Return what subscribers are to be told of `maintenance` at `now`, having been told of
    `notified` last (None: nothing new).

    Only the latest stage is told: a maintenance announced as it starts is announced as in
    progress, and one whose start and end both passed while no engine ran is told completed,
    once. A cancellation is told only to those who heard of the maintenance at all.
    """
    told = Notified(notified)
    if told is Notified.CANCELLED:
        return None
    now_at = stage(maintenance, now)
    if now_at is MaintenanceStage.CANCELLED:
        return Notified.CANCELLED if told is not Notified.NOTHING else None
    due = _TOLD[now_at]
    return due if _TOLD_ORDER.index(due) > _TOLD_ORDER.index(told) else None


def next_notice_at(maintenance: MaintenanceFacts, notified: str) -> datetime | None:
    """Return when subscribers are next to be told something of `maintenance` (None: never)."""
    told = Notified(notified)
    if told is Notified.CANCELLED:
        return None
    if maintenance.cancelled_at is not None:
        return maintenance.cancelled_at if told is not Notified.NOTHING else None
    if told is Notified.NOTHING:
        return maintenance.announced_at
    if told is Notified.ANNOUNCED:
        return maintenance.start
    if told is Notified.STARTED:
        return maintenance.end
    return None


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A public maintenance as the status page shows it at a moment."""

    id: int
    title: str
    message: str
    components: tuple[str, ...]  # their names, in the page's order
    start: datetime
    end: datetime
    stage: MaintenanceStage
    announced_at: datetime
    cancelled_at: datetime | None

    @property
    def anchor(self) -> str:
        """Return the fragment id of the maintenance on the page."""
        return f"maintenance-{self.id}"

    @property
    def window(self) -> str:
        """Return its times as customers read them."""
        return window_text(self.start, self.end)


def maintenance_view(
    maintenance: MaintenanceFacts, components: Sequence[Component], *, now: datetime
) -> MaintenanceView:
    """Return `maintenance` as the status page shows it at `now`."""
    wanted = set(maintenance.components)
    return MaintenanceView(
        id=maintenance.id,
        title=maintenance.title,
        message=maintenance.message,
        components=tuple(c.name for c in components if c.slug in wanted),
        start=maintenance.start,
        end=maintenance.end,
        stage=stage(maintenance, now),
        announced_at=maintenance.announced_at,
        cancelled_at=maintenance.cancelled_at,
    )


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
    maintenance: tuple[MaintenanceView, ...] = field(default=())  # scheduled and in progress
    past_maintenance: tuple[tuple[date, tuple[MaintenanceView, ...]], ...] = field(default=())

    @property
    def banner(self) -> str:
        """Return the headline of the page."""
        return BANNER[self.overall]

    @property
    def days(
        self,
    ) -> tuple[tuple[date, tuple[PublicIncident, ...], tuple[MaintenanceView, ...]], ...]:
        """Return the history's days, newest first, each with its incidents and maintenance."""
        incidents = dict(self.history)
        done = dict(self.past_maintenance)
        return tuple(
            (day, incidents.get(day, ()), done.get(day, ()))
            for day in sorted(incidents.keys() | done.keys(), reverse=True)
        )


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
    announced: Iterable[MaintenanceFacts] = (),
) -> Page:
    """Return the status page at `now` (UTC days for the history), with the public maintenance
    `announced`."""
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
    coming: list[MaintenanceView] = []
    done: dict[date, list[MaintenanceView]] = {}
    for facts in announced:
        view = maintenance_view(facts, components, now=now)
        stopped = ran_until(facts)
        if view.stage in (MaintenanceStage.SCHEDULED, MaintenanceStage.IN_PROGRESS):
            coming.append(view)
        elif stopped is not None and first_day <= facts.start.date() <= now.date():
            # Completed, or cancelled part way: it happened, so it is history.
            done.setdefault(facts.start.date(), []).append(view)
        if stopped is None or facts.start > now:
            continue
        for component in components:
            if component.slug not in facts.components:
                continue
            for day in _day_range(facts.start, min(stopped, now)):
                mark(component.slug, day, ComponentState.UNDER_MAINTENANCE)
            if view.stage is MaintenanceStage.IN_PROGRESS and component.slug not in live:
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
        if incident.status is not PublicStatus.RESOLVED:
            continue  # current, not history: listed under both, one incident read as two
        day = incident.started_at.date()
        if first_day <= day <= now.date():
            by_day.setdefault(day, []).append(incident)
    history = tuple(
        (day, tuple(sorted(by_day[day], key=lambda p: p.started_at, reverse=True)))
        for day in sorted(by_day, reverse=True)
    )
    past = tuple(
        (day, tuple(sorted(done[day], key=lambda m: m.start, reverse=True)))
        for day in sorted(done, reverse=True)
    )
    return Page(
        overall=overall,
        components=views,
        current=tuple(current),
        history=history,
        maintenance=tuple(sorted(coming, key=lambda m: (m.start, m.id))),
        past_maintenance=past,
    )


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


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of the Atom feed: `path` is the page it links to, `key` makes its id unique."""

    title: str
    path: str
    key: str
    at: datetime
    text: str


def maintenance_entries(
    maintenance: MaintenanceFacts, components: Sequence[Component], *, now: datetime
) -> list[FeedEntry]:
    """Return the feed entries of `maintenance` up to `now`, oldest first: announced (if ahead
    of its start), started, completed, cancelled, each at its time."""
    view = maintenance_view(maintenance, components, now=now)
    path = f"/status/maintenance/{maintenance.id}"
    affects = f" Affects {', '.join(view.components)}." if view.components else ""
    message = f" {maintenance.message}" if maintenance.message else ""
    cancelled = maintenance.cancelled_at
    found: list[FeedEntry] = []

    def add(stage_: MaintenanceStage, at: datetime, text: str) -> None:
        title = f"{maintenance.title}: {stage_.label}"
        found.append(FeedEntry(title, path, stage_.value, at, text))

    if maintenance.announced_at < maintenance.start:
        add(
            MaintenanceStage.SCHEDULED,
            maintenance.announced_at,
            f"Scheduled for {view.window}.{affects}{message}",
        )
    started = cancelled is None or cancelled > maintenance.start
    if started and maintenance.start <= now:
        add(
            MaintenanceStage.IN_PROGRESS,
            max(maintenance.start, maintenance.announced_at),
            f"Maintenance in progress, {view.window}.{affects}{message}",
        )
    if cancelled is None and maintenance.end <= now:
        add(
            MaintenanceStage.COMPLETED,
            maintenance.end,
            f"The maintenance of {view.window} has been completed.",
        )
    if cancelled is not None and cancelled <= now:
        add(
            MaintenanceStage.CANCELLED,
            cancelled,
            f"The maintenance planned for {view.window} has been cancelled.",
        )
    return found


def feed(
    incidents: Iterable[IncidentFacts],
    announced: Iterable[MaintenanceFacts],
    components: Sequence[Component],
    *,
    now: datetime,
    limit: int = 50,
) -> list[FeedEntry]:
    """Return the feed's entries, newest first: every public incident update and every stage of
    public maintenance reached by `now`."""
    entries = [
        FeedEntry(
            f"{incident.title}: {update.status.value.replace('_', ' ').capitalize()}",
            f"/status/incidents/{incident.number}",
            # The id feed readers already hold for this update: its time, as the feed prints it.
            update.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            update.at,
            update.message,
        )
        for incident, update in feed_entries(incidents, components, limit=limit)
    ]
    for facts in announced:
        entries += maintenance_entries(facts, components, now=now)
    entries.sort(key=lambda e: (e.at, e.path, e.key), reverse=True)
    return entries[:limit]
