"""Proof that a schedule survived the move: the source's own rendering of who is on call,
compared with Tocsin's final schedule of the imported config, instant by instant."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.core import schedule as sched


def to_schedule(spec: dict[str, Any]) -> sched.Schedule:
    """Return the core schedule of one `schedules:` entry of a config file's data."""
    zone = str(spec["time_zone"])
    return sched.Schedule(
        str(spec["name"]),
        zone,
        tuple(
            sched.Layer(
                name=str(layer["name"]),
                participants=tuple(layer["participants"]),
                rotation=sched.parse_rotation(str(layer["rotation"])),
                start=datetime.fromisoformat(str(layer["start"])),
                restrictions=tuple(
                    sched.parse_restriction(r.get("days"), str(r["from"]), str(r["to"]))
                    for r in layer.get("restrictions") or []
                ),
                time_zone=layer.get("time_zone"),
            )
            for layer in spec.get("layers") or []
        ),
        tuple(
            sched.Override(
                str(o["user"]),
                sched.parse_time(str(o["from"]), zone),
                sched.parse_time(str(o["to"]), zone),
            )
            for o in spec.get("overrides") or []
        ),
    )


Entry = tuple[datetime, datetime, str]


def _who(entries: list[Entry], shifts: list[sched.Shift], at: datetime) -> tuple[str, str]:
    theirs = sorted({user for start, end, user in entries if start <= at < end})
    ours = sorted({u for s in shifts if s.start <= at < s.end for u in s.users})
    return ", ".join(theirs) or "nobody", ", ".join(ours) or "nobody"


def differences(
    schedule: sched.Schedule | list[sched.Schedule],
    entries: list[Entry],
    start: datetime,
    end: datetime,
    *,
    source: str,
) -> list[str]:
    """Return every stretch of [start, end) where `entries` (the source's rendered final
    schedule: who is on call from when to when) and Tocsin's final schedule name different
    people, one line each in the schedule's zone; [] when they agree at every instant.

    A list of schedules is compared as one: everyone on call in any of them (an Opsgenie
    schedule whose rotations page cumulatively, imported as a schedule per rotation).
    """
    group = schedule if isinstance(schedule, list) else [schedule]
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    shifts = [shift for one in group for shift in sched.final_shifts(one, start, end)]
    entries = [(a.astimezone(UTC), b.astimezone(UTC), user) for a, b, user in entries]
    # Between two consecutive boundaries of either side, both sides name the same people
    # throughout: comparing at each stretch's start compares every instant.
    cuts = sorted(
        {start, end}
        | {t for a, b, _ in entries for t in (a, b) if start < t < end}
        | {t for s in shifts for t in (s.start, s.end) if start < t < end}
    )
    zone = ZoneInfo(group[0].time_zone)
    label = " + ".join(one.name for one in group)
    found: list[tuple[datetime, datetime, str, str]] = []
    for low, high in itertools.pairwise(cuts):
        theirs, ours = _who(entries, shifts, low)
        if theirs == ours:
            continue
        if found and found[-1][1] == low and found[-1][2:] == (theirs, ours):
            found[-1] = (found[-1][0], high, theirs, ours)
        else:
            found.append((low, high, theirs, ours))
    return [
        f"{label}: {low.astimezone(zone):%Y-%m-%d %H:%M} to"
        f" {high.astimezone(zone):%Y-%m-%d %H:%M %Z}: {source} has {theirs}, Tocsin has {ours}"
        for low, high, theirs, ours in found
    ]
