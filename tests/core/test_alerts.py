"""Routing alerts by sender severity: the defaults go by place on any incident scale."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tocsin.core.alerts import (
    AlertAction,
    AlertEvent,
    AlertSeverity,
    Route,
    RouteAction,
    Rule,
    default_level,
    default_rules,
    normalize_severity,
    parse_rules,
    route,
)
from tocsin.core.severity import Severity, SeverityScale
from tocsin.errors import InvalidInput


def scale(*names: str) -> SeverityScale:
    return SeverityScale(
        tuple(
            Severity(name, rank, name, timedelta(minutes=5)) for rank, name in enumerate(names, 1)
        )
    )


def routes(rules: tuple[Rule, ...]) -> dict[AlertSeverity, Route]:
    return {severity: route(severity, "", rules) for severity in AlertSeverity}


def test_the_defaults_on_the_seeded_scale() -> None:
    assert routes(default_rules(SeverityScale())) == {
        AlertSeverity.CRITICAL: Route(RouteAction.INCIDENT, "SEV-1"),
        AlertSeverity.ERROR: Route(RouteAction.INCIDENT, "SEV-2"),
        AlertSeverity.WARNING: Route(RouteAction.ATTACH, "SEV-3"),
        AlertSeverity.INFO: Route(RouteAction.ALERT, None),
    }


def test_the_defaults_go_by_place_on_a_scale_of_other_names() -> None:
    assert routes(default_rules(scale("P1", "P2", "P3", "P4", "P5"))) == {
        AlertSeverity.CRITICAL: Route(RouteAction.INCIDENT, "P1"),
        AlertSeverity.ERROR: Route(RouteAction.INCIDENT, "P2"),
        AlertSeverity.WARNING: Route(RouteAction.ATTACH, "P3"),
        AlertSeverity.INFO: Route(RouteAction.ALERT, None),
    }


def test_the_defaults_go_by_rank_order_whatever_the_ranks_are() -> None:
    levels = (
        Severity("minor", 30, "", None),
        Severity("major", 20, "", None),
        Severity("outage", 5, "", None),
    )
    assert [default_level(s, SeverityScale(levels)) for s in AlertSeverity] == [
        "outage",
        "major",
        "minor",
        None,
    ]


@pytest.mark.parametrize(
    ("names", "levels"),
    [
        pytest.param(("high", "low"), ["high", "low", "low", None], id="two-levels"),
        pytest.param(("only",), ["only", "only", "only", None], id="one-level"),
    ],
)
def test_a_short_scale_lends_its_least_severe_level(
    names: tuple[str, ...], levels: list[str | None]
) -> None:
    assert [default_level(s, scale(*names)) for s in AlertSeverity] == levels


def test_an_unknown_word_routes_as_error_and_a_rule_can_still_name_it() -> None:
    rules = default_rules(SeverityScale())
    disaster = normalize_severity("disaster")
    assert route(disaster, "disaster", rules) == Route(RouteAction.INCIDENT, "SEV-2")
    own = (Rule(RouteAction.INCIDENT, "Disaster", "SEV-1"), *rules)
    assert route(disaster, "disaster", own) == Route(RouteAction.INCIDENT, "SEV-1")


def test_rules_match_the_raw_word_or_the_normalized_one() -> None:
    rules = (
        Rule(RouteAction.INCIDENT, "P4", "SEV-4"),
        Rule(RouteAction.ATTACH, "warning", "SEV-3"),
    )
    assert route(AlertSeverity.INFO, "p4", rules) == Route(RouteAction.INCIDENT, "SEV-4")
    assert route(AlertSeverity.WARNING, "P3", rules) == Route(RouteAction.ATTACH, "SEV-3")
    assert route(AlertSeverity.CRITICAL, "P1", rules) == Route(RouteAction.ALERT, None)


def test_an_event_holds_the_member_even_when_given_the_word() -> None:
    event = AlertEvent(AlertAction.TRIGGER, "k", severity="critical")  # type: ignore[arg-type]
    assert event.severity is AlertSeverity.CRITICAL
    assert AlertEvent(AlertAction.RESOLVE, "k").severity is AlertSeverity.ERROR
    with pytest.raises(ValueError, match="'loud' is not a valid AlertSeverity"):
        AlertEvent(AlertAction.TRIGGER, "k", severity="loud")  # type: ignore[arg-type]


def test_a_rule_without_a_level_is_told_the_levels_of_the_scale_in_force() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules([{"severity": "error", "action": "attach"}], ["P1", "P2", "P3"])
    assert caught.value.problems == [
        "rules[0].sev: an 'attach' rule needs a severity; valid: P1, P2, P3"
    ]
