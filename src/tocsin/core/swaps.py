"""Shift swaps: asking teammates to cover part of one's own shift, and what taking it means.

A responder asks for cover of a range of their own on-call time on one schedule; the first
teammate to accept becomes an override for that range. This module decides, from values, whether
a request is valid and what a prospective taker should know before accepting.

How a swap changes the final schedule (see `tocsin.core.schedule`): an override beats every
layer, and overlapping overrides put all their users on call. So over the covered range the
taker's override replaces whichever layer had someone on call, and joins any other override
there. When the requester's own time there came from an override of theirs, the service clips
that override out of the range on acceptance, so the requester really hands the time over.

What "a gap" means here, precisely. The override covers the whole range, so accepting can never
leave anyone's time in the range uncovered; what can go wrong is that the range no longer is
the requester's time, because the schedule changed after the request was made:

* where nobody is on call in the range now, the request no longer describes a shift, and the
  override would fill a gap of the schedule rather than take over a shift: a `GAP` warning;
* where someone other than the requester (alone) is on call from a layer, the override would
  displace that person, who was never asked: a `GAP` warning naming them.

Where the requester is on call together with others through overrides, the others stay on call
beside the taker: nobody is displaced, so nothing is said.

A `BUSY` warning says the taker would hold two shifts at once: they have a shift in some layer
of this schedule (on call there, or waiting under a layer that wins), an override of their own on
it, or are on call on another schedule during the range. Warnings never block acceptance.

Every instant is aware; ranges are half-open ``[start, end)``. Nothing here reads a clock:
`now` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from tocsin.core import schedule as sched

__all__ = [
    "MAX_AHEAD",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "NOTE_LENGTH",
    "SwapStatus",
    "Warning",
    "WarningKind",
    "covered_range",
    "request_problems",
    "status_at",
    "taker_warnings",
]

# Shorter than this is more likely a typo than a wish (and not worth a teammate's evening).
MIN_LENGTH = timedelta(minutes=15)
# A month of someone else's shifts is a change of rota, not a swap.
MAX_LENGTH = timedelta(days=31)
# Schedules are often rebuilt within a year; a request further out would outlive its shift.
MAX_AHEAD = timedelta(days=366)
NOTE_LENGTH = 1000
# How many separate windows a problem or warning lists before saying "and N more".
_SHOWN = 3


class SwapStatus(StrEnum):
    """Where a request stands; the values are what the database and the API hold."""

    OPEN = "open"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class WarningKind(StrEnum):
    """What a prospective taker is warned of before accepting."""

    BUSY = "busy"  # the taker would hold two shifts at once
    GAP = "gap"  # the range is no longer (all) the requester's: a gap filled or a person displaced


@dataclass(frozen=True, slots=True)
class Warning:
    """One thing a taker should know before accepting, in one line."""

    kind: WarningKind
    message: str


def status_at(status: str, end: datetime, now: datetime) -> SwapStatus:
    """Return the request's status at `now`: an open request whose range has passed is expired."""
    if status == SwapStatus.OPEN and end <= now:
        return SwapStatus.EXPIRED
    return SwapStatus(status)


def covered_range(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """Return the part of [start, end) still to cover at `now`: accepting part-way through a
    range covers its remainder, since the past cannot be covered."""
    return max(start, now), end


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _windows(spans: list[tuple[datetime, datetime]], zone: ZoneInfo) -> str:
    shown = [f"{_when(a, zone)} to {_when(b, zone)}" for a, b in spans[:_SHOWN]]
    more = len(spans) - _SHOWN
    return ", ".join(shown) + (
        f" and {more} more window{'s' if more != 1 else ''}" if more > 0 else ""
    )


def _merged(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for begin, finish in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(finish, merged[-1][1]))
        else:
            merged.append((begin, finish))
    return merged


def request_problems(
    schedule: sched.Schedule,
    requester: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    note: str = "",
) -> list[str]:
    """Return every reason `requester` may not ask for cover of [start, end) at `now` ([] if
    none): the range must be the rest of a shift in progress or later, of a reasonable length,
    and all within the requester's final on-call time on `schedule` (overrides included)."""
    zone = ZoneInfo(schedule.time_zone)
    problems: list[str] = []
    if len(note) > NOTE_LENGTH:
        problems.append(f"note: at most {NOTE_LENGTH} characters (it has {len(note)})")
    if end <= start:
        problems.append(f"end {_when(end, zone)} is not after start {_when(start, zone)}")
        return problems
    if end <= now:
        problems.append(f"the range ended at {_when(end, zone)}: only time still ahead is covered")
        return problems
    low, high = covered_range(start, end, now)
    if high - low < MIN_LENGTH:
        problems.append(
            f"the range is too short: at least {int(MIN_LENGTH.total_seconds() // 60)} minutes"
            " of time still ahead"
        )
    if high - low > MAX_LENGTH:
        problems.append(
            f"the range is too long: at most {MAX_LENGTH.days} days; for longer, change the rota"
        )
    if low - now > MAX_AHEAD:
        problems.append(f"start is more than {MAX_AHEAD.days} days ahead")
    if problems:
        return problems
    missing = [
        (shift.start, shift.end)
        for shift in sched.final_shifts(schedule, low, high)
        if requester not in shift.users
    ]
    if missing:
        problems.append(
            f"@{requester} is not on call on {schedule.name} from {_windows(missing, zone)}: "
            "ask only for cover of your own on-call time"
        )
    return problems


def taker_warnings(
    schedule: sched.Schedule,
    requester: str,
    taker: str,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    others: Mapping[str, sched.Schedule] | None = None,
) -> list[Warning]:
    """Return what `taker` should know before covering [start, end) for `requester` at `now`,
    with `others` the other schedules by name: every `BUSY` and `GAP` warning, in that order."""
    zone = ZoneInfo(schedule.time_zone)
    low, high = covered_range(start, end, now)
    if high <= low:
        return []
    found: list[Warning] = []
    for index, layer in enumerate(schedule.layers):
        spans = _merged(
            (s.start, s.end)
            for s in sched.layer_shifts(schedule, index, low, high)
            if taker in s.users
        )
        if spans:
            found.append(
                Warning(
                    WarningKind.BUSY,
                    f"@{taker} already has a shift in layer {layer.name!r} of {schedule.name} "
                    f"from {_windows(spans, zone)}",
                )
            )
    own = _merged(
        (max(o.start, low), min(o.end, high))
        for o in schedule.overrides
        if o.user == taker and o.start < high and o.end > low
    )
    if own:
        found.append(
            Warning(
                WarningKind.BUSY,
                f"@{taker} already has an override on {schedule.name} from {_windows(own, zone)}",
            )
        )
    for name, other in sorted((others or {}).items()):
        if name == schedule.name:
            continue
        spans = _merged(
            (s.start, s.end) for s in sched.final_shifts(other, low, high) if taker in s.users
        )
        if spans:
            found.append(
                Warning(
                    WarningKind.BUSY,
                    f"@{taker} is on call on schedule {name!r} from {_windows(spans, zone)}",
                )
            )
    empty: list[tuple[datetime, datetime]] = []
    displaced: dict[tuple[str, ...], list[tuple[datetime, datetime]]] = {}
    for shift in sched.final_shifts(schedule, low, high):
        if requester in shift.users:
            continue
        if not shift.users:
            empty.append((shift.start, shift.end))
        elif shift.users != (taker,):  # the taker's own shift is a BUSY warning above
            displaced.setdefault(shift.users, []).append((shift.start, shift.end))
    if empty:
        found.append(
            Warning(
                WarningKind.GAP,
                f"@{requester} is no longer on call from {_windows(empty, zone)} (the schedule "
                "changed since the request) and nobody is: taking it fills a gap of the "
                "schedule, not @" + requester + "'s shift",
            )
        )
    for users, spans in displaced.items():
        names = ", ".join(f"@{u}" for u in users)
        found.append(
            Warning(
                WarningKind.GAP,
                f"@{requester} is no longer on call from {_windows(spans, zone)} (the schedule "
                f"changed since the request): {names} is, and taking it would replace them "
                "without asking",
            )
        )
    return found
