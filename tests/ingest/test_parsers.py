"""Sender formats, parsed from requests the real Alertmanager 0.25 put on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tocsin.core.alerts import AlertAction
from tocsin.errors import InvalidInput
from tocsin.ingest import alertmanager, generic, opsgenie, pagerduty

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager-0.25"


def capture(prefix: str) -> tuple[str, dict[str, str], object]:
    """Return request line, headers and decoded JSON body of a captured request."""
    path = next(CAPTURES.glob(f"{prefix}*.http"))
    head, _, body = path.read_text().partition("\n\n")
    request_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return request_line, headers, json.loads(body)


def test_webhook_group_firing() -> None:
    _, headers, body = capture("req01")
    assert headers["User-Agent"] == "Alertmanager/0.25.0"
    events = alertmanager.parse(body)
    assert [(e.action, e.dedup_key, e.summary, e.severity, e.source) for e in events] == [
        (AlertAction.TRIGGER, "081dba847b32291a", "DiskFull: disk 95%", "warning", "db-1"),
        (AlertAction.TRIGGER, "0facb163a9753c87", "DiskFull: disk 97%", "warning", "db-2"),
    ]
    assert events[0].links[0].href == "http://prom.example/g"
    assert events[1].links == ()  # an empty generatorURL is no link
    assert events[0].details["labels"]["instance"] == "db-1"
    assert events[0].occurred_at is not None and events[0].occurred_at.isoformat() == (
        "2026-11-28T20:19:07+00:00"
    )


def test_webhook_firing_group_can_carry_a_resolved_alert() -> None:
    _, _, body = capture("req05")
    assert body["status"] == "firing"  # type: ignore[index]
    events = alertmanager.parse(body)
    assert [(e.dedup_key, e.action) for e in events] == [
        ("081dba847b32291a", AlertAction.RESOLVE),
        ("0facb163a9753c87", AlertAction.TRIGGER),
    ]


def test_webhook_group_resolved() -> None:
    _, _, body = capture("req08")
    [event] = alertmanager.parse(body)
    assert (event.dedup_key, event.action) == ("0facb163a9753c87", AlertAction.RESOLVE)


def test_webhook_accepts_unknown_fields_and_another_severity_label() -> None:
    _, _, body = capture("req01")
    assert isinstance(body, dict)
    body["notification_reason"] = "repeat"
    body["routeLabels"] = {"team": "db"}
    body["alerts"][0]["labels"]["priority"] = "P1"
    events = alertmanager.parse(body, severity_label="priority")
    assert events[0].severity == "critical"
    assert events[0].raw_severity == "P1"
    assert events[1].severity == "error"  # no such label: treated as error


def test_webhook_problems_are_all_listed() -> None:
    with pytest.raises(InvalidInput) as caught:
        alertmanager.parse(
            {
                "version": "3",
                "alerts": [{"status": "burning", "labels": []}, "nope"],
            }
        )
    assert caught.value.problems == [
        "version: expected \"4\" (Alertmanager webhook payload), got '3'",
        "alerts[0].status: expected firing or resolved, got 'burning'",
        "alerts[0].fingerprint: required, a non-empty text",
        "alerts[0].labels: must be an object",
        "alerts[1]: must be an object",
    ]


@pytest.mark.parametrize(
    ("prefix", "action", "summary"),
    [
        ("req03", AlertAction.TRIGGER, "[FIRING:2] DiskFull (warning)"),
        ("req06", AlertAction.TRIGGER, "[FIRING:1] DiskFull (warning)"),
        ("req09", AlertAction.RESOLVE, ""),
    ],
)
def test_pagerduty_configs_events(prefix: str, action: AlertAction, summary: str) -> None:
    request_line, _, body = capture(prefix)
    assert request_line == "POST /v2/enqueue"
    envelope = pagerduty.parse_event(body)
    assert envelope.routing_key == "R0UTINGKEY0000000000000000000000"
    assert envelope.event.action is action
    assert envelope.event.dedup_key == (
        "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41"
    )
    assert envelope.event.summary == summary
    if action is AlertAction.TRIGGER:
        assert envelope.event.severity == "error"
        # 0.25 sends custom_details values as strings; kept as sent
        assert envelope.event.details["custom_details"]["num_firing"] in ("1", "2")


def test_pagerduty_trigger_without_a_key_gets_one() -> None:
    envelope = pagerduty.parse_event(
        {
            "routing_key": "k",
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "info"},
        }
    )
    assert len(envelope.event.dedup_key) == 32


def test_pagerduty_lists_every_problem() -> None:
    with pytest.raises(InvalidInput) as caught:
        pagerduty.parse_event(
            {
                "event_action": "trigger",
                "payload": {"summary": "x" * 1025, "severity": "fatal"},
                "links": "nope",
            }
        )
    assert caught.value.problems == [
        "'routing_key' is missing or blank",
        "Length of 'payload.summary' is incorrect (should be at most 1024 characters, got 1025)",
        "'payload.source' is missing or blank",
        "'payload.severity' must be one of critical, error, warning, info (got 'fatal')",
        "'links' must be a list of {href, text} objects",
    ]
    with pytest.raises(InvalidInput, match="'dedup_key' is required for event_action 'resolve'"):
        pagerduty.parse_event({"routing_key": "k", "event_action": "resolve"})
    with pytest.raises(InvalidInput, match="'event_action' must be one of"):
        pagerduty.parse_event({"routing_key": "k", "event_action": "snooze", "dedup_key": "d"})


def test_pagerduty_change_event() -> None:
    change = pagerduty.parse_change(
        {
            "routing_key": "k",
            "payload": {
                "summary": "Deployed v2.3.1",
                "source": "ci",
                "timestamp": "2024-06-20T10:27:00Z",
                "custom_details": {"commit": "abc"},
            },
        }
    )
    assert (change.summary, change.source, change.details) == (
        "Deployed v2.3.1",
        "ci",
        {"commit": "abc"},
    )
    assert change.timestamp is not None and change.timestamp.isoformat() == (
        "2024-06-20T10:27:00+00:00"
    )


@pytest.mark.parametrize("prefix", ["req02", "req04"])
def test_opsgenie_configs_create(prefix: str) -> None:
    request_line, headers, body = capture(prefix)
    assert request_line == "POST /v2/alerts"
    assert headers["Authorization"] == "GenieKey testkey"
    event = opsgenie.parse_create(body)
    assert event.dedup_key == "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41"
    assert event.summary.startswith("[FIRING:")
    assert (event.severity, event.raw_severity) == ("warning", "P3")  # Opsgenie's default
    assert event.source == "http://127.0.0.1:9093/#/alerts?receiver=tocsin"


def test_opsgenie_close_by_alias() -> None:
    request_line, _, _ = capture("req07")
    path, _, query = request_line.split(" ")[1].partition("?")
    assert path.endswith("/close") and query == "identifierType=alias"
    assert opsgenie.parse_identifier_type("alias") == "alias"
    with pytest.raises(InvalidInput, match="identifierType: must be id or alias"):
        opsgenie.parse_identifier_type("tiny")


def test_opsgenie_problems() -> None:
    with pytest.raises(InvalidInput) as caught:
        opsgenie.parse_create({"message": "m" * 131, "priority": "P9", "tags": "x"})
    assert caught.value.problems == [
        "message: at most 130 characters, got 131",
        "priority: must be one of P1, P2, P3, P4, P5 (got 'P9')",
        "tags: must be a list of texts",
    ]
    without_alias = opsgenie.parse_create({"message": "CPU high", "priority": "P1"})
    assert without_alias.dedup_key.startswith("message:")
    assert without_alias.severity == "critical"


def test_generic_schema() -> None:
    event = generic.parse(
        {
            "summary": "Checkout error rate 12%",
            "severity": "critical",
            "dedup_key": "checkout",
            "links": [{"href": "https://grafana/d/1", "text": "Dashboard"}],
        }
    )
    assert (event.action, event.dedup_key, event.severity) == (
        AlertAction.TRIGGER,
        "checkout",
        "critical",
    )
    with pytest.raises(InvalidInput) as caught:
        generic.parse({"action": "resolve", "severity": "loud", "colour": "red"})
    assert caught.value.problems == [
        "colour: unknown field",
        "severity: must be one of critical, error, warning, info (got 'loud')",
        "dedup_key: required for resolve",
    ]
