"""Alertmanager-style matchers: parsing, anchoring, missing labels, each sender's labels."""

from __future__ import annotations

import pytest

from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity
from tocsin.core.matchers import (
    MatcherError,
    Op,
    event_labels,
    matches_all,
    parse_matcher,
    parse_matchers,
)

LABELS = {"alertname": "HighLatency", "instance": "web-12", "team": "db", "env": "prod"}


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('severity="critical"', "severity", Op.EQUAL, "critical"),
        ("severity=critical", "severity", Op.EQUAL, "critical"),
        ("  team != db ", "team", Op.NOT_EQUAL, "db"),
        ('instance=~"web-[0-9]+"', "instance", Op.MATCHES, "web-[0-9]+"),
        ("env!~dev|test", "env", Op.NOT_MATCHES, "dev|test"),
        ('team=""', "team", Op.EQUAL, ""),
        ("team=", "team", Op.EQUAL, ""),
        ('msg="say \\"hi\\", then\\nleave \\\\"', "msg", Op.EQUAL, 'say "hi", then\nleave \\'),
        ('msg="a,b"', "msg", Op.EQUAL, "a,b"),
        ("job:rate=1", "job:rate", Op.EQUAL, "1"),
        ("a==b", "a", Op.EQUAL, "=b"),
        ('host=~"db\\\\.example"', "host", Op.MATCHES, "db\\.example"),
        ('tab="a\\tb\\x41\\u00e9\\101"', "tab", Op.EQUAL, "a\tbAéA"),
    ],
)
def test_a_matcher_parses_as_alertmanager_reads_it(
    text: str, name: str, op: Op, value: str
) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)
    assert parse_matcher(str(matcher)) == matcher  # its printed form reads back the same


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("severity", "is not a matcher"),
        ("=critical", "is not a matcher"),
        ("9lives=yes", "is not a matcher"),
        ("team<>db", "is not a matcher"),
        ('team="db', "closing double quote is missing"),
        ('team=d"b', "must be quoted whole"),
        ('team="d"b"', "must be escaped"),
        ('team="d\\qb"', "unknown escape"),
        ('instance=~"web-[0-9"', "bad regular expression"),
        ('instance=~"(?=web)w.*"', "lookarounds and backreferences"),
        ("instance=~(a)\\1", "lookarounds and backreferences"),
        ('instance=~"(a)\\\\1"', "lookarounds and backreferences"),
    ],
)
def test_a_bad_matcher_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=problem.replace("(", r"\(")):
        parse_matcher(text)


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ('team="db"', True),
        ('team="DB"', False),  # values are compared exactly
        ("team!=db", False),
        ("team!=web", True),
        ('instance=~"web-[0-9]+"', True),
        ('instance=~"web-1"', False),  # anchored: not a prefix match
        ('instance=~"eb-12"', False),  # anchored: not a substring match
        ('instance=~"web-1|web-12"', True),  # the alternation is anchored as a whole
        ('instance!~"web-.*"', False),
        ('env!~"dev|test"', True),
        ('region=""', True),  # a missing label is the empty string
        ('region!=""', False),
        ('region=~".*"', True),
        ('region=~".+"', False),
        ('region!~"eu-.*"', True),
        ('alertname=~"(?i)highlatency"', True),  # RE2's flags work as in Alertmanager
    ],
)
def test_matching_is_anchored_and_a_missing_label_is_empty(matcher: str, expected: bool) -> None:
    assert parse_matcher(matcher).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ('{team="db", env=~"prod|staging"}', True),
        ('team="db", env="dev"', False),
        (["team=db", 'instance=~"web-.*"'], True),
        ("{}", True),  # no matchers: every alert
        ([], True),
        ('{msg="a,b", team=db}', True),
    ],
)
def test_matcher_lists_need_every_matcher(spec: str | list[str], expected: bool) -> None:
    labels = {**LABELS, "msg": "a,b"}
    assert matches_all(parse_matchers(spec), labels) is expected


def test_every_problem_of_a_list_is_reported_at_once() -> None:
    with pytest.raises(MatcherError) as caught:
        parse_matchers('{team="db", severity, instance=~"web-[", env=prod}')
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert "'severity' is not a matcher" in lines[0]
    assert "bad regular expression" in lines[1]


def _event(severity: str = "", **details: object) -> AlertEvent:
    return AlertEvent(
        AlertAction.TRIGGER,
        "k",
        summary="Disk full",
        severity=AlertSeverity.WARNING,
        source="db-1",
        raw_severity=severity,
        details=details,
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            _event(
                "warning",
                labels={"alertname": "DiskFull", "team": "db", "severity": "warning"},
                annotations={"runbook_url": "https://r/disk", "team": "ignored"},
            ),
            {
                "severity": "warning",
                "source": "db-1",
                "summary": "Disk full",
                "alertname": "DiskFull",
                "team": "db",  # a label wins over an annotation of the same name
                "runbook_url": "https://r/disk",
            },
            id="alertmanager",
        ),
        pytest.param(
            _event(
                "warning",
                component="postgres",
                group="prod-db",
                custom_details={"cluster": "eu-1", "free_bytes": 0, "tags": ["a", "b"]},
            ),
            {
                "severity": "warning",
                "source": "db-1",
                "summary": "Disk full",
                "component": "postgres",
                "group": "prod-db",
                "cluster": "eu-1",
                "free_bytes": "0",
                "tags": '["a","b"]',  # nested values as compact JSON
            },
            id="pagerduty",
        ),
        pytest.param(
            _event(
                "P3",
                entity="db-1",
                tags=["payments", "eu"],
                details={"region": "eu-west-1", "paged": True},
            ),
            {
                "severity": "P3",
                "source": "db-1",
                "summary": "Disk full",
                "entity": "db-1",
                "region": "eu-west-1",
                "paged": "true",
                "tags": "payments,eu",
            },
            id="opsgenie",
        ),
        pytest.param(
            _event(),
            {"severity": "warning", "source": "db-1", "summary": "Disk full"},
            id="no-raw-severity",
        ),
    ],
)
def test_each_sender_offers_its_labels_to_matchers(
    event: AlertEvent, expected: dict[str, str]
) -> None:
    assert event_labels(event) == expected


def test_opsgenie_tags_are_matched_with_a_regex() -> None:
    labels = event_labels(_event("P3", tags=["payments", "eu"]))
    assert parse_matcher('tags=~"(.*,)?eu(,.*)?"').matches(labels)
    assert not parse_matcher('tags=~"(.*,)?pay(,.*)?"').matches(labels)
