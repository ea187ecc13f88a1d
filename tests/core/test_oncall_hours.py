"""The on-call hours split: categories on each person's own clock, real hours across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core.oncall_hours import Category, is_night, on_call_hours, slices, split
from tocsin.core.schedule import Shift
from tocsin.errors import InvalidInput

B, E, N, W = Category.BUSINESS, Category.EVENINGS, Category.NIGHTS, Category.WEEKENDS
H = timedelta(hours=1)


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        pytest.param(
            "Europe/Berlin",
            local("Europe/Berlin", 2024, 3, 25, 0),
            local("Europe/Berlin", 2024, 3, 26, 0),
            {N: 9, E: 7, B: 8},
            id="a-plain-weekday-is-7-night-2-evening-8-business-5-evening-2-night",
        ),
        pytest.param(
            "Europe/Berlin",
            local("Europe/Berlin", 2024, 3, 31, 0),
            local("Europe/Berlin", 2024, 4, 1, 0),
            {W: 23},
            id="berlin-spring-forward-sunday-has-23-real-hours",
        ),
        pytest.param(
            "America/New_York",
            local("America/New_York", 2024, 11, 3, 0),
            local("America/New_York", 2024, 11, 4, 0),
            {W: 25},
            id="new-york-fall-back-sunday-has-25-real-hours",
        ),
        pytest.param(
            # Cairo springs forward on a Friday at 00:00 (to 01:00): the weekday night from
            # Thursday 22:00 to Friday 07:00 has 8 real hours, not 9.
            "Africa/Cairo",
            local("Africa/Cairo", 2024, 4, 25, 22),
            local("Africa/Cairo", 2024, 4, 26, 7),
            {N: 8},
            id="a-weekday-night-with-the-spring-forward-has-8-hours",
        ),
        pytest.param(
            # Cairo falls back on Thursday 2024-10-31 at 24:00 (to 23:00): that night has 10.
            "Africa/Cairo",
            local("Africa/Cairo", 2024, 10, 31, 22),
            utc(2024, 11, 1, 5),  # Friday 07:00 EET
            {N: 10},
            id="a-weekday-night-with-the-fall-back-has-10-hours",
        ),
        pytest.param(
            "Europe/London",
            local("Europe/London", 2024, 3, 29, 21),
            local("Europe/London", 2024, 3, 30, 1),
            {E: 1, N: 2, W: 1},
            id="friday-night-is-night-until-saturday-begins",
        ),
        pytest.param(
            "America/New_York",
            local("America/New_York", 2024, 3, 31, 21),
            local("America/New_York", 2024, 4, 1, 8),
            {W: 3, N: 7, E: 1},
            id="sunday-night-is-weekend-until-monday-begins",
        ),
        pytest.param(
            # Lord Howe Island moves its clocks by half an hour, at 02:00 on a Sunday.
            "Australia/Lord_Howe",
            local("Australia/Lord_Howe", 2024, 10, 6, 0),
            local("Australia/Lord_Howe", 2024, 10, 7, 0),
            {W: 23.5},
            id="half-hour-dst",
        ),
    ],
)
def test_split(zone: str, start: datetime, end: datetime, expected: dict[Category, float]) -> None:
    found = split(start, end, zone)
    assert {c: v / H for c, v in found.items() if v} == expected


@pytest.mark.parametrize(
    ("at", "zone", "night"),
    [
        pytest.param(utc(2024, 3, 29, 21), "Europe/Berlin", True, id="22:00-is-night"),
        pytest.param(utc(2024, 3, 29, 21), "Europe/London", False, id="21:00-is-not"),
        pytest.param(utc(2024, 4, 1, 10, 59), "America/New_York", True, id="06:59-is-night"),
        pytest.param(utc(2024, 4, 1, 11), "America/New_York", False, id="07:00-is-not"),
        pytest.param(utc(2024, 3, 31, 1, 30), "Europe/Berlin", True, id="a-sunday-night-too"),
    ],
)
def test_is_night(at: datetime, zone: str, night: bool) -> None:
    assert is_night(at, zone) is night


def test_overlapping_shifts_of_one_person_count_once() -> None:
    # Two schedules put alice on call Monday 08:00-12:00 and 10:00-14:00 UTC at once: she was on
    # call 6 hours (1 evening, 5 business), not 8.
    shifts = [
        Shift(utc(2024, 3, 25, 8), utc(2024, 3, 25, 12), ("alice",)),
        Shift(utc(2024, 3, 25, 10), utc(2024, 3, 25, 14), ("alice", "bob")),
        Shift(utc(2024, 3, 25, 14), utc(2024, 3, 25, 15), ()),
    ]
    found = on_call_hours(shifts, {}, [], utc(2024, 3, 25), utc(2024, 3, 26))
    assert [(p.user, p.time_zone, p.total / H, p.hours[B] / H) for p in found] == [
        ("alice", "UTC", 6, 5),
        ("bob", "UTC", 4, 4),
    ]


def test_people_with_only_pages_appear_and_ties_sort_by_handle() -> None:
    pages = [
        ("zoe", utc(2024, 3, 25, 3)),
        ("zoe", utc(2024, 3, 25, 12)),
        ("amy", utc(2024, 3, 24, 23, 59)),  # before the range
        ("amy", utc(2024, 3, 26)),  # the range's end is excluded
        ("bea", utc(2024, 3, 25, 23)),
    ]
    zones = {"zoe": "Asia/Tokyo"}  # 03:00Z = 12:00 JST, 12:00Z = 21:00 JST: no night page
    found = on_call_hours([], zones, pages, utc(2024, 3, 25), utc(2024, 3, 26))
    assert [(p.user, p.pages, p.night_pages, p.total) for p in found] == [
        ("bea", 1, 1, timedelta()),
        ("zoe", 2, 0, timedelta()),
    ]


def test_a_range_that_runs_backwards_is_refused() -> None:
    with pytest.raises(InvalidInput, match="is before start"):
        on_call_hours([], {}, [], utc(2024, 3, 26), utc(2024, 3, 25))


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Africa/Cairo",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Tehran",
    "Pacific/Chatham",
]
# Around the DST changes of 2024 and 2025, minute by minute.
instants = st.integers(
    min_value=int(utc(2024, 1, 1).timestamp()) // 60,
    max_value=int(utc(2025, 12, 31).timestamp()) // 60,
).map(lambda minute: datetime.fromtimestamp(minute * 60, UTC))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), instants, st.integers(min_value=0, max_value=60 * 24 * 20))
def test_categories_partition_the_time(zone: str, start: datetime, minutes: int) -> None:
    end = start + timedelta(minutes=minutes)
    pieces = slices(start, end, zone)
    assert sum((high - low for low, high, _ in pieces), timedelta()) == end - start
    if pieces:
        assert (pieces[0][0], pieces[-1][1]) == (start, end)
    assert all(a[1] == b[0] for a, b in pairwise(pieces))
    # Each piece's category is the one its local wall clock reads at its start and just before
    # its end.
    tz = ZoneInfo(zone)
    for low, high, category in pieces:
        for at in (low, high - timedelta(microseconds=1)):
            wall = at.astimezone(tz)
            hour = wall.hour
            expected = (
                W
                if wall.weekday() >= 5
                else N
                if hour < 7 or hour >= 22
                else B
                if 9 <= hour < 17
                else E
            )
            assert category == expected, (zone, low, high, at)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ZONES),
    instants,
    st.integers(min_value=0, max_value=60 * 24 * 10),
    st.integers(min_value=0, max_value=60 * 24 * 10),
)
def test_splitting_the_range_in_two_gives_the_same_sums(
    zone: str, start: datetime, first: int, second: int
) -> None:
    middle = start + timedelta(minutes=first)
    end = middle + timedelta(minutes=second)
    shifts = [Shift(start - H, end + H, ("alice",))]
    pages = [("alice", start + timedelta(minutes=m)) for m in range(0, first + second, 97)]
    zones = {"alice": zone}

    def hours(low: datetime, high: datetime) -> tuple[dict[Category, timedelta], int, int]:
        found = on_call_hours(shifts, zones, pages, low, high)
        if not found:
            return dict.fromkeys(Category, timedelta()), 0, 0
        (person,) = found
        return dict(person.hours), person.pages, person.night_pages

    whole, left, right = hours(start, end), hours(start, middle), hours(middle, end)
    assert {c: left[0][c] + right[0][c] for c in Category} == whole[0]
    assert (left[1] + right[1], left[2] + right[2]) == (whole[1], whole[2])
