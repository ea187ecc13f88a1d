"""Cursors, versions and the If-None-Match check of the paged lists and live parts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core import pagination
from tocsin.errors import InvalidInput

T0 = datetime(2024, 6, 20, 10, 30, 15, 123456, tzinfo=UTC)


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_gives_back_the_row_it_names() -> None:
    cursor = pagination.encode("alerts", T0, 42)
    assert pagination.decode("alerts", cursor) == (T0, 42)
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor  # fits a URL as is


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("nonsense!", id="not-base64"),
        pytest.param("bm90IGpzb24", id="not-json"),
        pytest.param(pagination.encode("timeline", T0, 42), id="another-list"),
        pytest.param(pagination.encode("alerts", T0, 42)[:-3], id="truncated"),
        pytest.param(_raw(["alerts", T0.isoformat(), 2**31]), id="id-out-of-range"),
        pytest.param(_raw(["alerts", T0.isoformat(), 0]), id="id-zero"),
        pytest.param(_raw(["alerts", T0.isoformat(), "42"]), id="id-as-text"),
        pytest.param(_raw(["alerts", T0.isoformat(), True]), id="id-as-bool"),
        pytest.param(_raw(["alerts", "2024-06-20T10:30:00", 42]), id="naive-instant"),
        pytest.param(_raw(["alerts", "yesterday", 42]), id="not-an-instant"),
        pytest.param(_raw({"list": "alerts"}), id="not-a-list"),
        pytest.param("\u00e9\u00e9\u00e9\u00e9", id="not-ascii"),
    ],
)
def test_a_cursor_this_list_did_not_give_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput, match=r"^before: .* is not a cursor of this list"):
        pagination.decode("alerts", cursor, parameter="before")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, False, id="none"),
        pytest.param("", False, id="empty"),
        pytest.param('"abc"', True, id="same"),
        pytest.param('W/"abc"', True, id="weak-same"),
        pytest.param('"x", "abc"', True, id="in-a-list"),
        pytest.param('"abd"', False, id="other"),
        pytest.param("abc", False, id="unquoted"),
        pytest.param("*", True, id="any"),
    ],
)
def test_if_none_match_names_the_version(header: str | None, expected: bool) -> None:
    assert pagination.not_modified(header, '"abc"') is expected


def test_versions_differ_when_any_part_does() -> None:
    assert pagination.version("t", 1, 2) == pagination.version("t", 1, 2)
    assert pagination.version("t", 1, 2) != pagination.version("t", 1, 3)
    assert pagination.version("t", 1, 2).startswith('"')


@pytest.mark.parametrize(
    ("newest", "expected"),
    [
        pytest.param([], "2024-06-20T10:30", id="nothing-shown"),
        pytest.param([None, T0 - timedelta(hours=1)], "2024-06-20T10:30", id="an-hour-old"),
        pytest.param([T0 - timedelta(seconds=59)], "2024-06-20T10:30:15", id="seconds-old"),
        pytest.param([T0 - timedelta(seconds=60)], "2024-06-20T10:30", id="a-minute-old"),
    ],
)
def test_ages_change_by_the_minute_once_a_minute_old(
    newest: list[datetime | None], expected: str
) -> None:
    assert pagination.age_bucket(T0, newest) == expected
