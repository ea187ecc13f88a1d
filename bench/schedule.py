"""Time the final schedule of a follow-the-sun schedule; prints figures, asserts nothing.

Run as ``.venv/bin/python bench/schedule.py``. Targets: one year of `final_shifts` in at most
20 ms (median), one `on_call` query in at most 1 ms.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from time import perf_counter

from tocsin.core.schedule import (
    Layer,
    Override,
    Restriction,
    Rotation,
    RotationUnit,
    Schedule,
    final_shifts,
    on_call,
)

YEAR_START = datetime(2021, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2022, 1, 1, tzinfo=UTC)
WEEK = Rotation(1, RotationUnit.WEEKS)
OFFICE_HOURS = (Restriction(time(9), time(17)),)


def follow_the_sun(overrides: int, seed: int = 7) -> Schedule:
    """Return a 24/7 UTC base layer under APAC, EU and US office-hours layers."""
    rng = random.Random(seed)
    start = datetime(2020, 12, 28, 9, 0)

    def office(name: str, zone: str) -> Layer:
        people = tuple(f"{name.lower()}-{n}" for n in range(3))
        return Layer(name, people, WEEK, start, OFFICE_HOURS, zone)

    layers = (
        Layer("Base", ("base-1", "base-2", "base-3", "base-4"), WEEK, datetime(2020, 12, 28)),
        office("APAC", "Asia/Tokyo"),
        office("EU", "Europe/Berlin"),
        office("US", "America/New_York"),
    )
    stand_ins = []
    for n in range(overrides):
        begin = YEAR_START + timedelta(minutes=rng.randrange(365 * 24 * 60))
        length = timedelta(minutes=rng.randrange(30, 24 * 60))
        stand_ins.append(Override(f"stand-in-{n % 7}", begin, begin + length))
    return Schedule("Follow the sun", "UTC", layers, tuple(stand_ins))


def timings(action: Callable[[], object], runs: int) -> list[float]:
    """Return the duration of each of `runs` calls of `action`, in seconds."""
    durations = []
    for _ in range(runs):
        begin = perf_counter()
        action()
        durations.append(perf_counter() - begin)
    return durations


def main() -> None:
    """Print the figures."""
    schedule = follow_the_sun(overrides=100)
    final_shifts(schedule, YEAR_START, YEAR_END)  # warm the zone cache

    year = sorted(timings(lambda: final_shifts(schedule, YEAR_START, YEAR_END), runs=30))
    shifts = final_shifts(schedule, YEAR_START, YEAR_END)
    print(
        f"final_shifts, 1 year, 4 layers, 100 overrides ({len(shifts)} shifts): "
        f"median {statistics.median(year) * 1e3:.2f} ms, "
        f"p90 {year[int(len(year) * 0.9)] * 1e3:.2f} ms (30 runs)"
    )

    rng = random.Random(11)
    seconds = int((YEAR_END - YEAR_START).total_seconds())
    instants = [YEAR_START + timedelta(seconds=rng.randrange(seconds)) for _ in range(2000)]
    queries = []
    for at in instants:
        begin = perf_counter()
        on_call(schedule, at)
        queries.append(perf_counter() - begin)
    queries.sort()
    print(
        f"on_call: median {statistics.median(queries) * 1e6:.1f} us, "
        f"p90 {queries[int(len(queries) * 0.9)] * 1e6:.1f} us ({len(queries)} random instants)"
    )


if __name__ == "__main__":
    main()
