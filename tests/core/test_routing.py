"""Label routing as Alertmanager users expect: first match, continue, drop, groups, inhibition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.matchers import parse_matchers
from tocsin.core.routing import (
    GROUP_KEY_LENGTH,
    Firing,
    InhibitRule,
    OpenAfter,
    Routed,
    RouteRule,
    firings_counted,
    group_key,
    inhibited_by,
    joins_group,
    route,
)


def rule(matchers: str, **fields: object) -> RouteRule:
    return RouteRule(tuple(parse_matchers(matchers)), **fields)  # type: ignore[arg-type]


RULES = [
    rule('{env=~"dev|test"}', drop=True),
    rule('{team="db", severity="critical"}', service="database", severity="SEV-1"),
    rule('{team="db"}', service="database", severity="SEV-3"),
    rule('{alertname="Watchdog"}', severity="SEV-4", keep_going=True),
    rule('{alertname=~"Watch.*"}', service="meta", severity="SEV-2", policy="meta-oncall"),
    rule('{team="web"}', policy="web-oncall", keep_going=True),
    rule('{team="web", severity="critical"}', severity="SEV-1"),
    rule("{}", service="catch-all"),
]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param(
            {"team": "db", "severity": "critical", "env": "prod"},
            Routed("database", "SEV-1", None, False, (1,)),
            id="first-match-wins",
        ),
        pytest.param(
            {"team": "db", "severity": "warning"},
            Routed("database", "SEV-3", None, False, (2,)),
            id="a-later-rule",
        ),
        pytest.param(
            {"team": "db", "severity": "critical", "env": "dev"},
            Routed(None, None, None, True, (0,)),
            id="dropped-before-anything-else",
        ),
        pytest.param(
            {"alertname": "Watchdog"},
            Routed("meta", "SEV-4", "meta-oncall", False, (3, 4)),
            id="continue-keeps-what-the-first-set",
        ),
        pytest.param(
            {"team": "web", "severity": "critical"},
            Routed(None, "SEV-1", "web-oncall", False, (5, 6)),
            id="continue-fills-in-the-rest",
        ),
        pytest.param(
            {"team": "web", "severity": "info"},
            Routed("catch-all", None, "web-oncall", False, (5, 7)),
            id="continue-reaches-the-catch-all",
        ),
        pytest.param({}, Routed("catch-all", None, None, False, (7,)), id="no-labels"),
    ],
)
def test_rules_route_in_order(labels: dict[str, str], expected: Routed) -> None:
    assert route(RULES, labels) == expected


def test_no_rules_route_nowhere() -> None:
    assert route([], {"team": "db"}) == Routed()


@pytest.mark.parametrize(
    ("labels", "group_by", "expected"),
    [
        ({"alertname": "A", "cluster": "eu"}, [], "{}"),
        ({"alertname": "A", "cluster": "eu"}, ["cluster"], '{cluster="eu"}'),
        (
            {"alertname": "A", "cluster": "eu"},
            ["alertname", "cluster"],
            '{alertname="A",cluster="eu"}',
        ),
        ({"alertname": "A"}, ["cluster"], '{cluster=""}'),  # missing groups as empty
        ({"cluster": 'e"u'}, ["cluster"], '{cluster="e\\"u"}'),  # quoted, so keys cannot collide
    ],
)
def test_group_keys(labels: dict[str, str], group_by: list[str], expected: str) -> None:
    assert group_key(labels, group_by) == expected


def test_alerts_with_equal_group_labels_share_a_group_and_others_do_not() -> None:
    by = ["alertname", "cluster"]
    a = group_key({"alertname": "Down", "cluster": "eu", "instance": "1"}, by)
    b = group_key({"alertname": "Down", "cluster": "eu", "instance": "2"}, by)
    c = group_key({"alertname": "Down", "cluster": "us", "instance": "1"}, by)
    assert a == b != c


NODE_DOWN = InhibitRule(
    source=tuple(parse_matchers('{alertname="NodeDown"}')),
    target=tuple(parse_matchers('{severity=~"warning|info"}')),
    equal=("instance",),
)


@pytest.mark.parametrize(
    ("labels", "firing", "expected"),
    [
        pytest.param(
            {"alertname": "DiskSlow", "severity": "warning", "instance": "db-1"},
            [("n1", {"alertname": "NodeDown", "severity": "critical", "instance": "db-1"})],
            "n1",
            id="inhibited",
        ),
        pytest.param(
            {"alertname": "DiskSlow", "severity": "warning", "instance": "db-2"},
            [("n1", {"alertname": "NodeDown", "severity": "critical", "instance": "db-1"})],
            None,
            id="equal-label-differs",
        ),
        pytest.param(
            {"alertname": "DiskSlow", "severity": "critical", "instance": "db-1"},
            [("n1", {"alertname": "NodeDown", "severity": "critical", "instance": "db-1"})],
            None,
            id="not-a-target",
        ),
        pytest.param(
            {"alertname": "DiskSlow", "severity": "warning"},
            [("n1", {"alertname": "NodeDown"})],
            "n1",
            id="missing-equal-labels-are-equal",
        ),
        pytest.param(
            {"alertname": "DiskSlow", "severity": "warning", "instance": "db-1"},
            [],
            None,
            id="no-source-firing",
        ),
    ],
)
def test_inhibition(
    labels: dict[str, str], firing: list[tuple[str, dict[str, str]]], expected: str | None
) -> None:
    assert inhibited_by([NODE_DOWN], labels, firing) == expected


def test_an_alert_matching_both_sides_inhibits_neither_itself_nor_its_like() -> None:
    both = {"alertname": "NodeDown", "severity": "warning", "instance": "db-1"}
    assert inhibited_by([NODE_DOWN], both, [("me", both)], key="me") is None
    assert inhibited_by([NODE_DOWN], both, [("twin", dict(both))], key="me") is None
    # a source that is not also a target still inhibits it
    source = {**both, "severity": "critical"}
    assert inhibited_by([NODE_DOWN], both, [("src", source)], key="me") == "src"


def test_a_long_group_key_is_cut_to_what_is_stored_and_stays_distinct() -> None:
    a = group_key({"host": "x" * 600 + "a"}, ["host"])
    b = group_key({"host": "x" * 600 + "b"}, ["host"])
    assert len(a) == len(b) == GROUP_KEY_LENGTH
    assert a.startswith('{host="xxx') and a != b


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("newest", "window", "joins"),
    [
        pytest.param(NOW - 60 * M, None, True, id="no window: the open incident takes them all"),
        pytest.param(NOW - 9 * M, 10 * M, True, id="within the window"),
        pytest.param(NOW - 10 * M, 10 * M, True, id="at the window's edge"),
        pytest.param(NOW - 11 * M, 10 * M, False, id="past the window: a new incident"),
        pytest.param(None, 10 * M, True, id="an incident with no alert yet"),
    ],
)
def test_group_windows_roll_from_the_newest_alert(
    newest: datetime | None, window: timedelta | None, joins: bool
) -> None:
    assert joins_group(newest, NOW, window) is joins


def fired(key: str, minutes_ago: float, resolved_minutes_ago: float | None = None) -> Firing:
    resolved = NOW - resolved_minutes_ago * M if resolved_minutes_ago is not None else None
    return Firing(key, NOW - minutes_ago * M, resolved)


@pytest.mark.parametrize(
    ("rule", "firings", "counted"),
    [
        pytest.param(
            OpenAfter(3, 5 * M),
            [fired("a", 1), fired("b", 2), fired("c", 0)],
            3,
            id="three alerts within the time",
        ),
        pytest.param(
            OpenAfter(3, 5 * M),
            [fired("a", 6, 5.5), fired("b", 2), fired("c", 0)],
            2,
            id="a firing older than the time does not count",
        ),
        pytest.param(
            OpenAfter(3, 5 * M),
            [fired("a", 4, 3.5), fired("a", 2, 1.5), fired("a", 0)],
            3,
            id="without a flap window every firing of one alert counts",
        ),
        pytest.param(
            OpenAfter(3, 5 * M, flap_window=2 * M),
            [fired("a", 4, 3.5), fired("a", 2, 1.5), fired("a", 0)],
            1,
            id="one alert flapping within the flap window counts once",
        ),
        pytest.param(
            OpenAfter(3, 10 * M, flap_window=2 * M),
            [fired("a", 9, 8), fired("a", 5), fired("a", 0)],
            2,
            id="firing again after more than the flap window is a new firing",
        ),
        pytest.param(
            OpenAfter(3, 10 * M, flap_window=2 * M),
            [fired("a", 9, 8), fired("a", 7, 6.5), fired("b", 1), fired("c", 0)],
            3,
            id="a flapping alert counts once among others",
        ),
        pytest.param(
            OpenAfter(2, 5 * M, flap_window=1 * M),
            [fired("a", 1), fired("a", 0)],
            1,
            id="a firing with no resolve time resolved in between: the same one",
        ),
    ],
)
def test_open_after_counts_firings(rule: OpenAfter, firings: list[Firing], counted: int) -> None:
    assert firings_counted(rule, firings, NOW) == counted
    assert firings_counted(rule, list(reversed(firings)), NOW) == counted
