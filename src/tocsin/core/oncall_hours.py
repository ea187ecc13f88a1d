"""Hours on call per person, split by where they fell in that person's own week, and the pages
they received.

The categories partition every person's local week, read on the wall clock of their own time
zone, so the columns of a person always add up to their total:

* weekends: all of Saturday and Sunday, 00:00 to 24:00;
* nights: 22:00 to 24:00 and 00:00 to 07:00, Monday to Friday (Friday 22:00 to Saturday 00:00 is
  a night, Sunday 22:00 to Monday 00:00 is weekend);
* business: 09:00 to 17:00, Monday to Friday;
* evenings: the rest of a weekday, 07:00 to 09:00 and 17:00 to 22:00.

Saturday and Sunday are the weekend in every zone; the report compares people across a team,
so one rule for all keeps the columns comparable.

Hours are real elapsed hours. Each local day is cut at its wall-clock boundaries, every boundary
is turned into an instant by the final schedule's own rules (`schedule.localize`: a wall time in
a spring-forward gap becomes the first instant after the gap, an ambiguous one its first
occurrence), and a category gets the real time between its two instants. A day of 23 or 25 real
hours counts 23 or 25, and a weekday night holding a spring-forward has 8 real hours, not 9.

Hours on call are the union of a person's shifts: when several schedules put someone on call at
the same instant (they are in two rotations at once), that instant counts once. A person's total
is how long they were on call, not the sum of their schedule-hours.

A night page is one received between 22:00 and 07:00 on the person's local clock, on any day of
the week: unlike the hours' columns, which give weekends their own column, it answers "how often
was this person woken up".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.core import schedule as sched
from tocsin.errors import InvalidInput

__all__ = [
    "Category",
    "PersonHours",
    "is_night",
    "on_call_hours",
    "slices",
    "split",
]


class Category(StrEnum):
    """Where in a person's local week an hour on call fell (the values are the API's keys)."""

    BUSINESS = "business"
    EVENINGS = "evenings"
    NIGHTS = "nights"
    WEEKENDS = "weekends"


NIGHT_STARTS = time(22)
NIGHT_ENDS = time(7)
SATURDAY = 5
# Where each local day changes category, from its midnight on: weekdays, then weekend days.
_WEEKDAY_CUTS = (
    (time(0), Category.NIGHTS),
    (NIGHT_ENDS, Category.EVENINGS),
    (time(9), Category.BUSINESS),
    (time(17), Category.EVENINGS),
    (NIGHT_STARTS, Category.NIGHTS),
)
_WEEKEND_CUTS = ((time(0), Category.WEEKENDS),)


@dataclass(frozen=True, slots=True)
class PersonHours:
    """One person's time on call in the report's range, by category, and the pages they got."""

    user: str
    time_zone: str
    hours: Mapping[Category, timedelta] = field(default_factory=dict)
    pages: int = 0
    night_pages: int = 0

    @property
    def total(self) -> timedelta:
        """Return the time on call, every category together."""
        return sum(self.hours.values(), timedelta())


def _tz(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput(f"unknown time zone {zone!r}") from exc


def _instant(day: date, at: time, zone: str) -> datetime:
    return sched.localize(datetime.combine(day, at), zone).astimezone(UTC)


def slices(start: datetime, end: datetime, zone: str) -> list[tuple[datetime, datetime, Category]]:
    """Return [start, end) cut where its category changes on the local clock of `zone`.

    The pieces are contiguous, in order, and cover [start, end) exactly (UTC instants).
    """
    if start.utcoffset() is None or end.utcoffset() is None:
        raise InvalidInput("start and end must be aware instants")
    if end <= start:
        return []
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    # A day earlier than the local date of `start`: around a transition at midnight the instant
    # of a date's 00:00 may lie after an instant whose wall clock reads that date.
    current = start.astimezone(_tz(zone)).date() - timedelta(days=1)
    pieces: list[tuple[datetime, datetime, Category]] = []
    begin = _instant(current, time(0), zone)
    while begin < end:
        cuts = _WEEKEND_CUTS if current.weekday() >= SATURDAY else _WEEKDAY_CUTS
        following = current + timedelta(days=1)
        bounds = [_instant(current, at, zone) for at, _ in cuts[1:]]
        finish = _instant(following, time(0), zone)
        edges = [begin, *bounds, finish]
        for (_, category), low, high in zip(cuts, edges, edges[1:], strict=False):
            low, high = max(low, start), min(high, end)
            if low < high:
                pieces.append((low, high, category))
        current, begin = following, finish
    return pieces


def split(start: datetime, end: datetime, zone: str) -> dict[Category, timedelta]:
    """Return how much of [start, end) falls in each category on the local clock of `zone`."""
    found = dict.fromkeys(Category, timedelta())
    for low, high, category in slices(start, end, zone):
        found[category] += high - low
    return found


def is_night(at: datetime, zone: str) -> bool:
    """Return whether `at` reads between 22:00 and 07:00 on the local clock of `zone`."""
    clock = at.astimezone(_tz(zone)).time()
    return clock >= NIGHT_STARTS or clock < NIGHT_ENDS


def _union(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def on_call_hours(
    shifts: Iterable[sched.Shift],
    zones: Mapping[str, str],
    pages: Iterable[tuple[str, datetime]],
    start: datetime,
    end: datetime,
) -> list[PersonHours]:
    """Return each person's hours on call and pages in [start, end), most hours first.

    `shifts` are final-schedule shifts, of one schedule or of several; `zones` gives each
    person's time zone (UTC when missing); `pages` are (person, instant received). Everyone with
    time on call or a page in the range appears, sorted by total hours descending, then handle.
    """
    if end < start:
        raise InvalidInput(f"end {end.isoformat()} is before start {start.isoformat()}")
    on_call: dict[str, list[tuple[datetime, datetime]]] = {}
    for shift in shifts:
        low, high = max(shift.start, start), min(shift.end, end)
        if low < high:
            for user in shift.users:
                on_call.setdefault(user, []).append((low, high))
    received: dict[str, list[datetime]] = {}
    for user, at in pages:
        if start <= at < end:
            received.setdefault(user, []).append(at)
    people = []
    for user in on_call.keys() | received.keys():
        zone = zones.get(user, "UTC")
        hours = dict.fromkeys(Category, timedelta())
        for low, high in _union(on_call.get(user, [])):
            for category, length in split(low, high, zone).items():
                hours[category] += length
        instants = received.get(user, [])
        people.append(
            PersonHours(
                user,
                zone,
                hours,
                pages=len(instants),
                night_pages=sum(is_night(at, zone) for at in instants),
            )
        )
    return sorted(people, key=lambda p: (-p.total, p.user))
