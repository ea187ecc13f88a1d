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


class RouteAction(StrEnum):
    """What an alert of some severity does to incidents."""

    INCIDENT = "incident"  # attach to the service's open incident, or declare one
    ATTACH = "attach"  # attach to the service's open incident if there is one
    ALERT = "alert"  # record the alert only (low urgency)


# The sender severities every format is normalized to (PagerDuty's four).
SEVERITIES = ("critical", "error", "warning", "info")

# Opsgenie priorities in PagerDuty's words.
PRIORITY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}

# The sizes of the alerts table's text columns (`store.models.Alert`): an event with a longer
# value cannot be stored, so parsers refuse it (or shorten a text that is only shown).
MAX_DEDUP_KEY = 512
MAX_SEVERITY = 40
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
    severity: str = "error"
    source: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Link, ...] = ()
    raw_severity: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """Alerts whose severity is `severity` (any when None) become `sev` and do `action`."""

    action: RouteAction
    severity: str | None = None
    sev: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of routing: the incident severity and what to do."""

    action: RouteAction
    sev: str | None


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(RouteAction.INCIDENT, "critical", "SEV-1"),
    Rule(RouteAction.INCIDENT, "error", "SEV-2"),
    Rule(RouteAction.ATTACH, "warning", "SEV-3"),
    Rule(RouteAction.ALERT, "info", None),
    # Anything else (an unknown label value, a missing one) is treated like `error`: an
    # unclassified alert is more likely a real problem than noise, so it should reach a person.
    Rule(RouteAction.INCIDENT, None, "SEV-2"),
)


def route(severity: str, raw_severity: str, rules: Iterable[Rule]) -> Route:
    """Return where an alert goes: the first rule matching its raw or normalized severity."""
    keys = {severity.lower(), raw_severity.lower()}
    for rule in rules:
        if rule.severity is None or rule.severity.lower() in keys:
            return Route(rule.action, rule.sev if rule.action is not RouteAction.ALERT else None)
    return Route(RouteAction.ALERT, None)


def normalize_severity(value: str | None) -> str:
    """Return a sender severity in PagerDuty's words, passing unknown ones through lowercased."""
    if value is None:
        return "error"
    text = value.strip()
    if text.upper() in PRIORITY_SEVERITY:
        return PRIORITY_SEVERITY[text.upper()]
    lowered = text.lower()
    aliases = {
        "page": "critical",
        "crit": "critical",
        "fatal": "critical",
        "high": "error",
        "err": "error",
        "warn": "warning",
        "medium": "warning",
        "low": "info",
        "informational": "info",
        "none": "info",
    }
    return aliases.get(lowered, lowered or "error")


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
            problems.append(f"rules[{i}].sev: an {action.value!r} rule needs a severity like SEV-2")
        if sev is not None and sev not in sevs:
            problems.append(f"rules[{i}].sev: unknown severity {sev!r}; valid: {', '.join(sevs)}")
        severity = item.get("severity")
        rules.append(Rule(action, str(severity) if severity is not None else None, sev))
    if problems:
        raise InvalidInput.of(problems)
    return rules
