"""What a schedule's page shows besides the picture, and in which time zone.

The page shows its times in the viewer's zone or in the schedule's. A responder reads "when am
I on" in their own clock, so the page starts in their profile's zone; a planner comparing with
the rotation's definition switches to the schedule's (`?zone=schedule`).
The choice lives in the URL, so it works without script and survives a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.core import schedule as sched
from tocsin.errors import InvalidInput

MINE = "mine"
SCHEDULE = "schedule"


@dataclass(frozen=True, slots=True)
class ZoneView:
    """The zone a page shows times in (`zone`), and the viewer's and the schedule's zones."""

    viewer: str
    schedule: str
    mine: bool

    @property
    def zone(self) -> str:
        """Return the name of the zone shown."""
        return self.viewer if self.mine else self.schedule

    @property
    def switch(self) -> str | None:
        """Return the `zone` query value of the other view, or None when both zones agree."""
        if self.viewer == self.schedule:
            return None
        return SCHEDULE if self.mine else MINE

    @property
    def other(self) -> str:
        """Return the name of the zone not shown."""
        return self.schedule if self.mine else self.viewer

    def at(self, instant: datetime | None) -> str:
        """Return `instant` in the shown zone, like "Thu 2024-06-20 19:30 JST"."""
        if instant is None:
            return ""
        return instant.astimezone(ZoneInfo(self.zone)).strftime("%a %Y-%m-%d %H:%M %Z")


def _usable(zone: str) -> str:
    # A profile's zone was checked when it was saved, but the zone database may have lost a name
    # since (tzdata updates retire some): UTC is then the honest fallback.
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return zone


def choose(viewer: str, schedule: str, asked: str | None) -> ZoneView:
    """Return the view `asked` for ("mine", the default, or "schedule").

    Raises InvalidInput for any other value.
    """
    if asked not in (None, "", MINE, SCHEDULE):
        raise InvalidInput(f"zone must be {MINE!r} or {SCHEDULE!r}, not {asked!r}")
    return ZoneView(_usable(viewer or "UTC"), schedule, asked != SCHEDULE)


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call at `now`, until when (None: past the week shown), and who is next."""

    now: tuple[str, ...]
    until: datetime | None
    next: sched.Shift | None


def on_call(schedule: sched.Schedule, now: datetime, end: datetime) -> OnCall:
    """Return who is on call at `now`, until when, and the next people on call before `end`."""
    shifts = sched.final_shifts(schedule, now, end)
    current = shifts[0] if shifts else sched.Shift(now, end, ())
    upcoming = next((shift for shift in shifts[1:] if shift.users), None)
    return OnCall(current.users, current.end if current.end < end else None, upcoming)


@dataclass(frozen=True, slots=True)
class Handoff:
    """A layer's next handoff within the week shown: when, and to whom (None: to nobody)."""

    layer: str
    at: datetime
    to: str | None


def next_handoffs(schedule: sched.Schedule, now: datetime, end: datetime) -> list[Handoff | None]:
    """Return each layer's next handoff after `now` and before `end`, in layer order.

    A handoff is where the rotation passes to the next participant, whatever the restrictions
    (which only mask time), so the layer is looked at without them.
    """
    found: list[Handoff | None] = []
    for layer in schedule.layers:
        bare = sched.Layer(
            layer.name, layer.participants, layer.rotation, layer.start, (), layer.time_zone
        )
        alone = sched.Schedule(schedule.name, schedule.time_zone, (bare,))
        shifts = sched.layer_shifts(alone, 0, now, end)
        following: Handoff | None = None
        if shifts:
            first = shifts[0]
            if first.start > now:  # before the layer's start, or in a turn of nobody
                following = Handoff(layer.name, first.start, first.users[0])
            elif first.end < end:
                after = shifts[1] if len(shifts) > 1 and shifts[1].start == first.end else None
                following = Handoff(layer.name, first.end, after.users[0] if after else None)
        found.append(following)
    return found


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_restriction(restriction: sched.Restriction) -> str:
    """Return a restriction as its layer defines it, like "Mon, Tue 09:00-17:00"."""
    days = (
        ", ".join(_WEEKDAYS[d] for d in sorted(restriction.days))
        if restriction.days is not None
        else "every day"
    )
    return f"{days} {restriction.start:%H:%M}-{restriction.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class LayerRow:
    """A layer as the page lists it: its definition in its own zone, and its next handoff."""

    name: str
    defined: str
    zone: str
    participants: tuple[str, ...]
    handoff: Handoff | None


def layer_rows(schedule: sched.Schedule, now: datetime, end: datetime) -> list[LayerRow]:
    """Return the schedule's layers for the page, lowest precedence first.

    The definition stays in the layer's zone whatever zone the page shows: it is what the
    configuration says, and a rotation handing off at 09:00 hands off at 09:00 there.
    """
    handoffs = next_handoffs(schedule, now, end)
    rows = []
    for layer, handoff in zip(schedule.layers, handoffs, strict=True):
        defined = f"every {layer.rotation} from {layer.start:%Y-%m-%d %H:%M}"
        if layer.restrictions:
            defined += ", on call " + "; ".join(describe_restriction(r) for r in layer.restrictions)
        rows.append(
            LayerRow(
                layer.name,
                defined,
                layer.time_zone or schedule.time_zone,
                layer.participants,
                handoff,
            )
        )
    return rows
