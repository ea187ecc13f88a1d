"""Notification rules, business hours, throttling and bundling."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core.paging import (
    Bundle,
    Pending,
    Rule,
    bundle,
    cap_release,
    low_urgency_due,
    next_business_start,
    parse_rules,
    schedule_notifications,
)
from tocsin.errors import InvalidInput

NEW_YORK, BERLIN, TOKYO = "America/New_York", "Europe/Berlin", "Asia/Tokyo"
METHODS = {"hook", "email"}
DURATION_HINT = "write it like 30s, 15m, 1h, 1h30m or 2d"
ALL_WEEK = frozenset(range(7))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2024, 6, 20, hour, minute, second, tzinfo=UTC)


# --- rules --------------------------------------------------------------------------------------


def test_rules_parse_in_the_order_written() -> None:
    items: list[dict[str, Any]] = [
        {"contact_method": "hook", "after": "0m"},
        {"contact_method": "email", "after": "2m"},
        {"contact_method": " email ", "after": "1h"},
    ]
    assert parse_rules(items, METHODS) == [
        Rule("hook", timedelta(0)),
        Rule("email", timedelta(minutes=2)),
        Rule("email", timedelta(hours=1)),
    ]


def test_a_rule_without_after_notifies_at_once() -> None:
    assert parse_rules([{"contact_method": "hook"}], METHODS) == [Rule("hook", timedelta(0))]


@pytest.mark.parametrize(
    ("items", "problems"),
    [
        pytest.param(
            [
                {"contact_method": "sms", "after": "0m"},
                {"contact_method": "email", "after": "2 minutes"},
                {"contact_method": "email", "after": "-2m"},
            ],
            [
                "rules[0].contact_method: unknown contact method 'sms'; valid: email, hook",
                f"rules[1].after: '2 minutes' is not a duration; {DURATION_HINT}",
                "rules[2].after: '-2m' is negative; a rule can only fire after the page",
            ],
            id="every-problem-at-once",
        ),
        pytest.param(
            [{"after": "2m"}],
            ["rules[0].contact_method: required; valid: email, hook"],
            id="method-missing",
        ),
        pytest.param(
            [{"contact_method": "hook", "after": timedelta(minutes=-1)}],
            [
                "rules[0].after: datetime.timedelta(days=-1, seconds=86340) is negative; "
                "a rule can only fire after the page"
            ],
            id="negative-timedelta",
        ),
        pytest.param(
            [{"contact_method": "hook", "after": 2}],
            ["rules[0].after: 2 is not a duration; write it like 0m, 2m or 1h"],
            id="number",
        ),
        pytest.param(
            [{"contact_method": "hook", "delay": "2m"}],
            ["rules[0]: unknown key 'delay'; valid keys: after, contact_method"],
            id="typo-key",
        ),
        pytest.param(
            ["hook"],
            ["rules[0]: expected a mapping like {contact_method: email, after: 2m}"],
            id="not-a-mapping",
        ),
        pytest.param(
            [
                {"contact_method": "hook", "after": "2m"},
                {"contact_method": "hook", "after": "120s"},
            ],
            ["rules[1]: the same contact method and delay as rules[0]"],
            id="duplicate",
        ),
    ],
)
def test_rule_problems_are_all_listed_with_paths(
    items: list[dict[str, Any]], problems: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules(items, METHODS)
    assert caught.value.problems == problems


def test_rules_for_a_user_without_contact_methods_say_so() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules([{"contact_method": "hook"}], set())
    assert caught.value.problems == [
        "rules[0].contact_method: unknown contact method 'hook'; "
        "valid: none; add a contact method first"
    ]


@pytest.mark.parametrize(
    ("rules", "paged_at", "expected"),
    [
        pytest.param(
            [
                Rule("email", timedelta(minutes=2)),
                Rule("hook", timedelta(0)),
                Rule("sms", timedelta(minutes=2)),
                Rule("push", timedelta(seconds=30)),
            ],
            at(10, 0),
            [
                ("hook", at(10, 0)),
                ("push", at(10, 0, 30)),
                ("email", at(10, 2)),
                ("sms", at(10, 2)),
            ],
            id="earliest-first-ties-in-rule-order",
        ),
        pytest.param(
            [Rule("hook", timedelta(minutes=5))],
            datetime(2024, 6, 20, 12, 0, tzinfo=ZoneInfo(BERLIN)),
            [("hook", at(10, 5))],
            id="in-utc",
        ),
        pytest.param(
            # 01:50 EDT on the fall-back night is 05:50 UTC; 15 real minutes later is 06:05 UTC.
            [Rule("email", timedelta(minutes=15))],
            datetime(2024, 11, 3, 1, 50, tzinfo=ZoneInfo(NEW_YORK)),
            [("email", utc(2024, 11, 3, 6, 5))],
            id="real-minutes-across-fall-back",
        ),
        pytest.param([], at(10, 0), [], id="no-rules"),
    ],
)
def test_notifications_are_scheduled_from_the_page(
    rules: list[Rule], paged_at: datetime, expected: list[tuple[str, datetime]]
) -> None:
    assert schedule_notifications(rules, paged_at) == expected


def test_a_naive_page_time_is_refused() -> None:
    with pytest.raises(InvalidInput, match="has no time zone offset"):
        schedule_notifications([Rule("hook", timedelta(0))], datetime(2024, 6, 20, 10, 0))


# --- business hours -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "instant", "expected"),
    [
        # America/New_York in June is EDT, UTC-4: 09:00 local is 13:00 UTC.
        pytest.param(NEW_YORK, utc(2024, 6, 18, 12, 0), utc(2024, 6, 18, 13, 0), id="ny-tue-0800"),
        pytest.param(NEW_YORK, utc(2024, 6, 18, 13, 0), utc(2024, 6, 18, 13, 0), id="ny-tue-0900"),
        pytest.param(NEW_YORK, utc(2024, 6, 18, 14, 0), utc(2024, 6, 19, 13, 0), id="ny-tue-1000"),
        pytest.param(NEW_YORK, utc(2024, 6, 21, 22, 0), utc(2024, 6, 24, 13, 0), id="ny-fri-1800"),
        pytest.param(NEW_YORK, utc(2024, 6, 23, 16, 0), utc(2024, 6, 24, 13, 0), id="ny-sun-noon"),
        # Tue 22:00 EDT is already Wednesday in UTC.
        pytest.param(NEW_YORK, utc(2024, 6, 19, 2, 0), utc(2024, 6, 19, 13, 0), id="ny-tue-2200"),
        # Spring forward on Sunday 2024-03-10: Friday is EST (UTC-5), Monday EDT (UTC-4).
        pytest.param(NEW_YORK, utc(2024, 3, 8, 23, 0), utc(2024, 3, 11, 13, 0), id="ny-dst-fri"),
        pytest.param(NEW_YORK, utc(2024, 3, 10, 6, 30), utc(2024, 3, 11, 13, 0), id="ny-dst-sun"),
        # Fall back on Sunday 2024-11-03: Friday is EDT (UTC-4), Monday EST (UTC-5).
        pytest.param(NEW_YORK, utc(2024, 11, 1, 22, 0), utc(2024, 11, 4, 14, 0), id="ny-std-fri"),
        pytest.param(NEW_YORK, utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 14, 0), id="ny-std-sun"),
        # Europe/Berlin: CEST is UTC+2, CET UTC+1; clocks change on 2024-03-31 and 2024-10-27.
        pytest.param(BERLIN, utc(2024, 6, 18, 6, 0), utc(2024, 6, 18, 7, 0), id="berlin-tue-0800"),
        pytest.param(BERLIN, utc(2024, 3, 29, 17, 0), utc(2024, 4, 1, 7, 0), id="berlin-dst-fri"),
        pytest.param(BERLIN, utc(2024, 10, 25, 16, 0), utc(2024, 10, 28, 8, 0), id="berlin-std"),
        # Asia/Tokyo is UTC+9 all year: 09:00 local is 00:00 UTC the same day.
        pytest.param(TOKYO, utc(2024, 6, 17, 23, 0), utc(2024, 6, 18, 0, 0), id="tokyo-tue-0800"),
        pytest.param(TOKYO, utc(2024, 6, 18, 1, 0), utc(2024, 6, 19, 0, 0), id="tokyo-tue-1000"),
        pytest.param(TOKYO, utc(2024, 6, 21, 23, 30), utc(2024, 6, 24, 0, 0), id="tokyo-sat"),
    ],
)
def test_next_business_start(zone: str, instant: datetime, expected: datetime) -> None:
    got = next_business_start(instant, zone)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize(
    ("instant", "clock", "expected"),
    [
        # 02:30 does not exist on 2024-03-10 in New York: the gap ends at 03:00 EDT, 07:00 UTC.
        pytest.param(utc(2024, 3, 10, 6, 0), time(2, 30), utc(2024, 3, 10, 7, 0), id="gap"),
        pytest.param(utc(2024, 3, 10, 7, 0), time(2, 30), utc(2024, 3, 10, 7, 0), id="gap-end"),
        pytest.param(utc(2024, 3, 10, 7, 0, 1), time(2, 30), utc(2024, 3, 11, 6, 30), id="after"),
        # 01:30 happens twice on 2024-11-03: first at 01:30 EDT (05:30 UTC), then EST (06:30).
        pytest.param(utc(2024, 11, 3, 4, 0), time(1, 30), utc(2024, 11, 3, 5, 30), id="fold"),
        pytest.param(utc(2024, 11, 3, 5, 45), time(1, 30), utc(2024, 11, 4, 6, 30), id="fold-2nd"),
        # Tue 22:00 EDT is Wed 02:00 UTC; the day that counts is the local one, Tuesday.
        pytest.param(utc(2024, 6, 19, 2, 0), time(23, 0), utc(2024, 6, 19, 3, 0), id="local-day"),
    ],
)
def test_a_start_in_a_clock_change_follows_the_gap_and_fold_rules(
    instant: datetime, clock: time, expected: datetime
) -> None:
    assert next_business_start(instant, NEW_YORK, start=clock, days=ALL_WEEK) == expected


def test_business_days_and_start_can_be_chosen() -> None:
    # A weekend support desk opening at 08:30 in Berlin (CEST): Thu 12:00 UTC -> Sat 06:30 UTC.
    got = next_business_start(utc(2024, 6, 20, 12, 0), BERLIN, start=time(8, 30), days={5, 6})
    assert got == utc(2024, 6, 22, 6, 30)


def test_a_low_urgency_page_waits_for_the_next_business_morning() -> None:
    assert low_urgency_due(utc(2024, 6, 21, 22, 0), NEW_YORK) == utc(2024, 6, 24, 13, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'", id="zone"),
        pytest.param({"at": datetime(2024, 6, 20, 10, 0)}, "has no time zone offset", id="naive"),
        pytest.param({"days": set()}, r"business days must be weekday numbers 0\.\.6", id="none"),
        pytest.param({"days": {1, 7}}, r"0\.\.6 \(0 = Monday\), not \[7\]", id="day-7"),
        pytest.param({"start": time(9, tzinfo=UTC)}, "must be a local wall time", id="aware"),
    ],
)
def test_bad_business_hours_are_refused(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"at": at(10, 0), "time_zone": NEW_YORK, **kwargs}
    with pytest.raises(InvalidInput, match=message):
        next_business_start(**arguments)


# --- bundling -----------------------------------------------------------------------------------


def pending(key: str, due: datetime, user: str = "ann", method: str = "hook") -> Pending:
    return Pending(key, user, method, due, f"line {key}")


FIVE = [pending(f"a{i}", at(9, 55 + i)) for i in range(5)]


@pytest.mark.parametrize(
    ("items", "now", "last_sent", "bundles", "wake"),
    [
        pytest.param(
            FIVE[::-1],
            at(10, 0),
            {},
            [
                Bundle(
                    "ann",
                    "hook",
                    ("a0", "a1", "a2", "a3", "a4"),
                    ("line a0", "line a1", "line a2", "line a3", "line a4"),
                )
            ],
            None,
            id="five-due-make-one-bundle-earliest-first",
        ),
        pytest.param(
            [pending("b", at(10, 0))],
            at(10, 0),
            {("ann", "hook"): at(9, 58)},
            [],
            at(10, 3),
            id="throttled-until-last-sent-plus-interval",
        ),
        pytest.param(
            [pending("b", at(10, 0))],
            at(10, 3),
            {("ann", "hook"): at(9, 58)},
            [Bundle("ann", "hook", ("b",), ("line b",))],
            None,
            id="sent-exactly-when-the-interval-is-over",
        ),
        pytest.param(
            [pending("b", at(10, 10))],
            at(10, 0),
            {},
            [],
            at(10, 10),
            id="not-due-yet",
        ),
        pytest.param(
            [pending("b", at(10, 10))],
            at(10, 0),
            {("ann", "hook"): at(10, 8)},
            [],
            at(10, 13),
            id="due-later-and-throttled-then",
        ),
        pytest.param(
            [pending("b", at(10, 0)), pending("c", at(10, 2))],
            at(10, 0),
            {},
            [Bundle("ann", "hook", ("b",), ("line b",))],
            at(10, 5),
            id="the-send-now-throttles-the-next",
        ),
        pytest.param(
            [pending("b", at(10, 0)), pending("c", at(10, 20))],
            at(10, 0),
            {},
            [Bundle("ann", "hook", ("b",), ("line b",))],
            at(10, 20),
            id="a-later-one-waits-for-its-own-due",
        ),
        pytest.param(
            [
                pending("held", at(10, 0)),
                pending("mail", at(10, 0), method="email"),
                pending("bob", at(9, 59), user="bob"),
            ],
            at(10, 0),
            {("ann", "hook"): at(9, 57)},
            [
                Bundle("ann", "email", ("mail",), ("line mail",)),
                Bundle("bob", "hook", ("bob",), ("line bob",)),
            ],
            at(10, 2),
            id="other-methods-and-users-are-independent",
        ),
        pytest.param(
            [
                pending("late", datetime(2024, 6, 20, 11, 59, tzinfo=ZoneInfo(BERLIN))),
                pending("early", at(9, 58)),
            ],
            at(10, 0),
            {},
            [Bundle("ann", "hook", ("early", "late"), ("line early", "line late"))],
            None,
            id="ordered-by-instant-whatever-the-zone",
        ),
        pytest.param([], at(10, 0), {("ann", "hook"): at(9, 59)}, [], None, id="nothing"),
    ],
)
def test_bundling_and_throttling(
    items: list[Pending],
    now: datetime,
    last_sent: dict[tuple[str, str], datetime],
    bundles: list[Bundle],
    wake: datetime | None,
) -> None:
    assert bundle(items, now, last_sent, timedelta(minutes=5)) == (bundles, wake)


def test_a_zero_interval_throttles_nothing() -> None:
    got = bundle([pending("b", at(10, 0))], at(10, 0), {("ann", "hook"): at(10, 0)}, timedelta(0))
    assert got == ([Bundle("ann", "hook", ("b",), ("line b",))], None)


@pytest.mark.parametrize(
    ("items", "now", "interval", "message"),
    [
        pytest.param(
            [], datetime(2024, 6, 20, 10, 0), timedelta(0), "now .* no time zone", id="now"
        ),
        pytest.param(
            [pending("b", datetime(2024, 6, 20, 10, 0))],
            at(10, 0),
            timedelta(0),
            "due of 'b' .* no time zone",
            id="due",
        ),
        pytest.param([], at(10, 0), timedelta(minutes=-1), "must not be negative", id="interval"),
    ],
)
def test_bad_bundling_input_is_refused(
    items: list[Pending], now: datetime, interval: timedelta, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        bundle(items, now, {}, interval)


# --- properties ---------------------------------------------------------------------------------

T0 = datetime(2024, 6, 20, 10, 0, tzinfo=UTC)
PROPERTIES = settings(max_examples=200, deadline=None)

pendings = st.lists(
    st.tuples(
        st.sampled_from(["ann", "bob", "cy"]),
        st.sampled_from(["hook", "email"]),
        st.integers(0, 120 * 60),
    ),
    max_size=25,
).map(
    lambda rows: [
        Pending(f"k{i}", user, method, T0 + timedelta(seconds=s), f"line {i}")
        for i, (user, method, s) in enumerate(rows)
    ]
)
intervals = st.integers(0, 15 * 60).map(lambda s: timedelta(seconds=s))


def earliest_sendable(
    remaining: list[Pending], last_sent: dict[tuple[str, str], datetime], interval: timedelta
) -> datetime | None:
    """Return when the first of `remaining` may go: due, and its pair's interval over."""
    times = []
    for p in remaining:
        previous = last_sent.get((p.user, p.method))
        times.append(p.due if previous is None else max(p.due, previous + interval))
    return min(times, default=None)


@PROPERTIES
@given(items=pendings, interval=intervals, extra=st.lists(st.integers(0, 150 * 60), max_size=10))
def test_throttling_holds_and_every_pending_goes_out_once(
    items: list[Pending], interval: timedelta, extra: list[int]
) -> None:
    # The engine wakes at the returned times and, now and then, for other reasons.
    wakes = sorted(T0 + timedelta(seconds=s) for s in extra)
    remaining = list(items)
    last_sent: dict[tuple[str, str], datetime] = {}
    sent: list[str] = []
    now = T0
    for _ in range(len(items) * 2 + len(extra) + 2):
        bundles, wake = bundle(remaining, now, last_sent, interval)
        for b in bundles:
            pair = (b.user, b.method)
            assert pair not in last_sent or now - last_sent[pair] >= interval
            assert len(b.keys) == len(b.lines) > 0
            last_sent[pair] = now
            sent += b.keys
        gone = {key for b in bundles for key in b.keys}
        assert all(p.due <= now for p in remaining if p.key in gone)
        remaining = [p for p in remaining if p.key not in gone]
        # Nothing sendable is held back, and the wake-up is exactly when the next one may go.
        assert wake == earliest_sendable(remaining, last_sent, interval)
        if wake is None:
            break
        assert wake > now
        now = min([wake] + [w for w in wakes if w > now])
    assert remaining == []
    assert sorted(sent) == sorted(p.key for p in items)


ZONES = [NEW_YORK, BERLIN, TOKYO, "Australia/Lord_Howe"]


@PROPERTIES
@given(
    zone=st.sampled_from(ZONES),
    seconds=st.integers(0, 366 * 86400),
    clock=st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    fraction=st.floats(0, 1),
)
def test_the_next_business_start_is_the_first_one_coming(
    zone: str, seconds: int, clock: time, days: frozenset[int], fraction: float
) -> None:
    instant = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    got = next_business_start(instant, zone, start=clock, days=days)
    local = got.astimezone(ZoneInfo(zone))
    wall = datetime.combine(local.date(), clock)
    exists = wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).astimezone(ZoneInfo(zone))
    assert instant <= got <= instant + timedelta(days=8)
    assert local.weekday() in days
    if exists.replace(tzinfo=None) == wall:
        assert local.replace(tzinfo=None).time() == clock
    # Any moment between `instant` and the answer has the same answer, and the answer itself.
    between = instant + (got - instant) * fraction
    assert next_business_start(between, zone, start=clock, days=days) == got
    assert next_business_start(got, zone, start=clock, days=days) == got


@pytest.mark.parametrize(
    ("sent_minutes_ago", "limit", "release_in"),
    [
        pytest.param([], 2, None, id="nothing sent"),
        pytest.param([5], 2, None, id="under the cap"),
        pytest.param([50, 5], 2, 10, id="at the cap: when the older leaves the hour"),
        pytest.param([70, 5], 2, None, id="one left the hour already"),
        pytest.param([59, 30, 1], 2, 30, id="over the cap: the second newest decides"),
    ],
)
def test_the_hourly_cap_says_when_the_next_message_may_go(
    sent_minutes_ago: list[int], limit: int, release_in: int | None
) -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    sent = [now - timedelta(minutes=m) for m in sent_minutes_ago]
    found = cap_release(sent, now, limit=limit, window=timedelta(hours=1))
    assert found == (now + timedelta(minutes=release_in) if release_in is not None else None)
