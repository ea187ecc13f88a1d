"""The schedule page's zone choice, who is on call until when, and the layers' next handoffs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from tocsin.core import schedule as sched
from tocsin.errors import InvalidInput
from tocsin.web.schedule_view import Handoff, choose, layer_rows, next_handoffs, on_call


@pytest.mark.parametrize(
    ("viewer", "asked", "zone", "switch", "other"),
    [
        pytest.param("Asia/Tokyo", None, "Asia/Tokyo", "schedule", "Europe/Berlin", id="default"),
        pytest.param("Asia/Tokyo", "mine", "Asia/Tokyo", "schedule", "Europe/Berlin", id="mine"),
        pytest.param(
            "Asia/Tokyo", "schedule", "Europe/Berlin", "mine", "Asia/Tokyo", id="schedule"
        ),
        pytest.param("Europe/Berlin", None, "Europe/Berlin", None, "Europe/Berlin", id="same"),
        pytest.param("Mars/Olympus", None, "UTC", "schedule", "Europe/Berlin", id="lost-zone"),
    ],
)
def test_choose(viewer: str, asked: str | None, zone: str, switch: str | None, other: str) -> None:
    view = choose(viewer, "Europe/Berlin", asked)
    assert (view.zone, view.switch, view.other) == (zone, switch, other)


def test_choose_refuses_other_values() -> None:
    with pytest.raises(InvalidInput, match="zone must be 'mine' or 'schedule', not 'theirs'"):
        choose("UTC", "Europe/Berlin", "theirs")


def test_times_show_in_the_chosen_zone() -> None:
    at = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)
    assert choose("Asia/Tokyo", "Europe/Berlin", None).at(at) == "Thu 2024-06-20 19:30 JST"
    assert choose("Asia/Tokyo", "Europe/Berlin", "schedule").at(at) == "Thu 2024-06-20 12:30 CEST"


DAILY = sched.Layer(
    "daily",
    ("alice", sched.GAP, "bob"),
    sched.Rotation(1, sched.RotationUnit.DAYS),
    datetime(2024, 6, 17, 9, 0),
    (sched.Restriction(time(9), time(17)),),
)
LATER = sched.Layer(
    "later",
    ("carol",),
    sched.Rotation(1, sched.RotationUnit.WEEKS),
    datetime(2024, 6, 22, 8, 0),
    time_zone="America/New_York",
)
SCHEDULE = sched.Schedule("primary", "Europe/Berlin", (DAILY, LATER))
NOW = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)  # Thu 12:30 in Berlin: alice's turn (k=3)
WEEK_END = NOW + timedelta(days=7)


def test_next_handoffs_ignore_restrictions_and_see_turns_of_nobody() -> None:
    assert next_handoffs(SCHEDULE, NOW, WEEK_END) == [
        # Friday 09:00 in Berlin, to the turn of nobody; the restriction ended at 17:00 before.
        Handoff("daily", datetime(2024, 6, 21, 7, tzinfo=UTC), None),
        # The later layer has not started: its first handoff, at 08:00 in New York.
        Handoff("later", datetime(2024, 6, 22, 12, tzinfo=UTC), "carol"),
    ]
    # In the turn of nobody, the next handoff is to bob.
    friday = datetime(2024, 6, 21, 12, tzinfo=UTC)
    assert next_handoffs(SCHEDULE, friday, friday + timedelta(days=7))[0] == Handoff(
        "daily", datetime(2024, 6, 22, 7, tzinfo=UTC), "bob"
    )


def test_no_handoff_within_the_window() -> None:
    assert next_handoffs(SCHEDULE, NOW, NOW + timedelta(hours=1))[0] is None


def test_layer_rows_keep_each_layers_definition_in_its_own_zone() -> None:
    rows = layer_rows(SCHEDULE, NOW, WEEK_END)
    assert [(row.defined, row.zone) for row in rows] == [
        ("every 1 day from 2024-06-17 09:00, on call every day 09:00-17:00", "Europe/Berlin"),
        ("every 1 week from 2024-06-22 08:00", "America/New_York"),
    ]


def test_on_call_until_and_next() -> None:
    current = on_call(SCHEDULE, NOW, WEEK_END)
    assert current.now == ("alice",)
    assert current.until == datetime(2024, 6, 20, 15, tzinfo=UTC)  # 17:00 in Berlin
    assert current.next is not None
    # Friday is nobody's turn in the daily layer; bob's starts Saturday 09:00 in Berlin.
    assert (current.next.users, current.next.start) == (
        ("bob",),
        datetime(2024, 6, 22, 7, tzinfo=UTC),
    )
