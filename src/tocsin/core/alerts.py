"""Alerts: one deduplicated signal per (integration, dedup_key), and how each is routed.

Every sender's format is turned into `AlertEvent`s (see `tocsin.ingest`); from there on all
senders are alike. Dedup follows PagerDuty's Events API semantics: a trigger for an open alert
counts a repeat and pages nobody; acknowledge or resolve of an unknown key is accepted and
ignored; a trigger after a resolve opens a new alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tocsin.core.severity import SeverityScale
from tocsin.errors import InvalidInput


class AlertAction(StrEnum):
    """What a sender says about an alert."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class AlertStatus(StrEnum):
    """Where an alert is; the values are what the database and API hold."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertSeverity(StrEnum):
    """How bad a sender says an alert is: PagerDuty's four words, which every format maps to.

    The values are what the alerts table and the API hold.
    """

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class RouteAction(StrEnum):
    """What an alert of some severity does to incidents."""

    INCIDENT = "incident"  # attach to the service's open incident, or declare one
    ATTACH = "attach"  # attach to the service's open incident if there is one
    ALERT = "alert"  # record the alert only (low urgency)


# Opsgenie priorities in PagerDuty's words.
PRIORITY_SEVERITY = {
    "P1": AlertSeverity.CRITICAL,
    "P2": AlertSeverity.ERROR,
    "P3": AlertSeverity.WARNING,
    "P4": AlertSeverity.INFO,
    "P5": AlertSeverity.INFO,
}

# The words senders use, lowercased, in PagerDuty's words.
_WORDS: dict[str, AlertSeverity] = {
    **{s.value: s for s in AlertSeverity},
    "page": AlertSeverity.CRITICAL,
    "crit": AlertSeverity.CRITICAL,
    "fatal": AlertSeverity.CRITICAL,
    "high": AlertSeverity.ERROR,
    "err": AlertSeverity.ERROR,
    "warn": AlertSeverity.WARNING,
    "medium": AlertSeverity.WARNING,
    "low": AlertSeverity.INFO,
    "informational": AlertSeverity.INFO,
    "none": AlertSeverity.INFO,
}

# The sizes of the alerts table's text columns (`store.models.Alert`): an event with a longer
# value cannot be stored, so parsers refuse it (or shorten a text that is only shown).
MAX_DEDUP_KEY = 512
MAX_RAW_SEVERITY = 100
MAX_SOURCE = 300


@dataclass(frozen=True, slots=True)
class Link:
    """A link a sender attached (a dashboard, a graph, a runbook)."""

    href: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One sender's statement about one alert, in Tocsin's words."""

    action: AlertAction
    dedup_key: str
    summary: str = ""
    severity: AlertSeverity = AlertSeverity.ERROR
    source: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    raw_severity: str = ""
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        # A caller may write the word ("critical"); from here on it is the member, and a word
        # that is not one fails here rather than being stored. Parsers use normalize_severity.
        if type(self.severity) is not AlertSeverity:
            object.__setattr__(self, "severity", AlertSeverity(self.severity))


@dataclass(frozen=True, slots=True)
class Rule:
    """Alerts whose severity is `severity` (any when None) become `sev` and do `action`.

    `severity` is a normalized word or the sender's own (`P4`, a custom label value).
    """

    action: RouteAction
    severity: str | None = None
    sev: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of routing: the incident severity and what to do."""

    action: RouteAction
    sev: str | None


# What each sender severity does when a service has no rules of its own, and where on the
# incident scale it lands: 1 is the scale's most severe level, 2 the next, and so on.
_DEFAULTS: dict[AlertSeverity, tuple[RouteAction, int | None]] = {
    AlertSeverity.CRITICAL: (RouteAction.INCIDENT, 1),
    AlertSeverity.ERROR: (RouteAction.INCIDENT, 2),
    AlertSeverity.WARNING: (RouteAction.ATTACH, 3),
    AlertSeverity.INFO: (RouteAction.ALERT, None),
}


def default_level(severity: AlertSeverity, scale: SeverityScale) -> str | None:
    """Return the incident level the default rules give `severity` on `scale` (None: none).

    They go by place, not by name, so that any scale works (SEV-1.., P1..): critical is the
    scale's first level, error its second, warning its third; a shorter scale's last level
    stands in for the levels it lacks.
    """
    place = _DEFAULTS[severity][1]
    if place is None:
        return None
    names = scale.names
    return names[min(place, len(names)) - 1]


def default_rules(scale: SeverityScale) -> tuple[Rule, ...]:
    """Return the rules of a service without its own, on the incident scale `scale`.

    Critical and error open an incident, warning attaches to an open one, info is recorded
    only. Unknown and missing sender severities are `error` (see `normalize_severity`).
    """
    return tuple(
        Rule(action, severity.value, default_level(severity, scale))
        for severity, (action, _place) in _DEFAULTS.items()
    )


def route(severity: AlertSeverity, raw_severity: str, rules: Iterable[Rule]) -> Route:
    """Return where an alert goes: the first rule matching its raw or normalized severity."""
    keys = {severity.value, raw_severity.lower()}
    for rule in rules:
        if rule.severity is None or rule.severity.lower() in keys:
            return Route(rule.action, rule.sev if rule.action is not RouteAction.ALERT else None)
    return Route(RouteAction.ALERT, None)


def normalize_severity(value: str | None) -> AlertSeverity:
    """Return a sender severity in PagerDuty's words.

    An unknown or missing one is `error`: an unclassified alert is more likely a real problem
    than noise, so it should reach a person. The sender's own word stays in `raw_severity`.
    """
    if value is None:
        return AlertSeverity.ERROR
    text = value.strip()
    priority = PRIORITY_SEVERITY.get(text.upper())
    if priority is not None:
        return priority
    return _WORDS.get(text.lower(), AlertSeverity.ERROR)


class Outcome(StrEnum):
    """What one event did to its alert."""

    OPENED = "opened"  # a new alert
    REPEATED = "repeated"  # a trigger for an open alert: count + 1
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    IGNORED = "ignored"  # ack/resolve of an unknown or already resolved alert


def decide(action: AlertAction, current: AlertStatus | None) -> Outcome:
    """Return what `action` does to an alert in status `current` (None: no open alert)."""
    if action is AlertAction.TRIGGER:
        return Outcome.OPENED if current is None else Outcome.REPEATED
    if current is None:
        return Outcome.IGNORED
    if action is AlertAction.ACKNOWLEDGE:
        return Outcome.ACKNOWLEDGED if current is AlertStatus.TRIGGERED else Outcome.IGNORED
    return Outcome.RESOLVED


def parse_rules(items: Iterable[Mapping[str, Any]], known_sevs: Iterable[str]) -> list[Rule]:
    """Return routing rules from config mappings, or raise InvalidInput listing every problem."""
    sevs = list(known_sevs)
    problems: list[str] = []
    rules: list[Rule] = []
    for i, item in enumerate(items):
        action_text = str(item.get("action", "incident")).lower()
        try:
            action = RouteAction(action_text)
        except ValueError:
            problems.append(
                f"rules[{i}].action: unknown action {action_text!r}; valid: "
                + ", ".join(RouteAction)
            )
            continue
        sev = item.get("sev")
        if action is not RouteAction.ALERT and sev is None:
            problems.append(
                f"rules[{i}].sev: an {action.value!r} rule needs a severity; valid: "
                + ", ".join(sevs)
            )
        if sev is not None and sev not in sevs:
            problems.append(f"rules[{i}].sev: unknown severity {sev!r}; valid: {', '.join(sevs)}")
        severity = item.get("severity")
        rules.append(Rule(action, str(severity) if severity is not None else None, sev))
    if problems:
        raise InvalidInput.of(problems)
    return rules
