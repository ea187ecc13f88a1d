"""The schedule picture's pure parts: day labels that never collide, names that fit, colours."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core import schedule as sched
from tocsin.web import svg
from tocsin.web.svg import (
    LABEL,
    LABEL_GAP,
    LABEL_PAD,
    PALETTE,
    WIDTH,
    block_text,
    day_labels,
    day_lines,
    initials,
    schedule_svg,
    text_colour,
)

WEEK = timedelta(days=7)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _x(at: datetime, start: datetime) -> float:
    return LABEL + (WIDTH - LABEL) * (at - start) / WEEK


@pytest.mark.parametrize(
    ("start", "zone", "texts"),
    [
        pytest.param(
            # Sun 29 Nov 23:00 in Berlin: the reported overlap. Sunday's hour is too narrow.
            _utc(2026, 11, 29, 22),
            "Europe/Berlin",
            [
                "Mon 30 Nov",
                "Tue 01 Dec",
                "Wed 02 Dec",
                "Thu 03 Dec",
                "Fri 04 Dec",
                "Sat 05 Dec",
                "Sun 06 Dec",
            ],
            id="starts-23h-first-day-dropped-last-day-of-23h-kept",
        ),
        pytest.param(
            _utc(2026, 11, 29, 23),  # midnight in Berlin: seven whole days, seven labels
            "Europe/Berlin",
            [
                "Mon 30 Nov",
                "Tue 01 Dec",
                "Wed 02 Dec",
                "Thu 03 Dec",
                "Fri 04 Dec",
                "Sat 05 Dec",
                "Sun 06 Dec",
            ],
            id="starts-at-midnight",
        ),
        pytest.param(
            # 01:00: Monday's 23 hours take its label; Monday a week later shows one hour: none.
            _utc(2026, 11, 30, 0),
            "Europe/Berlin",
            [
                "Mon 30 Nov",
                "Tue 01 Dec",
                "Wed 02 Dec",
                "Thu 03 Dec",
                "Fri 04 Dec",
                "Sat 05 Dec",
                "Sun 06 Dec",
            ],
            id="starts-01h-partial-day-labelled-last-hour-not",
        ),
        pytest.param(
            # The same instant drawn in Tokyo is 07:00 on Monday the 30th.
            _utc(2026, 11, 29, 22),
            "Asia/Tokyo",
            [
                "Mon 30 Nov",
                "Tue 01 Dec",
                "Wed 02 Dec",
                "Thu 03 Dec",
                "Fri 04 Dec",
                "Sat 05 Dec",
                "Sun 06 Dec",
            ],
            id="same-instant-other-zone",
        ),
    ],
)
def test_day_labels(start: datetime, zone: str, texts: list[str]) -> None:
    assert [label.text for label in day_labels(start, start + WEEK, zone)] == texts


def test_labels_start_at_local_midnight_in_the_zone_drawn() -> None:
    start = _utc(2026, 11, 29, 22)
    monday = day_labels(start, start + WEEK, "Europe/Berlin")[0]
    assert monday.x == pytest.approx(_x(_utc(2026, 11, 29, 23), start) + LABEL_PAD)


@pytest.mark.parametrize(
    ("start", "zone", "hours"),
    [
        pytest.param(
            _utc(2024, 3, 28, 23), "Europe/Berlin", [24, 24, 23, 24, 24, 24, 24], id="spring-23h"
        ),
        pytest.param(
            _utc(2024, 10, 24, 22), "Europe/Berlin", [24, 24, 25, 24, 24, 24], id="autumn-25h"
        ),
        pytest.param(
            # Lord Howe Island moves its clocks by half an hour.
            _utc(2024, 4, 4, 13),
            "Australia/Lord_Howe",
            [24, 24, 24.5, 24, 24, 24],
            id="half-hour-dst",
        ),
    ],
)
def test_day_lines_fall_on_local_midnights_across_dst(
    start: datetime, zone: str, hours: list[float]
) -> None:
    lines = day_lines(start, start + WEEK, zone)
    assert [(b - a) / timedelta(hours=1) for a, b in itertools.pairwise(lines)] == hours


def test_a_midnight_the_clock_skips_starts_its_day_when_the_clock_lands() -> None:
    # Santiago springs forward at midnight: 2024-09-08 begins at 01:00 local (04:00 UTC).
    start = _utc(2024, 9, 6, 12)
    assert _utc(2024, 9, 8, 4) in day_lines(start, start + WEEK, "America/Santiago")


def test_a_day_the_zone_skipped_gets_no_label() -> None:
    # Samoa went from Thursday 29 to Saturday 31 December 2011.
    start = _utc(2011, 12, 29, 10)  # Thursday 29 00:00 in Apia
    texts = [label.text for label in day_labels(start, start + WEEK, "Pacific/Apia")]
    assert texts[:3] == ["Thu 29 Dec", "Sat 31 Dec", "Sun 01 Jan"]


ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Asia/Tokyo",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Apia",  # skipped 2011-12-30 altogether
    "Pacific/Chatham",
]


@settings(max_examples=400, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2035, 12, 31)),
    zone=st.sampled_from(ZONES),
    days=st.sampled_from([1, 2, 7, 14]),
)
def test_day_labels_never_overlap_and_stay_inside(start: datetime, zone: str, days: int) -> None:
    start = start.replace(tzinfo=UTC)
    end = start + timedelta(days=days)
    labels = day_labels(start, end, zone)
    midnights = day_lines(start, end, zone)
    for label in labels:
        assert label.x >= LABEL and label.x + label.width <= WIDTH
        # Each label sits just after its day's line, or after the picture's left edge.
        anchors = [LABEL] + [
            LABEL + (WIDTH - LABEL) * (m - start) / (end - start) for m in midnights
        ]
        assert any(label.x == pytest.approx(a + LABEL_PAD) for a in anchors)
    for left, right in itertools.pairwise(labels):
        assert left.x + left.width + LABEL_GAP <= right.x, (left, right)
    if days == 7:
        assert len(labels) >= 6  # a week always names at least six of its days


@pytest.mark.parametrize(
    ("handle", "name", "expected"),
    [
        pytest.param("alice", "Alice Smith", "AS", id="name-words"),
        pytest.param("mjones", "Mary Ann Jones-Lee", "MAJ", id="at-most-three"),
        pytest.param("carol", "", "C", id="no-name-handle"),
        pytest.param("jean-luc.picard", None, "JLP", id="handle-parts"),
    ],
)
def test_initials(handle: str, name: str | None, expected: str) -> None:
    assert initials(handle, name) == expected


NAMES = {"alice": "Alice Smith", "bob": "Bob Jones"}


@pytest.mark.parametrize(
    ("users", "width", "expected"),
    [
        pytest.param(("alice",), 200.0, "alice", id="handle-fits"),
        pytest.param(("alice",), 30.0, "AS", id="initials-fit"),
        pytest.param(("alice",), 15.0, "", id="nothing-fits"),
        pytest.param(("alice", "bob"), 200.0, "alice, bob", id="two-handles-fit"),
        pytest.param(("alice", "bob"), 50.0, "AS+BJ", id="two-initials-fit"),
        pytest.param((), 100.0, "gap", id="gap-labelled"),
        pytest.param((), 10.0, "", id="narrow-gap-blank"),
    ],
)
def test_block_text(users: tuple[str, ...], width: float, expected: str) -> None:
    assert block_text(users, width, NAMES) == expected


@pytest.mark.parametrize("fill", [*PALETTE, svg.GAP_COLOUR])
def test_every_block_colour_keeps_text_readable(fill: str) -> None:
    assert svg.contrast(fill, text_colour(fill)) >= 4.5  # WCAG AA for small text


def test_palette_colours_are_distinct() -> None:
    assert len(set(PALETTE)) == len(PALETTE)
    assert svg.GAP_COLOUR not in PALETTE


SCHEDULE = sched.Schedule(
    "primary",
    "Europe/Berlin",
    (
        sched.Layer(
            "daily",
            ("alice", "bob"),
            sched.Rotation(1, sched.RotationUnit.DAYS),
            datetime(2026, 11, 23, 9, 0),
        ),
    ),
    (sched.Override("carol", _utc(2026, 12, 1, 12), _utc(2026, 12, 1, 12, 20)),),
)


def test_picture_has_a_legend_a_tooltip_per_block_and_local_times() -> None:
    start = _utc(2026, 11, 29, 22)
    picture = str(
        schedule_svg(
            SCHEDULE,
            start,
            start + WEEK,
            now=start,
            zone="Asia/Tokyo",
            names={"alice": "Alice Smith", "bob": "Bob Jones", "carol": "Carol"},
        )
    )
    legend = picture[picture.index("<figcaption") :]
    for person, colour in (("alice", PALETTE[0]), ("bob", PALETTE[1]), ("carol", PALETTE[2])):
        item = re.search(rf'<li data-person="{person}">(.*?)</li>', legend)
        assert item is not None, person
        assert f'fill="{colour}"' in item.group(1)
        assert f"@{person}" in item.group(1)
    assert "Alice Smith" in legend
    assert "nobody on call" not in legend  # no gap this week
    # Twenty minutes are about two units wide: no text, but the tooltip names carol, in Tokyo.
    carol = re.search(
        r'<g class="shift"><title>carol: ([^<]*)</title><rect [^>]*/>(.*?)</g>', picture
    )
    assert carol is not None
    assert carol.group(1) == "Tue 21:00 - Tue 21:20 Asia/Tokyo"
    assert carol.group(2) == ""
    # A whole day's block shows the handle; the 09:00 handoff in Berlin is 17:00 in Tokyo.
    bob = re.search(
        r"<title>bob: Mon 17:00 - Tue 17:00 Asia/Tokyo</title><rect [^>]*/>(.*?)</g>", picture
    )
    assert bob is not None
    assert bob.group(1).endswith(">bob</text>")
