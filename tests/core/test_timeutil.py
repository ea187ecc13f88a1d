"""Durations and instants as people type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.timeutil import parse_duration, parse_instant
from tocsin.errors import InvalidInput

NOW = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), (" 5 m ", 300)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "1.5h", "-5m", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-20T10:28Z", datetime(2024, 6, 20, 10, 28, tzinfo=UTC)),
        ("2024-06-20T12:28+02:00", datetime(2024, 6, 20, 10, 28, tzinfo=UTC)),
        ("2024-06-20T10:28", datetime(2024, 6, 20, 10, 28, tzinfo=UTC)),
        ("2m ago", datetime(2024, 6, 20, 10, 28, tzinfo=UTC)),
        ("now", NOW),
    ],
)
def test_instants(text: str, expected: datetime) -> None:
    assert parse_instant(text, now=NOW) == expected


def test_local_instants_use_the_zone() -> None:
    got = parse_instant("2024-06-20T12:28", now=NOW, zone="Europe/Berlin")
    assert got == datetime(2024, 6, 20, 10, 28, tzinfo=UTC)


def test_bad_instant() -> None:
    with pytest.raises(InvalidInput, match="is not a time"):
        parse_instant("yesterday-ish", now=NOW)
