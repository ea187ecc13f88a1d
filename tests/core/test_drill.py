"""The drill core: offsets, scenario validation with path-named problems, and the score card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tocsin.core import drill
from tocsin.core.severity import DEFAULT_SEVERITIES
from tocsin.errors import InvalidInput

T0 = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)
SEV1 = DEFAULT_SEVERITIES[0]
M = timedelta(minutes=1)
ALERT = {"at": "+0m", "alert": {"labels": {"alertname": "Down", "severity": "critical"}}}


def scenario(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "x",
        "title": "X",
        "service": "database",
        "severity": "SEV-1",
        "steps": [ALERT, *steps],
        **extra,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("+0m", timedelta(0), id="zero"),
        pytest.param("+15m", 15 * M, id="minutes"),
        pytest.param("+1h30m", 90 * M, id="hours-and-minutes"),
        pytest.param("90s", timedelta(seconds=90), id="no-plus"),
    ],
)
def test_offsets(text: str, expected: timedelta) -> None:
    assert drill.parse_offset(text) == expected


@pytest.mark.parametrize("text", ["soon", "-5m", "+", "", "15"])
def test_bad_offsets(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not an offset"):
        drill.parse_offset(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        pytest.param(timedelta(0), "+0s", id="zero"),
        pytest.param(15 * M, "+15m", id="minutes"),
        pytest.param(15 * M + timedelta(seconds=30), "+15m30s", id="seconds"),
        pytest.param(65 * M, "+1h5m", id="hours"),
    ],
)
def test_format_offset(delta: timedelta, text: str) -> None:
    assert drill.format_offset(delta) == text


def test_a_scenario_is_parsed_in_time_order() -> None:
    parsed = drill.parse_scenario(
        scenario(
            {"at": "+20m", "assign": {"who": "acknowledger"}},
            {"at": "+5m", "acknowledge": "level:2"},
            targets={"resolve": "45m"},
        ),
        severities=["SEV-1", "SEV-2"],
    )
    assert [(s.at, s.kind) for s in parsed.steps] == [
        (timedelta(0), drill.Kind.ALERT),
        (5 * M, drill.Kind.ACKNOWLEDGE),
        (20 * M, drill.Kind.ASSIGN),
    ]
    assert parsed.steps[1].level == 2
    assert parsed.steps[2].role == "commander"
    assert parsed.targets == {"resolve": 45 * M}
    assert parsed.length == 20 * M


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        pytest.param(
            {"title": "X"},
            [
                "name: required",
                "service: required",
                "severity: required",
                "steps: required: a list of steps, each with at: and one action",
            ],
            id="empty",
        ),
        pytest.param(
            scenario({"at": "+1m", "note": "a", "acknowledge": "level:1"}),
            [
                "steps[1]: needs exactly one action (alert, resolve_alerts, acknowledge, ignore, "
                "assign, update, status, resolve, note); found acknowledge, note"
            ],
            id="two-actions",
        ),
        pytest.param(
            scenario({"at": "+1m", "update": {"message": "m", "status": "identified"}}),
            ["steps[1].update.status: only a public update has a status-page status"],
            id="status-on-internal-update",
        ),
        pytest.param(
            scenario({"at": "+1m", "status": {"to": "fixed"}}),
            [
                "steps[1].status.to: unknown status 'fixed'; valid: triaging, mitigating "
                "(use resolve: to resolve)"
            ],
            id="unknown-status",
        ),
        pytest.param(
            scenario({"at": "+1m", "assign": {"who": "bob", "role": "boss"}}),
            [
                "steps[1].assign.who: must be level:N, acknowledger or user:HANDLE",
                "steps[1].assign.role: unknown role 'boss'; valid: commander, responder, scribe, "
                "communications, observer",
            ],
            id="bad-assign",
        ),
        pytest.param(
            scenario({"at": "+1m", "alert": {"labels": {"a": {"b": 1}}, "colour": "red"}}),
            [
                "steps[1].alert.colour: unknown key",
                "steps[1].alert.labels: must be a mapping of names to text",
                "steps[1].alert.labels.alertname: required: every Alertmanager alert has one",
            ],
            id="bad-alert",
        ),
        pytest.param(
            {**scenario(), "steps": [{"at": "+0m", "note": "hello"}]},
            ["steps: no alert fires: a drill starts with monitoring noticing something"],
            id="no-alert",
        ),
        pytest.param(
            scenario(
                {"at": "+5m", "resolve": {"message": "done"}},
                {"at": "+6m", "status": {"to": "mitigating"}},
            ),
            ["steps[2]: status comes after the incident is resolved"],
            id="after-resolve",
        ),
        pytest.param(
            scenario(severity="SEV-9", targets={"ack": "5m"}),
            [
                "severity: unknown severity 'SEV-9'; valid: SEV-1, SEV-2",
                "targets.ack: unknown target; valid: mitigate, resolve",
            ],
            id="severity-and-targets",
        ),
    ],
)
def test_every_problem_is_named_by_its_path(data: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        drill.parse_scenario(data, severities=["SEV-1", "SEV-2"])
    assert caught.value.problems == problems


def targets(**kw: timedelta | None) -> drill.Targets:
    base: dict[str, timedelta | None] = {
        "acknowledge": 5 * M,
        "commander": 5 * M,
        "first_update": 15 * M,
        "cadence": 15 * M,
        "mitigate": None,
        "resolve": 45 * M,
    }
    return drill.Targets(**{**base, **kw})


@pytest.mark.parametrize(
    ("record", "lines"),
    [
        pytest.param(
            drill.Record(
                detected_at=T0,
                acknowledged_at=T0 + 8 * M,
                commander_at=T0 + 5 * M,
                mitigated_at=T0 + 20 * M,
                resolved_at=T0 + 40 * M,
                public_updates=(T0 + 10 * M, T0 + 25 * M),
            ),
            [
                "Time to acknowledge           8m       target 5m     missed",
                "Time to assign an IC          5m       target 5m     met",
                "Time to first public update   10m      target 15m    met",
                "Time to mitigate              20m      no target",
                "Time to resolve               40m      target 45m    met",
                "Longest gap between updates   15m      target 15m    met",
            ],
            id="on-the-boundary-is-met",
        ),
        pytest.param(
            drill.Record(detected_at=T0, ended_at=T0 + 60 * M),
            [
                "Time to acknowledge           never    target 5m     missed",
                "Time to assign an IC          never    target 5m     missed",
                "Time to first public update   never    target 15m    missed",
                "Time to mitigate              never    no target",
                "Time to resolve               never    target 45m    missed",
                "Longest gap between updates   never    target 15m    missed",
            ],
            id="nothing-happened",
        ),
        pytest.param(
            drill.Record(
                detected_at=T0,
                resolved_at=T0 + 50 * M,
                public_updates=(T0 + 5 * M, T0 + 10 * M),
            ),
            [
                "Time to acknowledge           never    target 5m     missed",
                "Time to assign an IC          never    target 5m     missed",
                "Time to first public update   5m       target 15m    met",
                "Time to mitigate              never    no target",
                "Time to resolve               50m      target 45m    missed",
                "Longest gap between updates   40m      target 15m    missed",
            ],
            id="silence-until-resolution-counts",
        ),
    ],
)
def test_score_lines(record: drill.Record, lines: list[str]) -> None:
    card = drill.score(record, targets(), severity="SEV-1")
    assert [line.text() for line in card.lines] == lines


def test_went_well_and_wrong() -> None:
    record = drill.Record(
        detected_at=T0,
        acknowledged_at=T0 + 18 * M,
        commander_at=T0 + 3 * M,
        pages=(
            drill.Page(T0, "clara", 1),
            drill.Page(T0 + 15 * M, "dirk", 2),
        ),
        problems=("steps[3] (acknowledge level:3) never happened",),
        severity="SEV-2",
    )
    card = drill.score(record, targets(cadence=None), severity="SEV-1")
    assert card.went_well == (
        "Had an incident commander in 3m, within SEV-1's 5m target",
        "The first page reached clara as the incident was declared",
        "Escalation reached level 2 (dirk) at +15m",
    )
    assert card.went_wrong == (
        "Acknowledged after 18m; SEV-1's target is 5m",
        "Never told the public",
        "Never started mitigating",
        "Never resolved",
        "The level-1 page went unanswered; the policy escalated",
        "steps[3] (acknowledge level:3) never happened",
        "The alert opened a SEV-2 incident; the scenario is SEV-1: check the service's alert rules",
    )
    assert (card.met, card.judged) == (1, 4)


@pytest.mark.parametrize(
    ("choices", "well", "wrong"),
    [
        pytest.param(
            [("assign", 0), ("update", 0)],
            [
                "You took command before anything else: one person coordinates",
                "Every decision came within a minute",
            ],
            [],
            id="command-first",
        ),
        pytest.param(
            [("wait", 0), ("mitigate", 3), ("assign", 0)],
            [],
            [
                "You chose mitigate before anyone took command",
                "Mitigation began before an IC was assigned: fixes may conflict",
                "You waited 1 time while the clock ran",
                "Your slowest decision (mitigate) took 3m",
            ],
            id="fix-before-command",
        ),
    ],
)
def test_interactive_decisions(
    choices: list[tuple[str, int]], well: list[str], wrong: list[str]
) -> None:
    decisions = tuple(
        drill.Decision(T0 + i * M + minutes * M, choice, T0 + i * M)
        for i, (choice, minutes) in enumerate(choices)
    )
    record = drill.Record(detected_at=T0, pages=(drill.Page(T0, "a", 1),), decisions=decisions)
    card = drill.score(record, targets(cadence=None), severity="SEV-1")
    assert [w for w in card.went_well if "page" not in w] == well
    assert [w for w in card.went_wrong if w.startswith(("You", "Your", "Mitigation"))] == wrong


def test_targets_come_from_the_severity_and_the_scenario() -> None:
    parsed = drill.parse_scenario(scenario(targets={"mitigate": "25m"}))
    found = drill.targets_for(SEV1, parsed)
    assert found == drill.Targets(5 * M, 5 * M, 15 * M, 15 * M, 25 * M, None)
