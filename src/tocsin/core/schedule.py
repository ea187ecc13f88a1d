"""On-call schedules: layers, rotations, restrictions, overrides and the final schedule.

A schedule stacks layers; each layer rotates its participants through shifts, and restrictions
mask each shift down to windows of local clock time. The final schedule says who is on call at
every instant: overrides beat every layer, a later-listed layer beats earlier ones wherever it has
someone on call, and a time with nobody on call is an explicit gap.

Time model:

* Layers are defined in local wall-clock time in their zone. Handoff ``k`` is the wall time
  ``start + k * length``, localized afterwards, so a daily 09:00 handoff stays at 09:00 across a
  DST change and that shift lasts 23 or 25 real hours. Participant ``k % len(participants)``
  takes shift ``k``; the rotation advances whatever the restrictions, which only mask time.
* Localizing follows two rules (see `localize`): a wall time that does not exist (spring-forward
  gap) becomes the first instant after the gap; an ambiguous one (fall-back) takes its first
  occurrence.
* Every instant this module returns is an aware UTC datetime; intervals are half-open
  ``[start, end)``.
* Query instants must lie between the years 2 and 9998, so that the local arithmetic around them
  never leaves the range of `datetime`.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from operator import itemgetter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.errors import InvalidInput

__all__ = [
    "Layer",
    "Override",
    "Restriction",
    "Rotation",
    "RotationUnit",
    "Schedule",
    "Shift",
    "final_shifts",
    "gaps",
    "layer_shifts",
    "localize",
    "losing_layers",
    "on_call",
    "parse_restriction",
    "parse_rotation",
    "parse_time",
    "validate_schedule",
]


class RotationUnit(StrEnum):
    """The unit of a rotation length."""

    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


@dataclass(frozen=True, slots=True)
class Rotation:
    """How long each shift of a layer lasts, in wall-clock units.

    Hours count on the wall clock too, like the longer units: a 12-hour rotation handing off at
    08:00 and 20:00 keeps those handoffs across DST, so a shift may last 11 or 13 real hours.
    Handoffs never run backwards; when two in a row land on the same instant (both in one
    spring-forward gap, or in the gap and at its end) the shift between them vanishes, and its
    participant loses that turn. Months keep the start's day of month, clamped to the month's
    last day and always counted from the start: Jan 31, Feb 29 (or 28), Mar 31.
    """

    count: int
    unit: RotationUnit

    def __str__(self) -> str:
        """Return the rotation as `parse_rotation` reads it, such as "1 week"."""
        word = self.unit.value if self.count != 1 else self.unit.value[:-1]
        return f"{self.count} {word}"


@dataclass(frozen=True, slots=True)
class Restriction:
    """A window of local clock time, on some weekdays (0 = Monday) or on every day when None.

    The window runs from `start` (inclusive) to `end` (exclusive); when `end` <= `start` it runs
    overnight into the next day, and `end` == `start` means 24 hours. The day filter applies to
    the day the window starts.
    """

    start: time
    end: time
    days: frozenset[int] | None = None


# A participant that is nobody: the turn is a gap in its layer, where lower layers show through
# (Opsgenie's "none" participant). No handle can be it: a handle starts with a letter or digit.
GAP = "-"


@dataclass(frozen=True, slots=True)
class Layer:
    """A rotation of participants, masked by restrictions, with `start` as its first handoff.

    A participant `GAP` takes its turns like the others, with nobody on call in them.

    `start` is naive local wall-clock time in `time_zone`, or in the schedule's zone when None;
    before it the layer has nobody on call. With restrictions the layer is on call in the union
    of their windows; without, all the time.
    """

    name: str
    participants: tuple[str, ...]
    rotation: Rotation
    start: datetime
    restrictions: tuple[Restriction, ...] = ()
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """One user on call from `start` to `end` (aware), replacing every layer."""

    user: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """Layers in increasing precedence, overrides above them all, in a home time zone.

    A later layer wins wherever it has someone on call, and its restricted hours let earlier
    layers show through. Overlapping overrides put all their users on call.
    """

    name: str
    time_zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True, slots=True)
class Shift:
    """Users on call from `start` to `end` (aware UTC); users are sorted, and () is a gap."""

    start: datetime
    end: datetime
    users: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Parsing


_UNITS: dict[str, RotationUnit] = {
    **{unit.value: unit for unit in RotationUnit},
    **{unit.value[:-1]: unit for unit in RotationUnit},
}
_ALLOWED_UNITS = ", ".join(unit.value for unit in RotationUnit)
_ROTATION = re.compile(r"\s*([0-9]+)\s+([A-Za-z]+)\s*")
_CLOCK = re.compile(r"\s*([0-9]{1,2}):([0-9]{2})\s*")
_DAYS: dict[str, int] = {
    name: index
    for index, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ]
    )
    for name in names
}
_DAY_LIST = "mon, tue, wed, thu, fri, sat, sun"


def parse_rotation(text: str) -> Rotation:
    """Return the rotation that `text` such as "1 week" or "12 hours" names."""
    match = _ROTATION.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"rotation {text!r} is not valid: expected a count of at least 1 and a unit "
            f"among {_ALLOWED_UNITS}, such as '1 week'"
        )
    count, word = int(match[1]), match[2].lower()
    unit = _UNITS.get(word)
    if unit is None:
        raise InvalidInput(
            f"rotation {text!r} has an unknown unit {match[2]!r}: expected one of {_ALLOWED_UNITS}"
        )
    if count < 1:
        raise InvalidInput(
            f"rotation {text!r} is not valid: the count must be at least 1 ({_ALLOWED_UNITS})"
        )
    return Rotation(count, unit)


def _parse_clock(text: str, label: str, problems: list[str]) -> time:
    match = _CLOCK.fullmatch(text)
    if match is not None and int(match[1]) < 24 and int(match[2]) < 60:
        return time(int(match[1]), int(match[2]))
    problems.append(f"restriction {label} time {text!r} is not valid: expected HH:MM, 00:00-23:59")
    return time()


def parse_restriction(days: list[str] | None, start: str, end: str) -> Restriction:
    """Return the restriction from `start` to `end` ("HH:MM") on `days` ("mon".."sun")."""
    problems: list[str] = []
    day_set: frozenset[int] | None = None
    if days is not None:
        indexes: set[int] = set()
        for day in days:
            index = _DAYS.get(day.strip().lower())
            if index is None:
                problems.append(
                    f"restriction day {day!r} is not valid: expected one of {_DAY_LIST}"
                )
            else:
                indexes.add(index)
        if not days:
            # An empty list is more likely a mistake than a wish never to be on call.
            problems.append("restriction days must name at least one day; omit them for every day")
        day_set = frozenset(indexes)
    start_time = _parse_clock(start, "from", problems)
    end_time = _parse_clock(end, "to", problems)
    if problems:
        raise InvalidInput.of(problems)
    return Restriction(start_time, end_time, day_set)


# --------------------------------------------------------------------------------------------
# Time zones and instants
#
# Inside this module instants are naive datetimes in UTC: comparing, sorting and subtracting them
# skips the tzinfo calls that otherwise dominate the cost. They become aware at the public edge.

_TICK = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_EARLIEST = datetime(2, 1, 1)
_LATEST = datetime(9998, 1, 1)
_EARLIEST_AWARE = _EARLIEST.replace(tzinfo=UTC)
_LATEST_AWARE = _LATEST.replace(tzinfo=UTC)
_FAR_FUTURE = datetime.max


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}") from exc


def _known_zone(name: str) -> bool:
    try:
        _zone(name)
    except InvalidInput:
        return False
    return True


def _utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the (naive UTC) instant of naive `wall` in `zone` under the gap and fold rules."""
    # ZoneInfo reads only the fields and fold of the datetime it is given, so asking it about the
    # naive wall time directly saves attaching the zone first.
    before = zone.utcoffset(wall)
    after = zone.utcoffset(wall.replace(fold=1))
    if before is None or after is None:  # pragma: no cover - a ZoneInfo always has an offset
        raise ValueError(f"{zone} has no offset at {wall}")
    # fold=0 resolves with the offset in force before a transition: for an ambiguous time that is
    # already the first occurrence, so only a gap (the offset grows) needs more work.
    if before >= after:
        return wall - before
    return _gap_end(wall, zone, before, after)


def _gap_end(wall: datetime, zone: ZoneInfo, before: timedelta, after: timedelta) -> datetime:
    """Return the transition instant that ends the gap containing `wall`."""
    # The transition lies in (wall - after, wall - before]. zoneinfo exposes no transition list,
    # so bisect on whole seconds, the resolution of TZif transition times; `low` keeps the old
    # offset and `high` does not.
    low = (wall - after).replace(microsecond=0)
    high = wall - before
    while high - low > _SECOND:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if middle.replace(tzinfo=UTC).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return low + _SECOND


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """Return the naive local wall time in `zone` of naive UTC `instant`."""
    return zone.fromutc(instant.replace(tzinfo=zone)).replace(tzinfo=None)


def localize(naive: datetime, zone: str) -> datetime:
    """Return naive wall time `naive` as an aware datetime in `zone`.

    A wall time inside a spring-forward gap becomes the first instant after the gap (02:30 in a
    02:00->03:00 gap becomes 03:00); an ambiguous one takes its first occurrence (fold=0).
    """
    if naive.utcoffset() is not None:
        raise InvalidInput(f"time {naive.isoformat()} must be naive to be localized in {zone!r}")
    tz = _zone(zone)
    try:
        return _utc(naive, tz).replace(tzinfo=UTC).astimezone(tz)
    except OverflowError as exc:
        raise InvalidInput(f"time {naive.isoformat()} is out of range in {zone!r}") from exc


def parse_time(text: str, zone: str) -> datetime:
    """Return the UTC instant of ISO-8601 `text`; without an offset it is local to `zone`."""
    tz = _zone(zone)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"time {text!r} is not valid: expected ISO-8601 such as 2020-03-08T08:30, "
            "2020-03-08T08:30Z or 2020-03-08T08:30+02:00"
        ) from exc
    try:
        if parsed.utcoffset() is None:
            return _utc(parsed, tz).replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(f"time {text!r} is out of range") from exc


def _instant(value: datetime, label: str) -> datetime:
    """Return aware `value` as a naive UTC instant, or raise InvalidInput."""
    if value.utcoffset() is None:
        raise InvalidInput(f"{label} {value.isoformat()} has no time zone offset")
    if not _EARLIEST_AWARE <= value <= _LATEST_AWARE:
        raise InvalidInput(f"{label} {value.isoformat()} is out of range: expected years 2 to 9997")
    return value.astimezone(UTC).replace(tzinfo=None)


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    low, high = _instant(start, "start"), _instant(end, "end")
    if high < low:
        raise InvalidInput(f"end {end.isoformat()} is before start {start.isoformat()}")
    return low, high


# --------------------------------------------------------------------------------------------
# Validation


def _zone_of(schedule: Schedule, layer: Layer) -> str:
    return layer.time_zone if layer.time_zone is not None else schedule.time_zone


def validate_schedule(schedule: Schedule) -> None:
    """Raise InvalidInput listing every problem of `schedule`, or return if it has none."""
    problems: list[str] = []
    if not _known_zone(schedule.time_zone):
        problems.append(f"schedule {schedule.name!r}: unknown time zone {schedule.time_zone!r}")
    for layer in schedule.layers:
        _layer_problems(layer, problems)
    for override in schedule.overrides:
        start, end = override.start, override.end
        # The common case in one expression: on_call validates every override on every query.
        if not (
            start.utcoffset() is not None
            and end.utcoffset() is not None
            and _EARLIEST_AWARE <= start < end <= _LATEST_AWARE
            and override.user.strip()
        ):
            _override_problems(override, problems)
    if problems:
        raise InvalidInput.of(problems)


def _layer_problems(layer: Layer, problems: list[str]) -> None:
    where = f"layer {layer.name!r}"
    if layer.time_zone is not None and not _known_zone(layer.time_zone):
        problems.append(f"{where}: unknown time zone {layer.time_zone!r}")
    if not layer.participants:
        problems.append(f"{where}: participants must not be empty")
    problems.extend(
        f"{where}: participant {user!r} is blank" for user in layer.participants if not user.strip()
    )
    if layer.rotation.count < 1:
        problems.append(f"{where}: rotation count {layer.rotation.count} must be at least 1")
    if layer.start.utcoffset() is not None:
        problems.append(
            f"{where}: start {layer.start.isoformat()} must be naive local wall-clock time"
        )
    elif not _EARLIEST <= layer.start <= _LATEST:
        problems.append(f"{where}: start {layer.start.isoformat()} is out of range")
    for restriction in layer.restrictions:
        if restriction.days is not None:
            if not restriction.days:
                problems.append(f"{where}: restriction days must not be empty")
            problems.extend(
                f"{where}: restriction day {day!r} is not a weekday number 0-6"
                for day in sorted(restriction.days)
                if day not in range(7)
            )
        for bound in (restriction.start, restriction.end):
            if bound.tzinfo is not None:
                problems.append(f"{where}: restriction time {bound.isoformat()} must be naive")


def _override_problems(override: Override, problems: list[str]) -> None:
    where = f"override for {override.user!r}"
    if not override.user.strip():
        problems.append(f"override from {override.start.isoformat()}: user is blank")
    aware = True
    for label, moment in (("start", override.start), ("end", override.end)):
        if moment.utcoffset() is None:
            aware = False
            problems.append(f"{where}: {label} {moment.isoformat()} has no time zone offset")
        elif not _EARLIEST_AWARE <= moment <= _LATEST_AWARE:
            aware = False
            problems.append(f"{where}: {label} {moment.isoformat()} is out of range")
    if aware and override.end <= override.start:
        problems.append(
            f"{where}: end {override.end.isoformat()} is not after "
            f"start {override.start.isoformat()}"
        )


# --------------------------------------------------------------------------------------------
# Shifts of one layer

# (start, end, user) with naive UTC bounds, start < end.
_Span = tuple[datetime, datetime, str]
_Window = tuple[datetime, datetime]


def _add_months(wall: datetime, months: int) -> datetime:
    index = wall.month - 1 + months
    year, month = wall.year + index // 12, index % 12 + 1
    return wall.replace(year=year, month=month, day=min(wall.day, monthrange(year, month)[1]))


class _Rotor:
    """The handoffs of one layer: handoff k is wall time start + k * length, localized."""

    __slots__ = ("months", "start", "step", "zone")

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self.start = layer.start
        self.zone = zone
        count, unit = layer.rotation.count, layer.rotation.unit
        self.months = count if unit is RotationUnit.MONTHS else 0
        try:
            self.step = _UNIT_STEPS[unit] * count
        except OverflowError:
            # Longer than datetime can count: only handoff 0 is within reach.
            self.step = timedelta.max

    def handoff(self, k: int) -> datetime:
        try:
            if self.months:
                # Always from the start, never cumulatively, so Jan 31 -> Feb 29 -> Mar 31.
                wall = _add_months(self.start, k * self.months)
            else:
                wall = self.start + k * self.step
            return _utc(wall, self.zone)
        except (OverflowError, ValueError):
            # Past year 9999: later than any range this module accepts.
            return _FAR_FUTURE

    def index_at(self, instant: datetime) -> int:
        """Return the last k with handoff(k) <= instant, or -1 before the first handoff."""
        if self.handoff(0) > instant:
            return -1
        wall = _wall(instant, self.zone)
        # Estimate from the elapsed wall time, which DST moves by at most a step or two, then
        # adjust: a range years after the start costs no more than one next to it.
        if self.months:
            elapsed = (wall.year - self.start.year) * 12 + wall.month - self.start.month
            k = max(elapsed // self.months, 0)
        else:
            k = max((wall - self.start) // self.step, 0)
        while k > 0 and self.handoff(k) > instant:
            k -= 1
        while self.handoff(k + 1) <= instant:
            k += 1
        return k


_UNIT_STEPS = {
    RotationUnit.HOURS: timedelta(hours=1),
    RotationUnit.DAYS: timedelta(days=1),
    RotationUnit.WEEKS: timedelta(weeks=1),
    RotationUnit.MONTHS: timedelta(),
}


def _layer_spans(schedule: Schedule, layer: Layer, low: datetime, high: datetime) -> list[_Span]:
    """Return the layer's effective on-call spans clipped to [low, high), in time order."""
    zone = _zone(_zone_of(schedule, layer))
    rotor = _Rotor(layer, zone)
    participants = layer.participants
    k = max(rotor.index_at(low), 0)
    begin = rotor.handoff(k)
    spans: list[_Span] = []
    while begin < high:
        finish = rotor.handoff(k + 1)
        # A shift squeezed to nothing (both handoffs land on the end of one gap) vanishes, but
        # the rotation still moves past its participant.
        user = participants[k % len(participants)]
        if finish > begin and finish > low and user != GAP:
            spans.append((begin if begin > low else low, finish if finish < high else high, user))
        begin = finish
        k += 1
    if not layer.restrictions:
        return spans
    return _intersect(spans, _windows(layer.restrictions, zone, low, high))


def _windows(
    restrictions: tuple[Restriction, ...], zone: ZoneInfo, low: datetime, high: datetime
) -> list[_Window]:
    """Return the union of the restriction windows meeting [low, high), clipped and merged."""
    # A window lasts at most a day, so one that starts two local days before `low` is over; the
    # extra day after `high` covers a fall-back that crosses midnight.
    day = _wall(low, zone).date() - _DAY
    last = _wall(high, zone).date() + _DAY
    raw: list[_Window] = []
    combine = datetime.combine
    while day <= last:
        weekday = day.weekday()
        for restriction in restrictions:
            if restriction.days is not None and weekday not in restriction.days:
                continue
            begin = _utc(combine(day, restriction.start), zone)
            if begin >= high:
                continue
            end_day = day if restriction.end > restriction.start else day + _DAY
            finish = _utc(combine(end_day, restriction.end), zone)
            if finish > low and finish > begin:
                raw.append((begin if begin > low else low, finish if finish < high else high))
        day += _DAY
    raw.sort()
    merged: list[_Window] = []
    for begin, finish in raw:
        if merged and begin <= merged[-1][1]:
            if finish > merged[-1][1]:
                merged[-1] = (merged[-1][0], finish)
        else:
            merged.append((begin, finish))
    return merged


def _intersect(spans: list[_Span], windows: list[_Window]) -> list[_Span]:
    out: list[_Span] = []
    i = j = 0
    while i < len(spans) and j < len(windows):
        span_start, span_end, user = spans[i]
        window_start, window_end = windows[j]
        begin = span_start if span_start > window_start else window_start
        finish = span_end if span_end < window_end else window_end
        if begin < finish:
            out.append((begin, finish, user))
        if span_end <= window_end:
            i += 1
        else:
            j += 1
    return out


# --------------------------------------------------------------------------------------------
# The final schedule

# (start, end, users, winner) with naive UTC bounds; winner is the index of the winning layer,
# len(layers) for overrides, or -1 for a gap.
_Segment = tuple[datetime, datetime, tuple[str, ...], int]


def _segments(schedule: Schedule, low: datetime, high: datetime) -> list[_Segment]:
    """Return who wins each elementary interval of [low, high), contiguously and unmerged."""
    top = len(schedule.layers)
    events: list[tuple[datetime, int, int, str]] = []
    for index, layer in enumerate(schedule.layers):
        for begin, finish, user in _layer_spans(schedule, layer, low, high):
            events.append((begin, 1, index, user))
            events.append((finish, -1, index, user))
    low_aware, high_aware = low.replace(tzinfo=UTC), high.replace(tzinfo=UTC)
    for override in schedule.overrides:
        if override.start < high_aware and override.end > low_aware:
            begin = override.start.astimezone(UTC).replace(tzinfo=None)
            finish = override.end.astimezone(UTC).replace(tzinfo=None)
            events.append((begin if begin > low else low, 1, top, override.user))
            events.append((finish if finish < high else high, -1, top, override.user))
    events.sort(key=itemgetter(0))

    # Per precedence level, how many active intervals put each user on call.
    active: list[dict[str, int]] = [{} for _ in range(top + 1)]
    levels = range(top, -1, -1)
    segments: list[_Segment] = []
    count = len(events)
    i = 0
    moment = low
    while moment < high:
        while i < count and events[i][0] <= moment:
            _, delta, level, user = events[i]
            users = active[level]
            remaining = users.get(user, 0) + delta
            if remaining:
                users[user] = remaining
            else:
                del users[user]
            i += 1
        following = events[i][0] if i < count and events[i][0] < high else high
        winner = -1
        on: tuple[str, ...] = ()
        for level in levels:
            if active[level]:
                winner = level
                on = tuple(sorted(active[level]))
                break
        segments.append((moment, following, on, winner))
        moment = following
    return segments


def final_shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Return the final schedule over [start, end): contiguous, merged, gaps as users ()."""
    validate_schedule(schedule)
    low, high = _range(start, end)
    shifts: list[Shift] = []
    segments = _segments(schedule, low, high)
    begin = low.replace(tzinfo=UTC)
    for index, (_, finish, users, _) in enumerate(segments):
        if index + 1 == len(segments) or segments[index + 1][2] != users:
            end_aware = finish.replace(tzinfo=UTC)
            shifts.append(Shift(begin, end_aware, users))
            begin = end_aware
    return shifts


def on_call(schedule: Schedule, at: datetime) -> tuple[str, ...]:
    """Return who is on call at `at`."""
    validate_schedule(schedule)
    instant = _instant(at, "at")
    # A one-microsecond range: only the shifts and windows around `at` are computed, by the same
    # code as final_shifts, so the two agree at every boundary.
    return _segments(schedule, instant, instant + _TICK)[0][2]


def participants_among(
    schedule: Schedule, handles: set[str], start: datetime, end: datetime
) -> dict[str, list[str]]:
    """Return which of `handles` the schedule puts on call, each with where: its layers by name,
    and "an override" for an override overlapping [start, end)."""
    found: dict[str, list[str]] = {}
    for layer in schedule.layers:
        for handle in dict.fromkeys(layer.participants):
            if handle in handles:
                found.setdefault(handle, []).append(f"layer {layer.name}")
    for override in schedule.overrides:
        if override.user in handles and override.start < end and override.end > start:
            where = found.setdefault(override.user, [])
            if "an override" not in where:
                where.append("an override")
    return found


def gaps(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Return the windows of [start, end) when nobody is on call."""
    return [shift for shift in final_shifts(schedule, start, end) if not shift.users]


def losing_layers(schedule: Schedule, start: datetime, end: datetime) -> list[str]:
    """Return the names of the layers that win nowhere in [start, end), in layer order."""
    validate_schedule(schedule)
    low, high = _range(start, end)
    winners = {winner for _, _, _, winner in _segments(schedule, low, high)}
    return [layer.name for index, layer in enumerate(schedule.layers) if index not in winners]


def layer_shifts(
    schedule: Schedule, layer_index: int, start: datetime, end: datetime
) -> list[Shift]:
    """Return one layer's on-call intervals within [start, end), one per shift and window."""
    validate_schedule(schedule)
    if not 0 <= layer_index < len(schedule.layers):
        raise InvalidInput(
            f"layer index {layer_index} is out of range: schedule {schedule.name!r} has "
            f"{len(schedule.layers)} layers"
        )
    low, high = _range(start, end)
    layer = schedule.layers[layer_index]
    return [
        Shift(begin.replace(tzinfo=UTC), finish.replace(tzinfo=UTC), (user,))
        for begin, finish, user in _layer_spans(schedule, layer, low, high)
    ]
