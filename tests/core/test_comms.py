"""The seed's communication templates, rendered from plain incident values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from tocsin.core.comms import (
    format_duration,
    notification_context,
    render,
    resolution_context,
)
from tocsin.core.incident import IncidentStatus, IncidentView, Participant, Role
from tocsin.core.severity import SeverityScale

T = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)


def _template(name: str) -> str:
    return (resources.files("tocsin") / "templates" / "comms" / f"{name}.txt.j2").read_text()


def seed_incident(**changes: object) -> IncidentView:
    values: dict[str, object] = {
        "number": 1,
        "title": "All requests returning 502",
        "severity": "SEV-1",
        "status": IncidentStatus.TRIAGING,
        "services": ("api-gateway",),
        "channel": "#incident-api-gateway",
        "started_at": T,
        "detected_at": T,
        "impact": "100% of users affected",
        "participants": (
            Participant("alice", "Alice", Role.COMMANDER),
            Participant("bob", "Bob", Role.RESPONDER, "Networking"),
            Participant("carol", "Carol", Role.RESPONDER, "Backend"),
        ),
    }
    values.update(changes)
    return IncidentView(**values)  # type: ignore[arg-type]


def test_notification_matches_the_seed_template() -> None:
    scale = SeverityScale()
    text = render(
        _template("notification"), notification_context(seed_incident(), scale.get("SEV-1"))
    )
    assert text == (
        "INCIDENT NOTIFICATION\n"
        "--------------------\n"
        "Severity: SEV-1\n"
        "Service: api-gateway\n"
        "Start Time: 2024-06-20 10:30 UTC\n"
        "Summary: All requests returning 502\n"
        "Impact: 100% of users affected\n"
        "IC: @alice\n"
        "Responders: @bob (networking), @carol (backend)\n"
        "Status: Investigation ongoing\n"
        "Updates: Every 15 minutes in #incident-api-gateway\n"
    )


def test_resolution_matches_the_seed_template() -> None:
    view = seed_incident(
        status=IncidentStatus.RESOLVED,
        started_at=T - timedelta(minutes=2),
        detected_at=T,
        resolved_at=T + timedelta(minutes=12),
        summary="v2.3.1 deployment included a misconfigured upstream",
        root_cause="Config change in nginx.conf removed proxy_pass directive",
        detection='Datadog alert "Gateway Error Rate > 1%" fired',
        resolution="Rolled back to v2.3.0",
    )
    assert render(_template("resolution"), resolution_context(view)) == (
        "RESOLUTION POSTMORTEM\n"
        "--------------------\n"
        "What happened: v2.3.1 deployment included a misconfigured upstream\n"
        "Root cause: Config change in nginx.conf removed proxy_pass directive\n"
        'Detection: Datadog alert "Gateway Error Rate > 1%" fired\n'
        "Resolution: Rolled back to v2.3.0\n"
        "Time to detection: 2 minutes\n"
        "Time to resolution: 12 minutes\n"
    )


def test_unresolved_incident_says_so_instead_of_inventing_a_duration() -> None:
    text = render(_template("resolution"), resolution_context(seed_incident()))
    assert "Time to resolution: (not resolved yet)" in text
    assert "Root cause: (not recorded yet)" in text


def test_no_commander_and_no_cadence_are_said_plainly() -> None:
    scale = SeverityScale()
    view = seed_incident(participants=(), severity="SEV-4")
    text = render(_template("notification"), notification_context(view, scale.get("SEV-4")))
    assert "IC: (unassigned)" in text
    assert "Responders: (none yet)" in text
    assert "Updates: In #incident-api-gateway" in text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (120, "2 minutes"),
        (720, "12 minutes"),
        (3600, "1 hour"),
        (3900, "1 hour 5 minutes"),
        (90000, "1 day 1 hour"),
        (-120, "-2 minutes"),
    ],
)
def test_durations_read_as_people_say_them(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_a_missing_template_variable_is_an_error_not_a_blank() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render("{{ nope }}", {})
