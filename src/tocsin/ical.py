"""iCalendar (RFC 5545) feeds of a schedule's final shifts and of one user's on-call time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Event

from tocsin.core.schedule import Shift

PRODID = "-//Tocsin//On-call schedules//EN"


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    return calendar


def _event(
    uid_parts: Iterable[str], start: datetime, end: datetime, summary: str, now: datetime
) -> Event:
    event = Event()
    # A UID that depends only on what the event says keeps calendar apps from duplicating
    # unchanged shifts on every refresh.
    digest = hashlib.sha256("|".join(uid_parts).encode()).hexdigest()[:32]
    event.add("uid", f"{digest}@tocsin")
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("transp", "TRANSPARENT")
    return event


def schedule_feed(name: str, shifts: list[Shift], *, now: datetime) -> bytes:
    """Return the final schedule as a calendar; gaps are events too, so nobody misses them."""
    calendar = _calendar(f"On call: {name}")
    for shift in shifts:
        summary = f"On call: {', '.join(shift.users)}" if shift.users else "GAP: nobody on call"
        calendar.add_component(
            _event(
                (name, shift.start.isoformat(), shift.end.isoformat(), *shift.users),
                shift.start,
                shift.end,
                summary,
                now,
            )
        )
    return bytes(calendar.to_ical())


def user_feed(handle: str, shifts: list[tuple[str, Shift]], *, now: datetime) -> bytes:
    """Return when `handle` is on call, one event per schedule and continuous stretch."""
    calendar = _calendar(f"On call: @{handle}")
    stretches: list[tuple[str, datetime, datetime]] = []
    for schedule, shift in sorted(shifts, key=lambda item: (item[0], item[1].start)):
        if handle not in shift.users:
            continue
        last = stretches[-1] if stretches else None
        if last and last[0] == schedule and last[2] == shift.start:
            stretches[-1] = (schedule, last[1], shift.end)
        else:
            stretches.append((schedule, shift.start, shift.end))
    for schedule, start, end in sorted(stretches, key=lambda s: s[1]):
        calendar.add_component(
            _event(
                (handle, schedule, start.isoformat(), end.isoformat()),
                start,
                end,
                f"On call: {schedule}",
                now,
            )
        )
    return bytes(calendar.to_ical())
