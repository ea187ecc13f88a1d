"""Property-based tests of the on-call schedule logic.

Random schedules (layers in DST and non-DST zones, every rotation unit, restrictions, overrides)
are checked for the invariants of the final schedule, and against a slow brute-force oracle that
re-derives who is on call from the written semantics with nothing but `localize`.
"""

from __future__ import annotations

import operator
from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core.schedule import (
    Layer,
    Override,
    Restriction,
    Rotation,
    RotationUnit,
    Schedule,
    Shift,
    final_shifts,
    layer_shifts,
    localize,
    on_call,
)

CHICAGO_DAYS = [datetime(2020, 3, 8), datetime(2020, 11, 1), datetime(2021, 3, 14)]
# Days on which each zone changes clocks, to aim times and ranges at the edges.
TRANSITIONS: dict[str, list[datetime]] = {
    "UTC": [],
    "Asia/Tokyo": [],
    "America/Chicago": CHICAGO_DAYS,
    "America/New_York": CHICAGO_DAYS,
    "Europe/Berlin": [datetime(2020, 3, 29), datetime(2020, 10, 25), datetime(2021, 3, 28)],
    "Australia/Lord_Howe": [datetime(2020, 4, 5), datetime(2020, 10, 4), datetime(2021, 4, 4)],
}
ZONES = list(TRANSITIONS)
USERS = ["ann", "bob", "cy", "dee", "eve"]
TICK = timedelta(microseconds=1)
PROPERTIES = settings(max_examples=150, deadline=None)

# --------------------------------------------------------------------------------------------
# Strategies

# Clock times inside or next to the gaps and folds (02:00-03:00; 02:00-02:30 on Lord Howe).
edge_clock = st.sampled_from(
    [time(0), time(1), time(1, 30), time(1, 45), time(2), time(2, 15), time(2, 30), time(3)]
)
clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])) | edge_clock


@st.composite
def walls(draw: st.DrawFn, zone: str) -> datetime:
    """Return a naive wall time, often at an edge of a clock change in `zone`."""
    if TRANSITIONS[zone] and draw(st.booleans()):
        day = draw(st.sampled_from(TRANSITIONS[zone])) + timedelta(days=draw(st.integers(-1, 1)))
    else:
        day = datetime(2019, 9, 1) + timedelta(days=draw(st.integers(0, 800)))
    return datetime.combine(day.date(), draw(clock))


@st.composite
def rotations(draw: st.DrawFn) -> Rotation:
    unit = draw(st.sampled_from(list(RotationUnit)))
    most = {
        RotationUnit.HOURS: 36,
        RotationUnit.DAYS: 9,
        RotationUnit.WEEKS: 3,
        RotationUnit.MONTHS: 3,
    }[unit]
    return Rotation(draw(st.integers(1, 2) | st.integers(1, most)), unit)


restrictions = st.builds(
    Restriction,
    clock,
    clock,
    st.none() | st.frozensets(st.integers(0, 6), min_size=1),
)


# Starts late in a month, so that monthly rotations clamp.
month_ends = st.sampled_from(
    [
        datetime(2019, 10, 31, 2, 30),
        datetime(2020, 1, 31, 9),
        datetime(2020, 3, 30, 1, 30),
        datetime(2020, 8, 29, 2),
    ]
)


@st.composite
def layers(draw: st.DrawFn, home: str) -> Layer:
    zone = draw(st.none() | st.sampled_from(ZONES))
    back = st.sampled_from([0, 3, 30, 200]).map(lambda days: timedelta(days=days))
    start = draw(st.builds(operator.sub, walls(zone or home), back) | month_ends)
    return Layer(
        name=f"layer-{draw(st.integers(0, 99))}",
        participants=tuple(draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4))),
        rotation=draw(rotations()),
        start=start,
        restrictions=tuple(draw(st.lists(restrictions, max_size=2))),
        time_zone=zone,
    )


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """Return an aware UTC instant, often a little before a clock change in `zone`."""
    wall = draw(walls(zone)) - timedelta(seconds=draw(st.integers(0, 2 * 24 * 3600)))
    return wall.replace(tzinfo=UTC)


@st.composite
def overrides(draw: st.DrawFn, near: datetime) -> Override:
    start = near + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 6 * 24 * 60)))
    length = timedelta(minutes=draw(st.integers(1, 2 * 24 * 60)))
    return Override(draw(st.sampled_from([*USERS, "zoe", "yan"])), start, start + length)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    """Return a schedule and a query range of up to a week."""
    home = draw(st.sampled_from(ZONES))
    if TRANSITIONS[home] and draw(st.booleans()):
        # Across a clock change: every zone here is within 12 hours of UTC.
        day = draw(st.sampled_from(TRANSITIONS[home])).replace(tzinfo=UTC)
        start = day - timedelta(minutes=draw(st.integers(12 * 60, 48 * 60)))
        end = day + timedelta(minutes=draw(st.integers(12 * 60, 5 * 24 * 60)))
    else:
        start = draw(instants(home))
        end = start + timedelta(minutes=draw(st.integers(1, 7 * 24 * 60)))
    schedule = Schedule(
        name="random",
        time_zone=home,
        layers=tuple(draw(st.lists(layers(home), min_size=1, max_size=4))),
        overrides=tuple(draw(st.lists(overrides(start), max_size=3))),
    )
    return schedule, start, end


# --------------------------------------------------------------------------------------------
# A brute-force oracle, written from the semantics rather than from the implementation


def zone_of(schedule: Schedule, layer: Layer) -> str:
    return layer.time_zone or schedule.time_zone


def handoff(layer: Layer, zone: str, k: int) -> datetime:
    rotation = layer.rotation
    if rotation.unit is RotationUnit.MONTHS:
        months = layer.start.year * 12 + layer.start.month - 1 + k * rotation.count
        year, month = divmod(months, 12)
        day = min(layer.start.day, monthrange(year, month + 1)[1])
        wall = layer.start.replace(year=year, month=month + 1, day=day)
    else:
        hours = {RotationUnit.HOURS: 1, RotationUnit.DAYS: 24, RotationUnit.WEEKS: 168}
        wall = layer.start + timedelta(hours=k * rotation.count * hours[rotation.unit])
    return localize(wall, zone).astimezone(UTC)


def shift_index(layer: Layer, zone: str, at: datetime) -> int | None:
    """Return the last k whose handoff is at or before `at` (handoffs never decrease)."""
    if handoff(layer, zone, 0) > at:
        return None
    low, high = 0, 1
    while handoff(layer, zone, high) <= at:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if handoff(layer, zone, middle) <= at:
            low = middle
        else:
            high = middle
    return low


def in_windows(layer: Layer, zone: str, at: datetime) -> bool:
    if not layer.restrictions:
        return True
    today = at.astimezone(ZoneInfo(zone)).date()
    for offset in range(-2, 2):
        day: date = today + timedelta(days=offset)
        for restriction in layer.restrictions:
            if restriction.days is not None and day.weekday() not in restriction.days:
                continue
            end_day = day if restriction.end > restriction.start else day + timedelta(days=1)
            begin = localize(datetime.combine(day, restriction.start), zone).astimezone(UTC)
            finish = localize(datetime.combine(end_day, restriction.end), zone).astimezone(UTC)
            if begin <= at < finish:
                return True
    return False


def oracle(schedule: Schedule, at: datetime) -> tuple[str, ...]:
    overriding = {o.user for o in schedule.overrides if o.start <= at < o.end}
    if overriding:
        return tuple(sorted(overriding))
    for layer in reversed(schedule.layers):
        zone = zone_of(schedule, layer)
        k = shift_index(layer, zone, at)
        if k is not None and in_windows(layer, zone, at):
            return (layer.participants[k % len(layer.participants)],)
    return ()


def containing(shifts: list[Shift], at: datetime) -> Shift:
    (found,) = [shift for shift in shifts if shift.start <= at < shift.end]
    return found


def probes(shifts: list[Shift], fractions: list[float]) -> list[datetime]:
    """Return every shift start, the instant before each end, and instants at `fractions`."""
    start, end = shifts[0].start, shifts[-1].end
    found = {shift.start for shift in shifts} | {shift.end - TICK for shift in shifts}
    found |= {start + (end - start) * fraction for fraction in fractions}
    return sorted(at for at in found if start <= at < end)


fractions = st.lists(st.floats(0, 1, exclude_max=True), max_size=8)

# --------------------------------------------------------------------------------------------
# Properties


@PROPERTIES
@given(cases())
def test_final_schedule_covers_the_range_once_contiguously(case):
    schedule, start, end = case
    shifts = final_shifts(schedule, start, end)
    assert shifts[0].start == start
    assert shifts[-1].end == end
    for shift in shifts:
        assert shift.start.tzinfo is UTC and shift.end.tzinfo is UTC
        assert shift.start < shift.end
        assert list(shift.users) == sorted(set(shift.users))
    for before, after in pairwise(shifts):
        assert before.end == after.start
        assert before.users != after.users


@PROPERTIES
@given(cases(), fractions)
def test_on_call_agrees_with_final_shifts(case, spots):
    schedule, start, end = case
    shifts = final_shifts(schedule, start, end)
    for at in probes(shifts, spots):
        assert on_call(schedule, at) == containing(shifts, at).users, at


@PROPERTIES
@given(cases(), fractions)
def test_final_shifts_match_the_brute_force_oracle(case, spots):
    schedule, start, end = case
    shifts = final_shifts(schedule, start, end)
    for at in probes(shifts, spots):
        assert containing(shifts, at).users == oracle(schedule, at), at


@PROPERTIES
@given(cases(), fractions)
def test_overrides_replace_everyone(case, spots):
    schedule, _, _ = case
    for override in schedule.overrides:
        for fraction in [0.0, *spots]:
            # Rounding to microseconds could land on the exclusive end.
            at = min(
                override.start + (override.end - override.start) * fraction, override.end - TICK
            )
            expected = {o.user for o in schedule.overrides if o.start <= at < o.end}
            assert set(on_call(schedule, at)) == expected
            assert override.user in expected


@PROPERTIES
@given(cases(), st.floats(0, 1))
def test_splitting_the_range_changes_nothing(case, fraction):
    schedule, start, end = case
    middle = start + (end - start) * fraction
    whole = final_shifts(schedule, start, end)
    parts = final_shifts(schedule, start, middle) + final_shifts(schedule, middle, end)
    joined: list[Shift] = []
    for shift in parts:
        if joined and joined[-1].users == shift.users:
            joined[-1] = Shift(joined[-1].start, shift.end, shift.users)
        else:
            joined.append(shift)
    assert joined == whole


@PROPERTIES
@given(cases())
def test_layer_shifts_are_ordered_and_inside_the_range(case):
    schedule, start, end = case
    for index in range(len(schedule.layers)):
        shifts = layer_shifts(schedule, index, start, end)
        for shift in shifts:
            assert start <= shift.start < shift.end <= end
            assert len(shift.users) == 1
        for before, after in pairwise(shifts):
            assert before.end <= after.start


@st.composite
def edge_walls(draw: st.DrawFn) -> tuple[datetime, str]:
    """Return a wall time within hours of a clock change, at minute resolution, and its zone."""
    zone = draw(st.sampled_from([zone for zone in ZONES if TRANSITIONS[zone]]))
    day = draw(st.sampled_from(TRANSITIONS[zone]))
    return day + timedelta(minutes=draw(st.integers(0, 4 * 60))), zone


@settings(max_examples=200, deadline=None)
@given(edge_walls() | st.sampled_from(ZONES).flatmap(lambda z: st.tuples(walls(z), st.just(z))))
def test_localize_is_the_earliest_instant_at_or_after_the_wall_time(case):
    wall, zone = case
    tz = ZoneInfo(zone)
    local = localize(wall, zone)

    def wall_of(instant: datetime) -> datetime:
        return instant.astimezone(tz).replace(tzinfo=None)

    # Step back in UTC: arithmetic on a datetime in a ZoneInfo zone is wall-clock arithmetic.
    before = local.astimezone(UTC) - TICK
    assert local.tzinfo is tz
    assert wall_of(local) >= wall
    assert wall_of(before) < wall
    occurrences = [
        instant
        for fold in (0, 1)
        if wall_of(instant := wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)) == wall
    ]
    if occurrences:
        assert local.astimezone(UTC) == min(occurrences)
        assert local.replace(tzinfo=None) == wall
    else:
        # Inside a gap: the answer is the transition itself.
        assert before.astimezone(tz).utcoffset() != local.utcoffset()
