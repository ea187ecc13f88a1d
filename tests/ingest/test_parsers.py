"""Sender formats, parsed from requests the real Alertmanager 0.25 put on the wire."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core.alerts import (
    MAX_DEDUP_KEY,
    MAX_RAW_SEVERITY,
    MAX_SOURCE,
    AlertAction,
    AlertSeverity,
    normalize_severity,
)
from tocsin.errors import InvalidInput
from tocsin.ingest import alertmanager, decode, generic, opsgenie, pagerduty
from tocsin.store.models import Alert

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
    events = alertmanager.with_severity_label(alertmanager.parse(body), "priority")
    assert events[0].severity == "critical"
    assert events[0].raw_severity == "P1"
    assert events[1].severity == "error"  # no such label: treated as error


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("critical", AlertSeverity.CRITICAL),
        ("Warning", AlertSeverity.WARNING),
        (" info ", AlertSeverity.INFO),
        ("P1", AlertSeverity.CRITICAL),
        ("p2", AlertSeverity.ERROR),
        ("P5", AlertSeverity.INFO),
        ("page", AlertSeverity.CRITICAL),
        ("warn", AlertSeverity.WARNING),
        ("informational", AlertSeverity.INFO),
        ("disaster", AlertSeverity.ERROR),
        ("", AlertSeverity.ERROR),
        (None, AlertSeverity.ERROR),
    ],
)
def test_every_severity_word_becomes_one_of_the_four(
    word: str | None, severity: AlertSeverity
) -> None:
    assert normalize_severity(word) is severity


def test_an_unknown_label_value_is_an_error_and_the_word_is_kept() -> None:
    long = "x" * MAX_RAW_SEVERITY  # longer than any of the four: it used to be refused
    alerts = [
        '{"status": "firing", "fingerprint": "f", "labels": {"severity": "Disaster"}}',
        f'{{"status": "firing", "fingerprint": "g", "labels": {{"severity": "{long}"}}}}',
        '{"status": "firing", "fingerprint": "h", "labels": {"severity": "PAGE"}}',
    ]
    events = alertmanager.parse(_alertmanager(", ".join(alerts)))
    assert [(e.severity, e.raw_severity) for e in events] == [
        (AlertSeverity.ERROR, "Disaster"),
        (AlertSeverity.ERROR, long),
        (AlertSeverity.CRITICAL, "PAGE"),
    ]
    assert all(type(e.severity) is AlertSeverity for e in events)


def test_every_parser_gives_the_typed_severity() -> None:
    pd = pagerduty.parse_event(
        {
            "routing_key": "k",
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "warning"},
        }
    ).event
    pd_resolve = pagerduty.parse_event(
        {"routing_key": "k", "event_action": "resolve", "dedup_key": "d"}
    ).event
    og = opsgenie.parse_create({"message": "CPU high", "priority": "p4"})
    gen = generic.parse({"summary": "s", "severity": "CRITICAL"})
    gen_default = generic.parse({"summary": "s"})
    assert [(e.severity, e.raw_severity) for e in (pd, pd_resolve, og, gen, gen_default)] == [
        (AlertSeverity.WARNING, "warning"),
        (AlertSeverity.ERROR, ""),
        (AlertSeverity.INFO, "P4"),
        (AlertSeverity.CRITICAL, "critical"),
        (AlertSeverity.ERROR, "error"),
    ]
    assert all(type(e.severity) is AlertSeverity for e in (pd, pd_resolve, og, gen, gen_default))


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


# --- values the database cannot store: refused at parse time, naming the field ---------------

NUL = "contains a NUL character (\\u0000), which cannot be stored"
SURROGATE = "contains a lone surrogate (\\ud800)"


def wire(text: str) -> object:
    """Return `text` decoded as the server decodes a body (escapes like \\u0000 included)."""
    return json.loads(text)


def _alertmanager(alert: str) -> object:
    return wire(f'{{"version": "4", "status": "firing", "alerts": [{alert}]}}')


def _problems(parse: object, body: object) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse(body)  # type: ignore[operator]
    return caught.value.problems


FIRING = '"status": "firing", "fingerprint": "f1"'


@pytest.mark.parametrize(
    ("parse", "body", "problem"),
    [
        pytest.param(
            generic.parse,
            {"summary": "s", "dedup_key": "k" * 513},
            "dedup_key: at most 512 characters (got 513)",
            id="generic-dedup-key-too-long",
        ),
        pytest.param(
            generic.parse,
            wire('{"summary": "disk\\u0000full"}'),
            f"summary: {NUL}",
            id="generic-nul-in-summary",
        ),
        pytest.param(
            generic.parse,
            wire('{"summary": "s", "dedup_key": "\\ud800"}'),
            f"dedup_key: {SURROGATE}",
            id="generic-surrogate-in-dedup-key",
        ),
        pytest.param(
            generic.parse,
            wire('{"summary": "s", "details": {"hosts": ["a", "b\\u0000"]}}'),
            f"details.hosts[1]: {NUL}",
            id="generic-nul-deep-in-details",
        ),
        pytest.param(
            generic.parse,
            wire('{"summary": "s", "details": {"bad\\udfffkey": 1}}'),
            'details["bad\\udfffkey"]: the key contains a lone surrogate (\\udfff)',
            id="generic-surrogate-in-a-key",
        ),
        pytest.param(
            generic.parse,
            wire('{"summary": "s", "details": {"ratio": NaN}}'),
            "details.ratio: nan is not a finite number (JSON has no NaN)",
            id="generic-nan",
        ),
        pytest.param(
            generic.parse,
            wire('{"summary": "s", "details": ' + "[" * 70 + "]" * 70 + "}"),
            "details" + "[0]" * 63 + ": nested deeper than 64 levels",
            id="generic-too-deep",
        ),
        pytest.param(
            alertmanager.parse,
            _alertmanager(f'{{"status": "firing", "fingerprint": "{"f" * 513}"}}'),
            "alerts[0].fingerprint: at most 512 characters (got 513)",
            id="alertmanager-fingerprint-too-long",
        ),
        pytest.param(
            alertmanager.parse,
            _alertmanager(f'{{{FIRING}, "labels": {{"job": "api\\u0000"}}}}'),
            f"alerts[0].labels.job: {NUL}",
            id="alertmanager-nul-in-a-label",
        ),
        pytest.param(
            alertmanager.parse,
            _alertmanager(f'{{{FIRING}, "annotations": {{"summary": "\\ud800"}}}}'),
            f"alerts[0].annotations.summary: {SURROGATE}",
            id="alertmanager-surrogate-in-an-annotation",
        ),
        pytest.param(
            alertmanager.parse,
            _alertmanager(f'{{{FIRING}, "generatorURL": "http://x/\\u0000"}}'),
            f"alerts[0].generatorURL: {NUL}",
            id="alertmanager-nul-in-the-generator-url",
        ),
        pytest.param(
            pagerduty.parse_event,
            wire(
                '{"routing_key": "k", "event_action": "trigger", "payload": {"summary": '
                '"s\\u0000", "source": "h", "severity": "info"}}'
            ),
            f"'payload.summary' {NUL}",
            id="pagerduty-nul-in-summary",
        ),
        pytest.param(
            pagerduty.parse_event,
            wire(
                '{"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s", '
                '"source": "h", "severity": "info", "custom_details": {"x": ["\\ud800"]}}}'
            ),
            f"'payload.custom_details.x[0]' {SURROGATE}",
            id="pagerduty-surrogate-in-custom-details",
        ),
        pytest.param(
            pagerduty.parse_event,
            wire('{"routing_key": "k\\u0000", "event_action": "resolve", "dedup_key": "d"}'),
            f"'routing_key' {NUL}",
            id="pagerduty-nul-in-routing-key",
        ),
        pytest.param(
            pagerduty.parse_change,
            wire('{"routing_key": "k", "payload": {"summary": "deployed \\ud800"}}'),
            f"'payload.summary' {SURROGATE}",
            id="pagerduty-change-surrogate",
        ),
        pytest.param(
            opsgenie.parse_create,
            wire('{"message": "CPU\\u0000"}'),
            f"message: {NUL}",
            id="opsgenie-nul-in-message",
        ),
        pytest.param(
            opsgenie.parse_create,
            wire('{"message": "CPU", "details": {"host": "\\ud800"}}'),
            f"details.host: {SURROGATE}",
            id="opsgenie-surrogate-in-details",
        ),
        pytest.param(
            opsgenie.parse_create,
            {"message": "CPU", "alias": "a" * 513},
            "alias: at most 512 characters",
            id="opsgenie-alias-too-long",
        ),
    ],
)
def test_values_the_database_cannot_store_are_refused(
    parse: object, body: object, problem: str
) -> None:
    problems = _problems(parse, body)
    assert any(p.startswith(problem) for p in problems), problems


def test_every_unstorable_value_is_listed_at_once() -> None:
    body = wire(
        '{"summary": "a\\u0000", "source": "\\ud800", "dedup_key": "'
        + "k" * 600
        + '", "details": {"n\\u0000": "v"}}'
    )
    assert _problems(generic.parse, body) == [
        f"summary: {NUL}",
        f"source: {SURROGATE}, which is not a Unicode character; encode text as UTF-8 or use a "
        "surrogate pair",
        f'details["n\\u0000"]: the key {NUL}',
        "dedup_key: at most 512 characters (got 600)",
    ]


def test_a_surrogate_pair_is_one_character_and_is_kept() -> None:
    event = generic.parse(wire('{"summary": "fire \\ud83d\\udd25", "dedup_key": "k"}'))
    assert event.summary == "fire \N{FIRE}"


def test_only_the_label_the_service_reads_must_fit_the_severity_column() -> None:
    body = _alertmanager(f'{{{FIRING}, "labels": {{"severity": "{"x" * 101}", "priority": "p1"}}}}')
    [event] = alertmanager.parse(body)  # the parser does not know which label is read
    with pytest.raises(InvalidInput) as caught:
        alertmanager.with_severity_label([event], "severity")
    assert caught.value.problems == [
        "alerts[0].labels.severity: a severity of at most 100 characters (got 101)"
    ]
    # A service reading `priority` takes the alert, whatever its `severity` label holds.
    [read] = alertmanager.with_severity_label([event], "priority")
    assert (read.severity, read.raw_severity) == ("critical", "p1")


def test_another_severity_label_too_long_for_the_column() -> None:
    [event] = alertmanager.parse(_alertmanager(f'{{{FIRING}, "labels": {{"priority": "p1"}}}}'))
    assert alertmanager.with_severity_label([event], "priority")[0].severity == "critical"
    long = replace(event, details={"labels": {"priority": "p" * 101}})
    with pytest.raises(InvalidInput) as caught:
        alertmanager.with_severity_label([long], "priority")
    assert caught.value.problems == [
        "alerts[0].labels.priority: a severity of at most 100 characters (got 101)"
    ]


def test_opsgenie_identifiers_the_database_cannot_store() -> None:
    assert opsgenie.close_or_ack(AlertAction.RESOLVE, "a" * 512).dedup_key == "a" * 512
    with pytest.raises(InvalidInput, match=r"identifier: at most 512 characters \(got 513\)"):
        opsgenie.close_or_ack(AlertAction.RESOLVE, "a" * 513)
    with pytest.raises(InvalidInput, match="identifier: contains a NUL character"):
        opsgenie.close_or_ack(AlertAction.ACKNOWLEDGE, "a\x00b")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param(b"[" * 10_000 + b"]" * 10_000, "nested deeper than 64 levels", id="deep"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", "malformed JSON body", id="huge-integer"),
        pytest.param(b'{"a": 1', "malformed JSON body", id="truncated"),
        pytest.param(b"\xff\xfe", "malformed JSON body", id="not-utf-8"),
    ],
)
def test_bodies_that_cannot_be_decoded(raw: bytes, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        decode(raw)


def test_limits_are_the_alerts_table_columns() -> None:
    columns = Alert.__table__.c  # type: ignore[attr-defined]
    assert columns.dedup_key.type.length == MAX_DEDUP_KEY
    assert max(len(s.value) for s in AlertSeverity) <= columns.severity.type.length
    assert columns.raw_severity.type.length == MAX_RAW_SEVERITY
    assert columns.source.type.length == MAX_SOURCE
    assert opsgenie.MAX_ALIAS <= MAX_DEDUP_KEY


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_a_body_decodes_to_what_the_standard_json_module_reads(value: object, ascii: bool) -> None:
    # The fast decoder must not change one value: not an integer past 64 bits, not a float's
    # last digit, not a character escaped or not.
    raw = json.dumps(value, ensure_ascii=ascii).encode()
    assert decode(raw) == json.loads(raw)
    assert json.dumps(decode(raw)) == json.dumps(json.loads(raw))
