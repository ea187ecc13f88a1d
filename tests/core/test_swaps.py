"""Shift swaps, pure: which requests are valid, and what a taker is warned of."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core import schedule as sched
from tocsin.core import swaps
from tocsin.core.swaps import SwapStatus, WarningKind

# Thursday 2024-06-20 10:30 UTC (12:30 in Berlin): alice's day of the daily rotation.
NOW = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)
BERLIN = "Europe/Berlin"

# Daily at 09:00 Berlin from Monday 2024-06-17: alice, bob, carol, alice (Thu 20) ...
PRIMARY = sched.Layer(
    name="primary",
    participants=("alice", "bob", "carol"),
    rotation=sched.Rotation(1, sched.RotationUnit.DAYS),
    start=datetime(2024, 6, 17, 9, 0),
)
OPS = sched.Schedule("ops", BERLIN, (PRIMARY,))


def at(text: str) -> datetime:
    """Return Berlin wall time `text` as an instant."""
    return sched.parse_time(text, BERLIN)


@pytest.mark.parametrize(
    ("start", "end", "note", "expected"),
    [
        pytest.param("2024-06-20T14:00", "2024-06-20T18:00", "", [], id="own-future-range"),
        pytest.param(
            "2024-06-20T09:00", "2024-06-21T09:00", "", [], id="rest-of-shift-in-progress"
        ),
        pytest.param(
            "2024-06-20T18:00",
            "2024-06-20T14:00",
            "",
            ["end Thu 2024-06-20 14:00 CEST is not after start Thu 2024-06-20 18:00 CEST"],
            id="backwards",
        ),
        pytest.param(
            "2024-06-20T08:00",
            "2024-06-20T12:00",
            "",
            ["the range ended at Thu 2024-06-20 12:00 CEST: only time still ahead is covered"],
            id="over",
        ),
        pytest.param(
            "2024-06-20T15:00",
            "2024-06-20T15:10",
            "x" * 1001,
            [
                "note: at most 1000 characters (it has 1001)",
                "the range is too short: at least 15 minutes of time still ahead",
            ],
            id="every-problem-listed",
        ),
        pytest.param(
            "2024-06-20T15:00",
            "2024-07-25T15:00",
            "",
            ["the range is too long: at most 31 days; for longer, change the rota"],
            id="too-long",
        ),
        pytest.param(
            "2024-06-20T14:00",
            "2024-06-21T11:00",
            "",
            [
                "@alice is not on call on ops from Fri 2024-06-21 09:00 CEST to Fri 2024-06-21 "
                "11:00 CEST: ask only for cover of your own on-call time"
            ],
            id="runs-into-bobs-shift",
        ),
    ],
)
def test_request_problems(start: str, end: str, note: str, expected: list[str]) -> None:
    assert swaps.request_problems(OPS, "alice", at(start), at(end), NOW, note=note) == expected


def test_an_override_makes_the_time_the_requesters_own() -> None:
    # bob's Friday, but alice holds it by an override: hers to hand on.
    ops = replace(
        OPS, overrides=(sched.Override("alice", at("2024-06-21T12:00"), at("2024-06-21T16:00")),)
    )
    assert (
        swaps.request_problems(ops, "alice", at("2024-06-21T12:00"), at("2024-06-21T16:00"), NOW)
        == []
    )
    assert (
        swaps.request_problems(ops, "bob", at("2024-06-21T12:00"), at("2024-06-21T13:00"), NOW)
        != []
    )


def test_a_range_across_the_autumn_clock_change_follows_the_wall_clock_handoff() -> None:
    # Berlin falls back at 03:00 on 2024-10-27: carol's day (09:00 Sat to 09:00 Sun) lasts 25 h.
    night = (at("2024-10-26T22:00"), at("2024-10-27T06:00"))
    assert night[1] - night[0] == timedelta(hours=9)
    assert swaps.request_problems(OPS, "carol", *night, NOW) == []
    # After 09:00 local (08:00 UTC, not 07:00) the day is alice's.
    assert swaps.request_problems(
        OPS, "carol", at("2024-10-27T06:00"), at("2024-10-27T10:00"), NOW
    ) == [
        "@carol is not on call on ops from Sun 2024-10-27 09:00 CET to Sun 2024-10-27 10:00 CET: "
        "ask only for cover of your own on-call time"
    ]
    # Taken, the override covers exactly the nine real hours.
    taken = replace(OPS, overrides=(sched.Override("alice", *night),))
    shifts = sched.final_shifts(taken, night[0] - timedelta(hours=1), night[1] + timedelta(hours=1))
    assert [(s.end - s.start, s.users) for s in shifts] == [
        (timedelta(hours=1), ("carol",)),
        (timedelta(hours=9), ("alice",)),
        (timedelta(hours=1), ("carol",)),
    ]


def test_no_warnings_for_a_free_teammate() -> None:
    assert (
        swaps.taker_warnings(
            OPS, "alice", "carol", at("2024-06-20T14:00"), at("2024-06-20T18:00"), NOW
        )
        == []
    )


def test_busy_in_another_layer_of_this_schedule() -> None:
    backup = sched.Layer(
        "backup", ("bob",), sched.Rotation(1, sched.RotationUnit.WEEKS), datetime(2024, 6, 17, 9, 0)
    )
    ops = replace(OPS, layers=(backup, PRIMARY))
    found = swaps.taker_warnings(
        ops, "alice", "bob", at("2024-06-20T14:00"), at("2024-06-20T18:00"), NOW
    )
    assert found == [
        swaps.Warning(
            WarningKind.BUSY,
            "@bob already has a shift in layer 'backup' of ops from Thu 2024-06-20 14:00 CEST "
            "to Thu 2024-06-20 18:00 CEST",
        )
    ]


def test_busy_on_another_schedule_and_by_an_override() -> None:
    db = sched.Schedule("db", "UTC", (replace(PRIMARY, participants=("bob",)),))
    ops = replace(
        OPS, overrides=(sched.Override("bob", at("2024-06-20T17:00"), at("2024-06-20T19:00")),)
    )
    found = swaps.taker_warnings(
        ops,
        "alice",
        "bob",
        at("2024-06-20T14:00"),
        at("2024-06-20T16:00"),
        NOW,
        others={"db": db, "ops": ops},
    )
    assert [w.message for w in found] == [
        "@bob is on call on schedule 'db' from Thu 2024-06-20 14:00 CEST "
        "to Thu 2024-06-20 16:00 CEST"
    ]
    later = swaps.taker_warnings(
        ops, "alice", "bob", at("2024-06-20T16:00"), at("2024-06-20T18:00"), NOW
    )
    assert [(w.kind, w.message) for w in later] == [
        (
            WarningKind.BUSY,
            "@bob already has an override on ops from Thu 2024-06-20 17:00 CEST "
            "to Thu 2024-06-20 18:00 CEST",
        )
    ]


def test_gap_when_the_schedule_changed_and_nobody_is_on_call_any_more() -> None:
    office = replace(PRIMARY, restrictions=(sched.parse_restriction(None, "09:00", "17:00"),))
    ops = replace(OPS, layers=(office,))
    found = swaps.taker_warnings(
        ops, "alice", "carol", at("2024-06-20T14:00"), at("2024-06-20T18:00"), NOW
    )
    assert [w.kind for w in found] == [WarningKind.GAP]
    assert found[0].message.startswith(
        "@alice is no longer on call from Thu 2024-06-20 17:00 CEST to Thu 2024-06-20 18:00 CEST"
    )
    assert "nobody is" in found[0].message


def test_gap_when_taking_it_would_displace_someone_else() -> None:
    ops = replace(
        OPS, overrides=(sched.Override("dave", at("2024-06-20T15:00"), at("2024-06-20T16:00")),)
    )
    found = swaps.taker_warnings(
        ops, "alice", "carol", at("2024-06-20T14:00"), at("2024-06-20T18:00"), NOW
    )
    assert [(w.kind, "@dave is, and taking it would replace them" in w.message) for w in found] == [
        (WarningKind.GAP, True)
    ]


def test_overrides_beside_the_requesters_time_displace_nobody() -> None:
    # alice on call by an override together with dave's: dave stays beside the taker.
    ops = replace(
        OPS,
        overrides=(
            sched.Override("alice", at("2024-06-21T12:00"), at("2024-06-21T14:00")),
            sched.Override("dave", at("2024-06-21T12:00"), at("2024-06-21T14:00")),
        ),
    )
    assert (
        swaps.taker_warnings(
            ops, "alice", "carol", at("2024-06-21T12:00"), at("2024-06-21T14:00"), NOW
        )
        == []
    )


def test_warnings_count_only_the_rest_of_a_range_in_progress() -> None:
    # bob's override ended before now: no longer a second shift.
    ops = replace(
        OPS, overrides=(sched.Override("bob", at("2024-06-20T09:00"), at("2024-06-20T12:00")),)
    )
    assert (
        swaps.taker_warnings(
            ops, "alice", "bob", at("2024-06-20T09:00"), at("2024-06-20T18:00"), NOW
        )
        == []
    )


@pytest.mark.parametrize(
    ("stored", "end", "expected"),
    [
        pytest.param("open", NOW + timedelta(minutes=1), SwapStatus.OPEN, id="open"),
        pytest.param("open", NOW, SwapStatus.EXPIRED, id="range-over"),
        pytest.param("accepted", NOW - timedelta(days=1), SwapStatus.ACCEPTED, id="accepted-stays"),
        pytest.param("cancelled", NOW + timedelta(days=1), SwapStatus.CANCELLED, id="cancelled"),
    ],
)
def test_status_at(stored: str, end: datetime, expected: SwapStatus) -> None:
    assert swaps.status_at(stored, end, NOW) is expected


def test_covered_range_is_the_rest() -> None:
    assert swaps.covered_range(NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW) == (
        NOW,
        NOW + timedelta(hours=1),
    )
