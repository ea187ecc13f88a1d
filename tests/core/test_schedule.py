"""Table-driven tests of the on-call schedule logic.

Every expected instant below was worked out by hand from the zone's rules and is written in UTC
("Z"); none is computed with the code under test.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from tocsin.core.schedule import (
    Layer,
    Override,
    Restriction,
    Rotation,
    RotationUnit,
    Schedule,
    final_shifts,
    gaps,
    layer_shifts,
    localize,
    losing_layers,
    on_call,
    parse_restriction,
    parse_rotation,
    parse_time,
    validate_schedule,
)
from tocsin.errors import InvalidInput

CHICAGO = "America/Chicago"
BERLIN = "Europe/Berlin"
LORD_HOWE = "Australia/Lord_Howe"
TOKYO = "Asia/Tokyo"
NEW_YORK = "America/New_York"

Row = tuple[str, str, tuple[str, ...]]


def z(text: str) -> datetime:
    """Return the aware UTC instant written as "2020-03-08T08:00Z"."""
    return datetime.fromisoformat(text)


def naive(text: str) -> datetime:
    return datetime.fromisoformat(text)


def rows(shifts) -> list[Row]:
    """Return shifts as (start, end, users) rows written like the expectations."""
    for shift in shifts:
        assert shift.start.tzinfo is UTC and shift.end.tzinfo is UTC
    return [(f"{s.start:%Y-%m-%dT%H:%M}Z", f"{s.end:%Y-%m-%dT%H:%M}Z", s.users) for s in shifts]


def one_layer(
    zone: str,
    rotation: str,
    start: str,
    participants: tuple[str, ...] = ("a", "b", "c"),
    restrictions: tuple[Restriction, ...] = (),
) -> Schedule:
    layer = Layer("only", participants, parse_rotation(rotation), naive(start), restrictions)
    return Schedule("test", zone, (layer,))


# --------------------------------------------------------------------------------------------
# Handoffs and DST


@pytest.mark.parametrize(
    ("zone", "rotation", "start", "participants", "window", "expected"),
    [
        pytest.param(
            CHICAGO,
            "1 day",
            "2020-03-06T02:30",
            ("a", "b"),
            ("2020-03-06T00:00Z", "2020-03-10T00:00Z"),
            [
                ("2020-03-06T08:30Z", "2020-03-07T08:30Z", ("a",)),
                # 02:30 on 2020-03-08 does not exist: the handoff is at 03:00 CDT.
                ("2020-03-07T08:30Z", "2020-03-08T08:00Z", ("b",)),
                ("2020-03-08T08:00Z", "2020-03-09T07:30Z", ("a",)),
                ("2020-03-09T07:30Z", "2020-03-10T00:00Z", ("b",)),
            ],
            id="chicago-daily-0230-handoff-in-spring-gap",
        ),
        pytest.param(
            CHICAGO,
            "1 day",
            "2020-03-07T09:00",
            ("a", "b"),
            ("2020-03-07T15:00Z", "2020-03-09T14:00Z"),
            [
                ("2020-03-07T15:00Z", "2020-03-08T14:00Z", ("a",)),  # 23 h
                ("2020-03-08T14:00Z", "2020-03-09T14:00Z", ("b",)),
            ],
            id="chicago-daily-0900-lasts-23h-across-spring",
        ),
        pytest.param(
            CHICAGO,
            "1 day",
            "2020-10-31T01:30",
            ("a", "b"),
            ("2020-10-31T06:30Z", "2020-11-02T07:30Z"),
            [
                # 01:30 on 2020-11-01 happens twice: the first (CDT) occurrence wins.
                ("2020-10-31T06:30Z", "2020-11-01T06:30Z", ("a",)),
                ("2020-11-01T06:30Z", "2020-11-02T07:30Z", ("b",)),  # 25 h
            ],
            id="chicago-daily-0130-ambiguous-fall",
        ),
        pytest.param(
            CHICAGO,
            "1 hour",
            "2020-03-08T00:00",
            ("a", "b", "c"),
            ("2020-03-08T06:00Z", "2020-03-08T10:00Z"),
            [
                ("2020-03-08T06:00Z", "2020-03-08T07:00Z", ("a",)),
                ("2020-03-08T07:00Z", "2020-03-08T08:00Z", ("b",)),
                # c's 02:00-03:00 shift does not exist; the rotation still moves past c.
                ("2020-03-08T08:00Z", "2020-03-08T09:00Z", ("a",)),
                ("2020-03-08T09:00Z", "2020-03-08T10:00Z", ("b",)),
            ],
            id="chicago-hourly-spring-shift-vanishes",
        ),
        pytest.param(
            CHICAGO,
            "1 hour",
            "2020-11-01T00:00",
            ("a", "b", "c"),
            ("2020-11-01T05:00Z", "2020-11-01T09:00Z"),
            [
                ("2020-11-01T05:00Z", "2020-11-01T06:00Z", ("a",)),
                ("2020-11-01T06:00Z", "2020-11-01T08:00Z", ("b",)),  # 01:00 CDT to 02:00 CST
                ("2020-11-01T08:00Z", "2020-11-01T09:00Z", ("c",)),
            ],
            id="chicago-hourly-fall-shift-lasts-2h",
        ),
        pytest.param(
            CHICAGO,
            "12 hours",
            "2020-03-07T14:30",
            ("a", "b"),
            ("2020-03-07T20:30Z", "2020-03-08T19:30Z"),
            [
                ("2020-03-07T20:30Z", "2020-03-08T08:00Z", ("a",)),
                ("2020-03-08T08:00Z", "2020-03-08T19:30Z", ("b",)),
            ],
            id="chicago-12-hours-handoff-in-gap",
        ),
        pytest.param(
            CHICAGO,
            "1 hour",
            "2020-01-01T00:00",
            ("a", "b"),
            ("2021-03-14T06:00Z", "2021-03-14T10:00Z"),
            [
                # 438 days = 10512 hours after the start: k is even at 00:00 CST.
                ("2021-03-14T06:00Z", "2021-03-14T07:00Z", ("a",)),
                ("2021-03-14T07:00Z", "2021-03-14T08:00Z", ("b",)),
                # k=10514 (a, 02:00) vanishes in the gap; k=10515 is b again.
                ("2021-03-14T08:00Z", "2021-03-14T09:00Z", ("b",)),
                ("2021-03-14T09:00Z", "2021-03-14T10:00Z", ("a",)),
            ],
            id="chicago-hourly-a-year-later-in-gap",
        ),
        pytest.param(
            CHICAGO,
            "1 month",
            "2020-01-31T00:00",
            ("a", "b"),
            ("2020-01-01T00:00Z", "2020-03-31T05:00Z"),
            [
                ("2020-01-31T06:00Z", "2020-02-29T06:00Z", ("a",)),
                ("2020-02-29T06:00Z", "2020-03-31T05:00Z", ("b",)),  # midnight CDT
            ],
            id="chicago-monthly-clamp-across-spring",
        ),
        pytest.param(
            BERLIN,
            "1 week",
            "2020-03-22T02:30",
            ("a", "b"),
            ("2020-03-22T00:00Z", "2020-04-05T00:30Z"),
            [
                ("2020-03-22T01:30Z", "2020-03-29T01:00Z", ("a",)),  # 02:30 is in the gap
                ("2020-03-29T01:00Z", "2020-04-05T00:30Z", ("b",)),
            ],
            id="berlin-weekly-spring",
        ),
        pytest.param(
            BERLIN,
            "1 week",
            "2020-10-18T02:30",
            ("a", "b"),
            ("2020-10-18T00:30Z", "2020-11-01T01:30Z"),
            [
                ("2020-10-18T00:30Z", "2020-10-25T00:30Z", ("a",)),  # first 02:30 (CEST)
                ("2020-10-25T00:30Z", "2020-11-01T01:30Z", ("b",)),
            ],
            id="berlin-weekly-fall",
        ),
        pytest.param(
            BERLIN,
            "1 hour",
            "2020-10-25T01:00",
            ("a", "b", "c"),
            ("2020-10-24T23:00Z", "2020-10-25T03:00Z"),
            [
                ("2020-10-24T23:00Z", "2020-10-25T00:00Z", ("a",)),
                ("2020-10-25T00:00Z", "2020-10-25T02:00Z", ("b",)),  # 02:00 CEST to 03:00 CET
                ("2020-10-25T02:00Z", "2020-10-25T03:00Z", ("c",)),
            ],
            id="berlin-hourly-fall",
        ),
        pytest.param(
            LORD_HOWE,
            "1 day",
            "2020-04-04T01:45",
            ("a", "b"),
            ("2020-04-03T14:45Z", "2020-04-05T15:15Z"),
            [
                ("2020-04-03T14:45Z", "2020-04-04T14:45Z", ("a",)),  # +11:00
                # 01:45 on 2020-04-05 happens twice, 30 minutes apart: the first wins.
                ("2020-04-04T14:45Z", "2020-04-05T15:15Z", ("b",)),  # 24 h 30 min
            ],
            id="lord-howe-daily-30-minute-fall-back",
        ),
        pytest.param(
            LORD_HOWE,
            "1 day",
            "2020-10-03T02:15",
            ("a", "b"),
            ("2020-10-02T15:45Z", "2020-10-04T15:15Z"),
            [
                ("2020-10-02T15:45Z", "2020-10-03T15:30Z", ("a",)),  # +10:30
                # 02:15 on 2020-10-04 does not exist: 02:00 jumps to 02:30 (+11:00).
                ("2020-10-03T15:30Z", "2020-10-04T15:15Z", ("b",)),
            ],
            id="lord-howe-daily-30-minute-gap",
        ),
        pytest.param(
            TOKYO,
            "1 month",
            "2020-01-31T09:00",
            ("a", "b", "c"),
            ("2020-01-31T00:00Z", "2020-04-30T00:00Z"),
            [
                ("2020-01-31T00:00Z", "2020-02-29T00:00Z", ("a",)),
                ("2020-02-29T00:00Z", "2020-03-31T00:00Z", ("b",)),  # back to the 31st
                ("2020-03-31T00:00Z", "2020-04-30T00:00Z", ("c",)),
            ],
            id="tokyo-monthly-clamp-leap-year",
        ),
        pytest.param(
            "UTC",
            "1 month",
            "2021-01-31T00:00",
            ("a", "b"),
            ("2021-01-31T00:00Z", "2021-03-31T00:00Z"),
            [
                ("2021-01-31T00:00Z", "2021-02-28T00:00Z", ("a",)),
                ("2021-02-28T00:00Z", "2021-03-31T00:00Z", ("b",)),
            ],
            id="utc-monthly-clamp-common-year",
        ),
        pytest.param(
            "UTC",
            "3 months",
            "2019-11-30T12:00",
            ("a", "b", "c"),
            ("2019-11-30T12:00Z", "2020-08-30T12:00Z"),
            [
                ("2019-11-30T12:00Z", "2020-02-29T12:00Z", ("a",)),
                ("2020-02-29T12:00Z", "2020-05-30T12:00Z", ("b",)),
                ("2020-05-30T12:00Z", "2020-08-30T12:00Z", ("c",)),
            ],
            id="utc-quarterly-from-the-30th",
        ),
        pytest.param(
            TOKYO,
            "2 weeks",
            "2020-01-06T09:00",
            ("a", "b"),
            ("2020-01-01T00:00Z", "2020-02-03T00:00Z"),
            [
                ("2020-01-06T00:00Z", "2020-01-20T00:00Z", ("a",)),
                ("2020-01-20T00:00Z", "2020-02-03T00:00Z", ("b",)),
            ],
            id="tokyo-fortnightly-no-dst",
        ),
        pytest.param(
            "UTC",
            "1 week",
            "2000-01-03T00:00",
            ("a", "b", "c"),
            ("2030-01-06T00:00Z", "2030-01-08T00:00Z"),
            [
                # 10962 days = 1566 weeks: 2030-01-07 is handoff 1566, and 1566 % 3 == 0.
                ("2030-01-06T00:00Z", "2030-01-07T00:00Z", ("c",)),
                ("2030-01-07T00:00Z", "2030-01-08T00:00Z", ("a",)),
            ],
            id="utc-weekly-thirty-years-later",
        ),
    ],
)
def test_handoffs(zone, rotation, start, participants, window, expected):
    schedule = one_layer(zone, rotation, start, participants)
    assert rows(layer_shifts(schedule, 0, z(window[0]), z(window[1]))) == expected


def test_layer_shifts_keep_one_entry_per_shift_but_final_shifts_merge():
    schedule = one_layer(CHICAGO, "1 hour", "2020-01-01T00:00", ("a", "b"))
    start, end = z("2021-03-14T06:00Z"), z("2021-03-14T10:00Z")
    assert len(layer_shifts(schedule, 0, start, end)) == 4
    assert rows(final_shifts(schedule, start, end)) == [
        ("2021-03-14T06:00Z", "2021-03-14T07:00Z", ("a",)),
        ("2021-03-14T07:00Z", "2021-03-14T09:00Z", ("b",)),
        ("2021-03-14T09:00Z", "2021-03-14T10:00Z", ("a",)),
    ]


@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        pytest.param(CHICAGO, "2020-03-08T07:59:59.999999Z", ("b",), id="chicago-before-gap"),
        pytest.param(CHICAGO, "2020-03-08T08:00Z", ("a",), id="chicago-at-gap-handoff"),
        pytest.param(CHICAGO, "2020-03-09T07:30Z", ("b",), id="chicago-0230-cdt"),
        pytest.param(CHICAGO, "2020-03-09T07:29:59.999999Z", ("a",), id="chicago-before-0230"),
        pytest.param(CHICAGO, "2020-03-06T08:29:59Z", (), id="chicago-before-first-handoff"),
    ],
)
def test_on_call_at_daily_handoffs(zone, at, expected):
    schedule = one_layer(zone, "1 day", "2020-03-06T02:30", ("a", "b"))
    assert on_call(schedule, z(at)) == expected


# --------------------------------------------------------------------------------------------
# localize and parse_time


@pytest.mark.parametrize(
    ("wall", "zone", "instant", "offset"),
    [
        pytest.param("2020-03-08T01:59", CHICAGO, "2020-03-08T07:59Z", -6, id="chicago-pre-gap"),
        pytest.param("2020-03-08T02:00", CHICAGO, "2020-03-08T08:00Z", -5, id="chicago-gap-0200"),
        pytest.param("2020-03-08T02:30", CHICAGO, "2020-03-08T08:00Z", -5, id="chicago-gap-0230"),
        pytest.param("2020-03-08T03:00", CHICAGO, "2020-03-08T08:00Z", -5, id="chicago-post-gap"),
        pytest.param("2020-11-01T01:00", CHICAGO, "2020-11-01T06:00Z", -5, id="chicago-fold-0100"),
        pytest.param("2020-11-01T01:30", CHICAGO, "2020-11-01T06:30Z", -5, id="chicago-fold-0130"),
        pytest.param("2020-11-01T02:00", CHICAGO, "2020-11-01T08:00Z", -6, id="chicago-post-fold"),
        pytest.param("2020-03-29T02:30", BERLIN, "2020-03-29T01:00Z", 2, id="berlin-gap"),
        pytest.param("2020-10-25T02:30", BERLIN, "2020-10-25T00:30Z", 2, id="berlin-fold"),
        pytest.param("2020-10-04T02:15", LORD_HOWE, "2020-10-03T15:30Z", 11, id="lord-howe-gap"),
        pytest.param("2020-04-05T01:45", LORD_HOWE, "2020-04-04T14:45Z", 11, id="lord-howe-fold"),
        pytest.param("2020-04-05T02:00", LORD_HOWE, "2020-04-04T15:30Z", 10.5, id="lord-howe-std"),
        pytest.param("2020-03-08T02:30", TOKYO, "2020-03-07T17:30Z", 9, id="tokyo"),
        pytest.param("2020-03-08T02:30", "UTC", "2020-03-08T02:30Z", 0, id="utc"),
    ],
)
def test_localize(wall, zone, instant, offset):
    local = localize(naive(wall), zone)
    # In UTC: Python never finds an ambiguous local time equal to an instant in another zone.
    assert local.astimezone(UTC) == z(instant)
    assert local.fold == 0
    assert local.utcoffset() == timedelta(hours=offset)
    assert str(local.tzinfo) == zone


@pytest.mark.parametrize(
    ("text", "zone", "instant"),
    [
        pytest.param("2020-03-08T08:30", CHICAGO, "2020-03-08T13:30Z", id="local-cdt"),
        pytest.param("2020-03-08T02:30", CHICAGO, "2020-03-08T08:00Z", id="local-in-gap"),
        pytest.param("2020-11-01T01:30", CHICAGO, "2020-11-01T06:30Z", id="local-ambiguous"),
        pytest.param("2020-03-08T08:30Z", CHICAGO, "2020-03-08T08:30Z", id="zulu"),
        pytest.param("2020-03-08T08:30+02:00", CHICAGO, "2020-03-08T06:30Z", id="offset"),
        pytest.param("2020-03-08 08:30:15", TOKYO, "2020-03-07T23:30:15Z", id="space-seconds"),
        pytest.param("2020-03-08", "UTC", "2020-03-08T00:00Z", id="date-only"),
    ],
)
def test_parse_time(text, zone, instant):
    parsed = parse_time(text, zone)
    assert parsed == z(instant)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "zone", "named"),
    [
        pytest.param("yesterday", "UTC", "'yesterday'", id="not-iso"),
        pytest.param("2020-13-01T00:00", "UTC", "'2020-13-01T00:00'", id="bad-month"),
        pytest.param("2020-03-08T08:30", "Mars/Olympus", "'Mars/Olympus'", id="unknown-zone"),
    ],
)
def test_parse_time_rejects(text, zone, named):
    with pytest.raises(InvalidInput, match=named):
        parse_time(text, zone)


def test_localize_rejects_aware_and_unknown_zone():
    with pytest.raises(InvalidInput, match="must be naive"):
        localize(z("2020-03-08T02:30Z"), CHICAGO)
    with pytest.raises(InvalidInput, match="'Mars/Olympus'"):
        localize(naive("2020-03-08T02:30"), "Mars/Olympus")


# --------------------------------------------------------------------------------------------
# Parsing rotations and restrictions


@pytest.mark.parametrize(
    ("text", "rotation"),
    [
        pytest.param("1 day", Rotation(1, RotationUnit.DAYS), id="1-day"),
        pytest.param("3 days", Rotation(3, RotationUnit.DAYS), id="3-days"),
        pytest.param("12 hours", Rotation(12, RotationUnit.HOURS), id="12-hours"),
        pytest.param("1 hour", Rotation(1, RotationUnit.HOURS), id="1-hour"),
        pytest.param("2 weeks", Rotation(2, RotationUnit.WEEKS), id="2-weeks"),
        pytest.param("1 month", Rotation(1, RotationUnit.MONTHS), id="1-month"),
        pytest.param(" 1 Week ", Rotation(1, RotationUnit.WEEKS), id="case-and-space"),
    ],
)
def test_parse_rotation(text, rotation):
    assert parse_rotation(text) == rotation
    assert parse_rotation(str(rotation)) == rotation


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("3 fortnights", id="unknown-unit"),
        pytest.param("0 days", id="zero"),
        pytest.param("-1 day", id="negative"),
        pytest.param("day", id="no-count"),
        pytest.param("1.5 days", id="fraction"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_rotation_rejects(text):
    with pytest.raises(InvalidInput) as caught:
        parse_rotation(text)
    assert repr(text) in caught.value.message
    assert "hours, days, weeks, months" in caught.value.message


def test_rotation_str():
    assert str(Rotation(1, RotationUnit.DAYS)) == "1 day"
    assert str(Rotation(12, RotationUnit.HOURS)) == "12 hours"


@pytest.mark.parametrize(
    ("days", "start", "end", "restriction"),
    [
        pytest.param(
            ["fri"], "22:00", "06:00", Restriction(time(22), time(6), frozenset({4})), id="fri"
        ),
        pytest.param(None, "09:00", "17:00", Restriction(time(9), time(17)), id="every-day"),
        pytest.param(
            ["Mon", "TUESDAY", "mon"],
            "9:30",
            "17:45",
            Restriction(time(9, 30), time(17, 45), frozenset({0, 1})),
            id="names-and-case",
        ),
        pytest.param(["sun"], "00:00", "00:00", Restriction(time(0), time(0), frozenset({6}))),
    ],
)
def test_parse_restriction(days, start, end, restriction):
    assert parse_restriction(days, start, end) == restriction


@pytest.mark.parametrize(
    ("days", "start", "end", "named"),
    [
        pytest.param(None, "25:00", "06:00", "'25:00'", id="hour-25"),
        pytest.param(None, "09:00", "9am", "'9am'", id="9am"),
        pytest.param(None, "24:00", "06:00", "'24:00'", id="hour-24"),
        pytest.param(None, "12:60", "06:00", "'12:60'", id="minute-60"),
        pytest.param(["funday"], "09:00", "17:00", "'funday'", id="unknown-day"),
        pytest.param([], "09:00", "17:00", "at least one day", id="no-days"),
    ],
)
def test_parse_restriction_rejects(days, start, end, named):
    with pytest.raises(InvalidInput, match=named):
        parse_restriction(days, start, end)


def test_parse_restriction_lists_every_problem():
    with pytest.raises(InvalidInput) as caught:
        parse_restriction(["mon", "xyz"], "25:00", "9am")
    assert len(caught.value.problems) == 3
    assert all(v in caught.value.message for v in ("'xyz'", "'25:00'", "'9am'"))


# --------------------------------------------------------------------------------------------
# Restrictions


def restricted(zone: str, *restrictions: Restriction, start: str = "2019-12-30T00:00") -> Schedule:
    return one_layer(zone, "1 week", start, ("ann",), restrictions)


ANN = ("ann",)


@pytest.mark.parametrize(
    ("zone", "restrictions", "window", "expected"),
    [
        pytest.param(
            "UTC",
            [(["fri"], "22:00", "06:00")],
            ("2020-01-04T00:00Z", "2020-01-12T00:00Z"),
            [
                # Fri 2020-01-03's window runs into Saturday; Saturday starts no window.
                ("2020-01-04T00:00Z", "2020-01-04T06:00Z", ANN),
                ("2020-01-10T22:00Z", "2020-01-11T06:00Z", ANN),
            ],
            id="overnight-friday-only",
        ),
        pytest.param(
            "UTC",
            [(["mon"], "09:00", "09:00")],
            ("2020-01-06T00:00Z", "2020-01-13T00:00Z"),
            [("2020-01-06T09:00Z", "2020-01-07T09:00Z", ANN)],
            id="to-equals-from-is-24h",
        ),
        pytest.param(
            "UTC",
            [(["sat", "sun"], "09:00", "17:00")],
            ("2020-01-06T00:00Z", "2020-01-13T00:00Z"),
            [
                ("2020-01-11T09:00Z", "2020-01-11T17:00Z", ANN),
                ("2020-01-12T09:00Z", "2020-01-12T17:00Z", ANN),
            ],
            id="weekend-filter",
        ),
        pytest.param(
            "UTC",
            [(None, "09:00", "12:00"), (None, "11:00", "14:00"), (None, "14:00", "15:00")],
            ("2020-01-06T00:00Z", "2020-01-07T00:00Z"),
            [("2020-01-06T09:00Z", "2020-01-06T15:00Z", ANN)],
            id="union-of-overlapping-and-touching-windows",
        ),
        pytest.param(
            CHICAGO,
            [(["sun"], "01:00", "03:00")],
            ("2020-03-08T00:00Z", "2020-03-09T00:00Z"),
            [("2020-03-08T07:00Z", "2020-03-08T08:00Z", ANN)],  # one real hour
            id="chicago-window-across-gap",
        ),
        pytest.param(
            CHICAGO,
            [(["sun"], "02:30", "04:00")],
            ("2020-03-08T00:00Z", "2020-03-09T00:00Z"),
            [("2020-03-08T08:00Z", "2020-03-08T09:00Z", ANN)],
            id="chicago-window-starts-in-gap",
        ),
        pytest.param(
            CHICAGO,
            [(["sat"], "22:00", "02:30")],
            ("2020-03-07T00:00Z", "2020-03-09T00:00Z"),
            [("2020-03-08T04:00Z", "2020-03-08T08:00Z", ANN)],
            id="chicago-overnight-window-ends-in-gap",
        ),
        pytest.param(
            CHICAGO,
            [(["sun"], "01:00", "02:00")],
            ("2020-11-01T00:00Z", "2020-11-02T00:00Z"),
            [("2020-11-01T06:00Z", "2020-11-01T08:00Z", ANN)],  # 01:00 CDT to 02:00 CST
            id="chicago-window-across-fold",
        ),
        pytest.param(
            BERLIN,
            [(None, "09:00", "17:00")],
            ("2020-03-28T00:00Z", "2020-03-30T00:00Z"),
            [
                ("2020-03-28T08:00Z", "2020-03-28T16:00Z", ANN),
                ("2020-03-29T07:00Z", "2020-03-29T15:00Z", ANN),
            ],
            id="berlin-office-hours-across-spring",
        ),
        pytest.param(
            LORD_HOWE,
            [(["sun"], "02:00", "03:00")],
            ("2020-10-03T00:00Z", "2020-10-05T00:00Z"),
            [("2020-10-03T15:30Z", "2020-10-03T16:00Z", ANN)],
            id="lord-howe-window-starts-in-gap",
        ),
    ],
)
def test_restrictions(zone, restrictions, window, expected):
    schedule = restricted(zone, *(parse_restriction(*r) for r in restrictions))
    assert rows(layer_shifts(schedule, 0, z(window[0]), z(window[1]))) == expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param("2020-01-06T08:59:59.999999Z", (), id="before-start"),
        pytest.param("2020-01-06T09:00Z", ANN, id="start-included"),
        pytest.param("2020-01-06T16:59:59.999999Z", ANN, id="just-before-end"),
        pytest.param("2020-01-06T17:00Z", (), id="end-excluded"),
    ],
)
def test_restriction_end_is_exclusive(at, expected):
    schedule = restricted("UTC", parse_restriction(None, "09:00", "17:00"))
    assert on_call(schedule, z(at)) == expected


def test_restrictions_do_not_stop_the_rotation():
    # Daily rotation, on call only on weekdays: the weekend still consumes two turns.
    layer = Layer(
        "weekdays",
        ("a", "b", "c"),
        parse_rotation("1 day"),
        naive("2020-01-06T00:00"),  # Monday
        (parse_restriction(["mon", "tue", "wed", "thu", "fri"], "00:00", "00:00"),),
    )
    schedule = Schedule("s", "UTC", (layer,))
    assert on_call(schedule, z("2020-01-10T12:00Z")) == ("b",)  # Friday, k=4
    assert on_call(schedule, z("2020-01-11T12:00Z")) == ()  # Saturday, k=5 masked
    assert on_call(schedule, z("2020-01-13T12:00Z")) == ("b",)  # Monday, k=7 and 7 % 3 == 1


# --------------------------------------------------------------------------------------------
# Layers and overrides

BASE = Layer("base", ("ann",), parse_rotation("1 week"), naive("2019-12-30T00:00"))
DAY = Layer(
    "day",
    ("bob",),
    parse_rotation("1 week"),
    naive("2019-12-30T00:00"),
    (parse_restriction(None, "09:00", "17:00"),),
)
MONDAY = (z("2020-01-06T00:00Z"), z("2020-01-07T00:00Z"))


def override(user: str, start: str, end: str) -> Override:
    return Override(user, z(start), z(end))


@pytest.mark.parametrize(
    ("layers", "overrides", "expected"),
    [
        pytest.param(
            (BASE, DAY),
            (),
            [
                ("2020-01-06T00:00Z", "2020-01-06T09:00Z", ("ann",)),
                ("2020-01-06T09:00Z", "2020-01-06T17:00Z", ("bob",)),
                ("2020-01-06T17:00Z", "2020-01-07T00:00Z", ("ann",)),
            ],
            id="later-layer-wins-and-its-gaps-show-the-earlier",
        ),
        pytest.param(
            (DAY, BASE),
            (),
            [("2020-01-06T00:00Z", "2020-01-07T00:00Z", ("ann",))],
            id="24-7-layer-listed-last-hides-everything",
        ),
        pytest.param(
            (DAY,),
            (),
            [
                ("2020-01-06T00:00Z", "2020-01-06T09:00Z", ()),
                ("2020-01-06T09:00Z", "2020-01-06T17:00Z", ("bob",)),
                ("2020-01-06T17:00Z", "2020-01-07T00:00Z", ()),
            ],
            id="explicit-gaps",
        ),
        pytest.param(
            (BASE, DAY),
            (override("zoe", "2020-01-06T12:00Z", "2020-01-06T13:00Z"),),
            [
                ("2020-01-06T00:00Z", "2020-01-06T09:00Z", ("ann",)),
                ("2020-01-06T09:00Z", "2020-01-06T12:00Z", ("bob",)),
                ("2020-01-06T12:00Z", "2020-01-06T13:00Z", ("zoe",)),
                ("2020-01-06T13:00Z", "2020-01-06T17:00Z", ("bob",)),
                ("2020-01-06T17:00Z", "2020-01-07T00:00Z", ("ann",)),
            ],
            id="override-beats-every-layer",
        ),
        pytest.param(
            (DAY,),
            (
                override("zoe", "2020-01-06T12:00Z", "2020-01-06T14:00Z"),
                override("yan", "2020-01-06T13:00Z", "2020-01-06T18:00Z"),
            ),
            [
                ("2020-01-06T00:00Z", "2020-01-06T09:00Z", ()),
                ("2020-01-06T09:00Z", "2020-01-06T12:00Z", ("bob",)),
                ("2020-01-06T12:00Z", "2020-01-06T13:00Z", ("zoe",)),
                ("2020-01-06T13:00Z", "2020-01-06T14:00Z", ("yan", "zoe")),
                ("2020-01-06T14:00Z", "2020-01-06T18:00Z", ("yan",)),  # covers a gap too
                ("2020-01-06T18:00Z", "2020-01-07T00:00Z", ()),
            ],
            id="overlapping-overrides-list-both",
        ),
        pytest.param(
            (BASE, DAY),
            (
                override("bob", "2020-01-06T17:00Z", "2020-01-06T18:00Z"),
                override("ann", "2020-01-05T20:00Z", "2020-01-06T01:00Z"),
                override("ann", "2020-01-06T00:30Z", "2020-01-06T02:00Z"),
            ),
            [
                ("2020-01-06T00:00Z", "2020-01-06T09:00Z", ("ann",)),
                ("2020-01-06T09:00Z", "2020-01-06T18:00Z", ("bob",)),
                ("2020-01-06T18:00Z", "2020-01-07T00:00Z", ("ann",)),
            ],
            id="equal-neighbours-merge-and-duplicates-collapse",
        ),
        pytest.param(
            (Layer("late", ("ann",), parse_rotation("1 day"), naive("2020-01-06T12:00")),),
            (),
            [
                ("2020-01-06T00:00Z", "2020-01-06T12:00Z", ()),
                ("2020-01-06T12:00Z", "2020-01-07T00:00Z", ("ann",)),
            ],
            id="nobody-before-the-first-handoff",
        ),
    ],
)
def test_final_shifts(layers, overrides, expected):
    schedule = Schedule("s", "UTC", layers, overrides)
    assert rows(final_shifts(schedule, *MONDAY)) == expected


def test_override_in_another_zone():
    paris = timezone(timedelta(hours=1))
    stand_in = Override(
        "zoe", datetime(2020, 1, 6, 13, tzinfo=paris), datetime(2020, 1, 6, 14, tzinfo=paris)
    )
    schedule = Schedule("s", "UTC", (BASE,), (stand_in,))
    assert on_call(schedule, z("2020-01-06T12:00Z")) == ("zoe",)
    assert on_call(schedule, z("2020-01-06T13:00Z")) == ("ann",)


def test_query_bounds_in_any_zone():
    schedule = Schedule("s", "UTC", (BASE, DAY))
    tokyo = timezone(timedelta(hours=9))
    start = datetime(2020, 1, 6, 18, tzinfo=tokyo)  # 09:00Z
    assert rows(final_shifts(schedule, start, start + timedelta(hours=1))) == [
        ("2020-01-06T09:00Z", "2020-01-06T10:00Z", ("bob",))
    ]
    assert final_shifts(schedule, start, start) == []


def test_gaps_and_losing_layers():
    hidden = Layer("hidden", ("cy",), parse_rotation("1 day"), naive("2020-01-01T00:00"))
    schedule = Schedule(
        "s", "UTC", (hidden, DAY), (override("zoe", "2020-01-06T00:00Z", "2020-01-06T02:00Z"),)
    )
    # Cy is on call whenever bob is not, so there is no gap; with bob's layer alone there are.
    assert gaps(schedule, *MONDAY) == []
    assert losing_layers(schedule, *MONDAY) == []
    assert rows(gaps(Schedule("s", "UTC", (DAY,)), *MONDAY)) == [
        ("2020-01-06T00:00Z", "2020-01-06T09:00Z", ()),
        ("2020-01-06T17:00Z", "2020-01-07T00:00Z", ()),
    ]
    covered = Schedule("s", "UTC", (DAY, BASE))
    assert losing_layers(covered, *MONDAY) == ["day"]
    # Overridden for the whole range: the layer never wins either.
    overridden = Schedule(
        "s", "UTC", (BASE,), (override("zoe", "2020-01-05T00:00Z", "2020-01-08T00:00Z"),)
    )
    assert losing_layers(overridden, *MONDAY) == ["base"]


# --------------------------------------------------------------------------------------------
# Follow the sun
#
# Three office-hours layers, 09:00-17:00 local on every day of the week (a follow-the-sun team
# covers weekends too), listed APAC, EU, US: where two overlap the later-listed one wins.


def office(name: str, zone: str) -> Layer:
    return Layer(
        name,
        (name.lower(),),
        parse_rotation("1 week"),
        naive("2021-01-04T00:00"),
        (parse_restriction(None, "09:00", "17:00"),),
        zone,
    )


SUN = Schedule(
    "follow-the-sun",
    "UTC",
    (office("APAC", TOKYO), office("EU", BERLIN), office("US", NEW_YORK)),
)


def day_rows(day: str, *hours: tuple[int, int, str]) -> list[Row]:
    """Return one UTC day's rows from (start hour, end hour, user) triples."""
    out = []
    for start, end, user in hours:
        end_day = day if end < 24 else f"{datetime.fromisoformat(day) + timedelta(days=1):%Y-%m-%d}"
        out.append(
            (f"{day}T{start:02}:00Z", f"{end_day}T{end % 24:02}:00Z", (user,) if user else ())
        )
    return out


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(
            "2021-01-13",
            [(0, 8, "apac"), (8, 14, "eu"), (14, 22, "us"), (22, 24, "")],
            id="winter",
        ),
        pytest.param(
            "2021-03-13",
            [(0, 8, "apac"), (8, 14, "eu"), (14, 22, "us"), (22, 24, "")],
            id="saturday-before-us-change",
        ),
        pytest.param(
            "2021-03-14",
            [(0, 8, "apac"), (8, 13, "eu"), (13, 21, "us"), (21, 24, "")],
            id="us-changes-sunday",
        ),
        pytest.param(
            "2021-03-17",
            [(0, 8, "apac"), (8, 13, "eu"), (13, 21, "us"), (21, 24, "")],
            id="us-changed-eu-not-yet",
        ),
        pytest.param(
            "2021-03-28",
            [(0, 7, "apac"), (7, 13, "eu"), (13, 21, "us"), (21, 24, "")],
            id="eu-changes-sunday",
        ),
        pytest.param(
            "2021-07-07",
            [(0, 7, "apac"), (7, 13, "eu"), (13, 21, "us"), (21, 24, "")],
            id="summer",
        ),
        pytest.param(
            "2021-11-03",
            [(0, 8, "apac"), (8, 13, "eu"), (13, 21, "us"), (21, 24, "")],
            id="eu-changed-back-us-not-yet",
        ),
    ],
)
def test_follow_the_sun_day(day, expected):
    start = z(f"{day}T00:00Z")
    shifts = final_shifts(SUN, start, start + timedelta(days=1))
    assert rows(shifts) == day_rows(day, *expected)


def test_follow_the_sun_gaps_move_with_the_us_clock_change():
    assert rows(gaps(SUN, z("2021-03-12T00:00Z"), z("2021-03-16T00:00Z"))) == [
        ("2021-03-12T22:00Z", "2021-03-13T00:00Z", ()),
        ("2021-03-13T22:00Z", "2021-03-14T00:00Z", ()),
        ("2021-03-14T21:00Z", "2021-03-15T00:00Z", ()),
        ("2021-03-15T21:00Z", "2021-03-16T00:00Z", ()),
    ]


def test_follow_the_sun_normal_week_gaps():
    week = gaps(SUN, z("2021-01-11T00:00Z"), z("2021-01-18T00:00Z"))
    assert rows(week) == [
        (f"2021-01-{d:02}T22:00Z", f"2021-01-{d + 1:02}T00:00Z", ()) for d in range(11, 18)
    ]
    assert losing_layers(SUN, z("2021-01-11T00:00Z"), z("2021-01-18T00:00Z")) == []


# --------------------------------------------------------------------------------------------
# Validation


def test_validate_schedule_lists_every_problem():
    broken = Schedule(
        "broken",
        "Mars/Olympus",
        (
            Layer("empty", (), parse_rotation("1 day"), naive("2020-01-01T00:00")),
            Layer(
                "lost",
                ("ann",),
                parse_rotation("1 day"),
                naive("2020-01-01T00:00"),
                time_zone="Moon/Base",
            ),
            Layer("aware", ("ann",), parse_rotation("1 day"), z("2020-01-01T00:00Z")),
            Layer("zero", ("ann",), Rotation(0, RotationUnit.DAYS), naive("2020-01-01T00:00")),
        ),
        (
            override("zoe", "2020-01-02T00:00Z", "2020-01-01T00:00Z"),
            Override("yan", naive("2020-01-01T00:00"), z("2020-01-02T00:00Z")),
        ),
    )
    with pytest.raises(InvalidInput) as caught:
        validate_schedule(broken)
    problems = caught.value.problems
    assert len(problems) == 7
    for named in (
        "'Mars/Olympus'",
        "'empty': participants must not be empty",
        "'Moon/Base'",
        "'aware': start 2020-01-01T00:00:00+00:00",
        "rotation count 0",
        "'zoe': end 2020-01-01T00:00:00+00:00 is not after start 2020-01-02T00:00:00+00:00",
        "'yan': start 2020-01-01T00:00:00 has no time zone offset",
    ):
        assert sum(named in problem for problem in problems) == 1, named


@pytest.mark.parametrize(
    ("schedule", "named"),
    [
        pytest.param(Schedule("s", "Mars/Olympus", (BASE,)), "'Mars/Olympus'", id="zone"),
        pytest.param(
            Schedule("s", "UTC", (Layer("x", (), parse_rotation("1 day"), naive("2020-01-01")),)),
            "participants must not be empty",
            id="participants",
        ),
        pytest.param(
            Schedule(
                "s", "UTC", (BASE,), (override("zoe", "2020-01-06T10:00Z", "2020-01-06T10:00Z"),)
            ),
            "'zoe': end 2020-01-06T10:00:00+00:00 is not after",
            id="empty-override",
        ),
    ],
)
def test_queries_validate_the_schedule(schedule, named):
    for query in (
        lambda: final_shifts(schedule, *MONDAY),
        lambda: on_call(schedule, MONDAY[0]),
        lambda: gaps(schedule, *MONDAY),
        lambda: losing_layers(schedule, *MONDAY),
        lambda: layer_shifts(schedule, 0, *MONDAY),
    ):
        with pytest.raises(InvalidInput, match=re.escape(named)):
            query()


def test_queries_reject_bad_ranges():
    schedule = Schedule("s", "UTC", (BASE,))
    with pytest.raises(InvalidInput, match="no time zone offset"):
        final_shifts(schedule, naive("2020-01-06T00:00"), MONDAY[1])
    with pytest.raises(InvalidInput, match="no time zone offset"):
        on_call(schedule, naive("2020-01-06T00:00"))
    with pytest.raises(InvalidInput, match="is before start"):
        final_shifts(schedule, MONDAY[1], MONDAY[0])
    with pytest.raises(InvalidInput, match="out of range"):
        on_call(schedule, datetime(9999, 12, 31, tzinfo=UTC))
    with pytest.raises(InvalidInput, match="layer index 1"):
        layer_shifts(schedule, 1, *MONDAY)


def test_a_gap_participant_is_a_turn_with_nobody_on_call() -> None:
    # Opsgenie's "none" participant: alice, nobody, bob by day; a lower layer shows through.
    from zoneinfo import ZoneInfo

    from tocsin.core.schedule import GAP

    base = Layer("base", ("carol",), parse_rotation("1 week"), datetime(2024, 6, 17))
    turns = Layer("turns", ("alice", GAP, "bob"), parse_rotation("1 day"), datetime(2024, 6, 17, 9))
    schedule = Schedule("s", "Europe/Berlin", (base, turns))
    berlin = ZoneInfo("Europe/Berlin")
    assert on_call(schedule, datetime(2024, 6, 17, 12, tzinfo=berlin)) == ("alice",)
    assert on_call(schedule, datetime(2024, 6, 18, 12, tzinfo=berlin)) == ("carol",)  # the gap
    assert on_call(schedule, datetime(2024, 6, 19, 12, tzinfo=berlin)) == ("bob",)
    assert on_call(schedule, datetime(2024, 6, 20, 12, tzinfo=berlin)) == ("alice",)
