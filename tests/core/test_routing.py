"""Label routing as Alertmanager users expect: first match, continue, drop, groups, inhibition."""

from __future__ import annotations

import pytest

from tocsin.core.matchers import parse_matchers
from tocsin.core.routing import InhibitRule, Routed, RouteRule, group_key, inhibited_by, route


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
