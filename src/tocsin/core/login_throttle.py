"""Login throttling: given the failed logins so far and `now`, when may the next attempt be made.

A limit lets a few failures through at once, then makes each further attempt wait twice as long
as the one before, up to a cap; a quiet spell of `forget` starts the count over. The web login
keeps three counts (see `tocsin.web.throttle`): per account and client, strict; per client over
all accounts; per account over all clients, looser. The cap bounds how long anyone waits, so an
attacker can slow a real user's login down but never lock it for longer than the cap.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 6, 20, tzinfo=UTC)
    >>> limit = Limit(free=2, first_delay=timedelta(seconds=1), cap=timedelta(seconds=60))
    >>> f = record_failure(record_failure(NO_FAILURES, limit, t), limit, t)
    >>> next_attempt(f, limit, t)
    datetime.datetime(2024, 6, 20, 0, 0, 1, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limit:
    """How many failures pass at once, and how the wait grows after them."""

    free: int
    first_delay: timedelta
    cap: timedelta
    forget: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class Failures:
    """Failed attempts counted for one key, and when the last one was made."""

    count: int = 0
    last: datetime | None = None


NO_FAILURES = Failures()

# Doubling 40 times already exceeds any sensible cap; stop there so huge counts stay cheap.
_MAX_DOUBLINGS = 40


def current(failures: Failures, limit: Limit, now: datetime) -> Failures:
    """Return `failures` as they count at `now`: nothing after a quiet spell of `limit.forget`."""
    if failures.last is None or now - failures.last >= limit.forget:
        return NO_FAILURES
    return failures


def delay(count: int, limit: Limit) -> timedelta:
    """Return how long to wait after the `count`-th failure before the next attempt."""
    if count < limit.free:
        return timedelta(0)
    doublings: int = min(count - limit.free, _MAX_DOUBLINGS)
    return min(limit.first_delay * (1 << doublings), limit.cap)


def next_attempt(failures: Failures, limit: Limit, now: datetime) -> datetime | None:
    """Return when the next attempt may be made, or None if it may be made at `now`."""
    counted = current(failures, limit, now)
    if counted.last is None or counted.count < limit.free:
        return None
    at = counted.last + delay(counted.count, limit)
    return at if at > now else None


def latest(times: Iterable[datetime | None]) -> datetime | None:
    """Return the latest of `times` (the one every limit agrees to), or None if none wait."""
    found = [t for t in times if t is not None]
    return max(found) if found else None


def record_failure(failures: Failures, limit: Limit, now: datetime) -> Failures:
    """Return `failures` with one more failure at `now`."""
    return Failures(current(failures, limit, now).count + 1, now)


def forgive_one(failures: Failures) -> Failures:
    """Return `failures` with one failure taken back (an attempt counted early that succeeded)."""
    return Failures(max(failures.count - 1, 0), failures.last) if failures.count else failures


def retry_after(at: datetime, now: datetime) -> int:
    """Return whole seconds from `now` until `at`, rounded up (for a Retry-After header)."""
    return max(1, math.ceil((at - now).total_seconds()))
