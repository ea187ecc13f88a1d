"""When the next login attempt may be made: pure, with time as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.login_throttle import (
    NO_FAILURES,
    Failures,
    Limit,
    delay,
    forgive_one,
    latest,
    next_attempt,
    record_failure,
    retry_after,
)

T = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)
S = timedelta(seconds=1)
LIMIT = Limit(free=3, first_delay=S, cap=60 * S, forget=timedelta(minutes=30))


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        pytest.param(0, 0 * S, id="no-failures"),
        pytest.param(2, 0 * S, id="still-free"),
        pytest.param(3, 1 * S, id="first-wait"),
        pytest.param(4, 2 * S, id="doubles"),
        pytest.param(8, 32 * S, id="doubles-again"),
        pytest.param(9, 60 * S, id="capped"),
        pytest.param(10**6, 60 * S, id="huge-count-capped"),
    ],
)
def test_delay_doubles_after_the_free_failures_up_to_the_cap(
    count: int, expected: timedelta
) -> None:
    assert delay(count, LIMIT) == expected


@pytest.mark.parametrize(
    ("failures", "now", "expected"),
    [
        pytest.param(NO_FAILURES, T, None, id="never-failed"),
        pytest.param(Failures(2, T), T, None, id="free-failures-left"),
        pytest.param(Failures(3, T), T, T + S, id="wait-after-free"),
        pytest.param(Failures(3, T), T + S, None, id="wait-over"),
        pytest.param(Failures(5, T), T + S, T + 4 * S, id="wait-longer"),
        pytest.param(Failures(50, T), T + 59 * S, T + 60 * S, id="at-most-the-cap"),
        pytest.param(Failures(50, T), T + timedelta(minutes=30), None, id="forgotten"),
    ],
)
def test_next_attempt(failures: Failures, now: datetime, expected: datetime | None) -> None:
    assert next_attempt(failures, LIMIT, now) == expected


def test_record_failure_counts_and_starts_over_after_a_quiet_spell() -> None:
    f = record_failure(record_failure(NO_FAILURES, LIMIT, T), LIMIT, T + S)
    assert f == Failures(2, T + S)
    assert record_failure(f, LIMIT, T + timedelta(hours=1)) == Failures(1, T + timedelta(hours=1))


def test_forgive_one_takes_back_one_failure_and_keeps_the_time() -> None:
    assert forgive_one(Failures(2, T)) == Failures(1, T)
    assert forgive_one(NO_FAILURES) == NO_FAILURES


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(T + S, 1, id="whole"),
        pytest.param(T + timedelta(milliseconds=1), 1, id="rounded-up"),
        pytest.param(T + timedelta(seconds=2.5), 3, id="fraction"),
    ],
)
def test_retry_after_rounds_up(at: datetime, expected: int) -> None:
    assert retry_after(at, T) == expected


def test_latest_is_the_wait_every_limit_agrees_to() -> None:
    assert latest([None, T + S, T]) == T + S
    assert latest([None, None]) is None
