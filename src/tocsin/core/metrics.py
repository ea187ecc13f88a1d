"""Response metrics computed from incident milestones alone.

Everything here is pure: no I/O and no clock; the instant a report is made is the `now` parameter.
Drills are excluded from every metric (they are kept by `since`, which only selects).

Per incident, with every duration measured between two milestones:

    time to detect       detected_at     - started_at    (impact began -> we noticed)
    time to acknowledge  acknowledged_at - detected_at
    time to mitigate     mitigated_at    - detected_at   (mitigation began)
    time to resolve      resolved_at     - detected_at   (the seed's alert at 10:30 and recovery
                                                          at 10:42 give "Time to resolution:
                                                          12 minutes")

A duration whose later milestone is missing is None and is left out of every mean and percentile.

Over a set of incidents (`Summary`):

- MTTA / MTTR: the arithmetic mean of the time to acknowledge / resolve over the incidents that
  have that milestone; `ttd_mean` is the mean time to detect over all of them. Means of
  timedeltas round to the microsecond, as timedelta division does.
- p50 / p90: nearest-rank percentiles (see `percentile`): the value at 1-based rank
  ceil(q / 100 * n) of the sorted values, and the smallest value for q = 0. A nearest-rank
  percentile is always one of the observed durations, never an interpolation between two.
- Within response: the share of judged incidents acknowledged no later than their severity's
  response time (SEV-1 5 min, SEV-2 15 min, SEV-3 1 hour; exactly on time counts as within). An
  incident is judged when it was acknowledged, or when it is still unacknowledged and `now` is
  past the end of its window (`now - detected_at > response_time`): that counts as not within.
  Unacknowledged incidents still inside their window are left out, as are levels without a
  response time (the seed's SEV-4, "next business day", which needs a business calendar) and
  severities the scale no longer defines. `within_response` is None when nothing was judged.

Groupings: `by_service` keys by the primary (first) service, `NO_SERVICE` for an incident with
none; `by_severity` lists every level of the scale in rank order, then any names the scale no
longer defines; `by_month` keys by the UTC year and month of `detected_at` ("2024-06"), sorted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from tocsin.core.incident import IncidentView
from tocsin.core.severity import Severity, SeverityScale
from tocsin.errors import InvalidInput

# The group of incidents that name no service. Service slugs are lowercase words and hyphens, so
# this cannot collide with a real one.
NO_SERVICE = "(none)"

_LATER = ("acknowledged_at", "mitigated_at", "resolved_at")


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    """The milestones of one incident, as metrics need them."""

    number: int
    severity: str
    services: tuple[str, ...]
    started_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    is_drill: bool = False

    def __post_init__(self) -> None:
        # Naive or out-of-order milestones would give wrong (negative) durations silently, so
        # refuse them here rather than average them into a report.
        problems: list[str] = []
        for name in ("started_at", "detected_at", *_LATER):
            value = getattr(self, name)
            if value is not None and not _is_aware(value):
                problems.append(f"INC-{self.number}: {name} needs a time zone offset")
        if problems:
            raise InvalidInput.of(problems)
        if self.started_at > self.detected_at:
            problems.append(f"INC-{self.number}: started_at must not be after detected_at")
        for name in _LATER:
            value = getattr(self, name)
            if value is not None and value < self.detected_at:
                problems.append(f"INC-{self.number}: {name} must not be before detected_at")
        if problems:
            raise InvalidInput.of(problems)

    @classmethod
    def from_view(cls, view: IncidentView, *, is_drill: bool = False) -> IncidentTimes:
        """Return the milestones of a stored incident."""
        return cls(
            number=view.number,
            severity=view.severity,
            services=view.services,
            started_at=view.started_at,
            detected_at=view.detected_at,
            acknowledged_at=view.acknowledged_at,
            mitigated_at=view.mitigated_at,
            resolved_at=view.resolved_at,
            is_drill=is_drill,
        )

    @property
    def primary_service(self) -> str:
        """Return the first affected service, or NO_SERVICE."""
        return self.services[0] if self.services else NO_SERVICE

    @property
    def month(self) -> str:
        """Return the UTC year and month of detection ("2024-06")."""
        return self.detected_at.astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Durations:
    """The durations of one incident; None where the later milestone is missing."""

    detect: timedelta
    acknowledge: timedelta | None
    mitigate: timedelta | None
    resolve: timedelta | None


def durations(times: IncidentTimes) -> Durations:
    """Return the time to detect, acknowledge, mitigate and resolve of one incident."""
    return Durations(
        detect=times.detected_at - times.started_at,
        acknowledge=_since_detected(times, times.acknowledged_at),
        mitigate=_since_detected(times, times.mitigated_at),
        resolve=_since_detected(times, times.resolved_at),
    )


@dataclass(frozen=True, slots=True)
class Summary:
    """The response metrics of a set of incidents (drills excluded)."""

    count: int
    mtta: timedelta | None
    mtta_p50: timedelta | None
    mtta_p90: timedelta | None
    mttr: timedelta | None
    mttr_p50: timedelta | None
    mttr_p90: timedelta | None
    ttd_mean: timedelta | None
    within_response: float | None
    within_count: int
    judged_count: int


def percentile(values: list[timedelta], q: float) -> timedelta | None:
    """Return the nearest-rank `q`th percentile (0 <= q <= 100) of `values`, or None if empty."""
    if not math.isfinite(q) or not 0 <= q <= 100:
        raise InvalidInput(f"percentile must be between 0 and 100, not {q!r}")
    if not values:
        return None
    ordered = sorted(values)
    # Exact arithmetic on the decimal the caller wrote: in floats 16.1 * 1000 / 100 is
    # 161.00000000000003, whose ceiling would skip a rank.
    rank = math.ceil(Fraction(str(q)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def mean(values: list[timedelta]) -> timedelta | None:
    """Return the arithmetic mean of `values`, or None if empty."""
    if not values:
        return None
    return sum(values, timedelta()) / len(values)


def acknowledged_in_time(
    times: IncidentTimes, scale: SeverityScale, *, now: datetime
) -> bool | None:
    """Return whether the incident met its response time, or None if it is not judged (yet)."""
    _require_aware(now, "now")
    level = _level(scale, times.severity)
    if level is None or level.response_time is None:
        return None
    if times.acknowledged_at is not None:
        return times.acknowledged_at - times.detected_at <= level.response_time
    if now - times.detected_at > level.response_time:
        return False
    return None


def summarize(
    incidents: Iterable[IncidentTimes], scale: SeverityScale, *, now: datetime
) -> Summary:
    """Return the response metrics of `incidents`, drills excluded."""
    _require_aware(now, "now")
    real = _without_drills(incidents)
    all_durations = [durations(times) for times in real]
    acks = [d.acknowledge for d in all_durations if d.acknowledge is not None]
    resolves = [d.resolve for d in all_durations if d.resolve is not None]
    verdicts = [acknowledged_in_time(times, scale, now=now) for times in real]
    judged = [verdict for verdict in verdicts if verdict is not None]
    within = sum(judged)
    return Summary(
        count=len(real),
        mtta=mean(acks),
        mtta_p50=percentile(acks, 50),
        mtta_p90=percentile(acks, 90),
        mttr=mean(resolves),
        mttr_p50=percentile(resolves, 50),
        mttr_p90=percentile(resolves, 90),
        ttd_mean=mean([d.detect for d in all_durations]),
        within_response=within / len(judged) if judged else None,
        within_count=within,
        judged_count=len(judged),
    )


def by_service(
    incidents: Iterable[IncidentTimes], scale: SeverityScale, *, now: datetime
) -> dict[str, Summary]:
    """Return the metrics per primary service, sorted by slug, NO_SERVICE last."""
    _require_aware(now, "now")
    groups = _group(incidents, lambda times: times.primary_service)
    keys = sorted(groups, key=lambda key: (key == NO_SERVICE, key))
    return {key: summarize(groups[key], scale, now=now) for key in keys}


def by_severity(
    incidents: Iterable[IncidentTimes], scale: SeverityScale, *, now: datetime
) -> dict[str, Summary]:
    """Return the metrics per severity: every level of the scale by rank, then unknown names."""

    def canonical(times: IncidentTimes) -> str:
        level = _level(scale, times.severity)
        return level.name if level is not None else times.severity

    groups = _group(incidents, canonical)
    # Every level gets a row, so a report shows "SEV-1: 0 incidents" rather than hiding it.
    keys = scale.names + sorted(set(groups) - set(scale.names))
    return {key: summarize(groups.get(key, []), scale, now=now) for key in keys}


def by_month(
    incidents: Iterable[IncidentTimes], scale: SeverityScale, *, now: datetime
) -> dict[str, Summary]:
    """Return the metrics per UTC month of detection ("2024-06"), oldest first."""
    _require_aware(now, "now")
    groups = _group(incidents, lambda times: times.month)
    return {key: summarize(groups[key], scale, now=now) for key in sorted(groups)}


def since(incidents: Iterable[IncidentTimes], start: datetime) -> list[IncidentTimes]:
    """Return the incidents detected at or after `start`, drills included, in their order."""
    _require_aware(start, "start")
    return [times for times in incidents if times.detected_at >= start]


def _since_detected(times: IncidentTimes, milestone: datetime | None) -> timedelta | None:
    return None if milestone is None else milestone - times.detected_at


def _without_drills(incidents: Iterable[IncidentTimes]) -> list[IncidentTimes]:
    return [times for times in incidents if not times.is_drill]


def _group(
    incidents: Iterable[IncidentTimes], key: Callable[[IncidentTimes], str]
) -> dict[str, list[IncidentTimes]]:
    # Drills go before grouping, so a service that only ever had drills gets no row.
    groups: dict[str, list[IncidentTimes]] = {}
    for times in _without_drills(incidents):
        groups.setdefault(key(times), []).append(times)
    return groups


def _level(scale: SeverityScale, name: str) -> Severity | None:
    # A level can be deleted from the scale while old incidents still carry its name; those
    # still count, they just cannot be judged against a response time.
    try:
        return scale.get(name)
    except InvalidInput:
        return None


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


def _require_aware(value: datetime, name: str) -> None:
    if not _is_aware(value):
        raise InvalidInput(f"{name} needs a time zone offset")
