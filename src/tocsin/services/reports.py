"""Reports that gather several stores: hours on call per person, from the final schedule.

The CLI (`tocsin report oncall`), the API (`GET /api/v1/reports/oncall`) and the web page
(`/reports/oncall`) all call `oncall`, so they read the same range the same way and show the
same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.core import oncall_hours
from tocsin.core import schedule as sched
from tocsin.core.oncall_hours import Category, PersonHours
from tocsin.errors import InvalidInput, NotFound
from tocsin.store import pages_received, users
from tocsin.store import schedules as schedule_store

# A year, a leap one included: enough for any yearly review, and it bounds the work.
MAX_RANGE = timedelta(days=366)
# The keys of the hours in the report, in the order the columns show them.
HOUR_KEYS = {
    Category.BUSINESS: "business_hours",
    Category.EVENINGS: "evening_hours",
    Category.NIGHTS: "night_hours",
    Category.WEEKENDS: "weekend_hours",
}
COLUMNS = (
    "user",
    "name",
    "time_zone",
    "total_hours",
    *HOUR_KEYS.values(),
    "pages",
    "night_pages",
)


def _hours(length: timedelta) -> float:
    return round(length.total_seconds() / 3600, 4)


def _parse(text: str, label: str, zone: str, problems: list[str]) -> datetime | None:
    try:
        return sched.parse_time(text, zone)
    except InvalidInput as exc:
        problems.append(f"{label}: {exc.message}")
        return None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def oncall(
    session: Session, *, from_: str, to: str, schedules: Sequence[str] = ()
) -> dict[str, Any]:
    """Return the on-call hours report over [from_, to) for `schedules` (every one when empty).

    `from_` and `to` are ISO-8601 dates or times; without an offset they are local to the
    schedule when exactly one is named, else UTC. The range must run forwards and span at most
    366 days. With schedules named, the people are those the schedules name or put on call;
    without, everyone on call in any schedule and everyone paged.
    """
    names = list(dict.fromkeys(schedules))
    # Names are looked up among the schedules rather than sent to the database: any text a
    # query string carries (a NUL, 10 kB) is then simply not a schedule.
    every = {schedule.name: schedule for schedule in schedule_store.list_(session)}
    unknown = [name for name in names if name not in every]
    if unknown:
        known = ", ".join(every) or "none yet"
        raise NotFound.of(f"unknown schedule {name!r} (schedules: {known})" for name in unknown)
    chosen = [every[name] for name in names]
    zone = chosen[0].time_zone if len(chosen) == 1 else "UTC"
    problems: list[str] = []
    start = _parse(from_, "from", zone, problems)
    end = _parse(to, "to", zone, problems)
    if start is not None and end is not None:
        if end <= start:
            problems.append(f"to {to!r} must be after from {from_!r}")
        elif end - start > MAX_RANGE:
            problems.append(f"the range from {from_!r} to {to!r} is over a year (366 days)")
    if problems or start is None or end is None:
        raise InvalidInput.of(problems)
    cores = [schedule_store.to_core(s) for s in chosen or every.values()]
    shifts = [shift for core in cores for shift in sched.final_shifts(core, start, end)]
    people = {user.handle: user for user in users.list_(session)}
    pages = pages_received.first_deliveries(session, start=start, end=end)
    if names:
        members = {shift_user for shift in shifts for shift_user in shift.users}
        for core in cores:
            members |= {p for layer in core.layers for p in layer.participants}
            members |= {o.user for o in core.overrides}
        pages = [(user, at) for user, at in pages if user in members]
    zones = {handle: user.time_zone for handle, user in people.items()}
    found = oncall_hours.on_call_hours(shifts, zones, pages, start, end)
    rows = [
        _row(person, people[person.user].name if person.user in people else "") for person in found
    ]
    return {
        "from": _iso(start),
        "to": _iso(end),
        "time_zone": zone,
        "schedules": names or [core.name for core in cores],
        "people": rows,
        "totals": _totals(found),
    }


def _row(person: PersonHours, name: str) -> dict[str, Any]:
    return {
        "user": person.user,
        "name": name,
        "time_zone": person.time_zone,
        "total_hours": _hours(person.total),
        **{key: _hours(person.hours[category]) for category, key in HOUR_KEYS.items()},
        "pages": person.pages,
        "night_pages": person.night_pages,
    }


def _totals(found: list[PersonHours]) -> dict[str, Any]:
    return {
        "total_hours": _hours(sum((p.total for p in found), timedelta())),
        **{
            key: _hours(sum((p.hours[category] for p in found), timedelta()))
            for category, key in HOUR_KEYS.items()
        },
        "pages": sum(p.pages for p in found),
        "night_pages": sum(p.night_pages for p in found),
    }
