"""The importers' mappings on the cases a migration gets wrong silently if it is careless: each
either keeps who is paged exactly, or says in the report what changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tocsin.core.migrate import grafana, opsgenie, pagerduty

NOW = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)


def _report(migration: Any) -> list[tuple[str, str, str, str]]:
    return [(x.kind, x.name, x.outcome, x.why) for x in migration.report]


# --- Opsgenie -----------------------------------------------------------------------------


def _og_user(uid: str) -> dict[str, Any]:
    return {"id": uid, "username": f"{uid}@acme.example", "fullName": uid, "timeZone": "UTC"}


def _og_rotation(rid: str, who: str) -> dict[str, Any]:
    return {
        "id": rid,
        "name": rid,
        "type": "weekly",
        "length": 1,
        "startDate": "2024-06-17T00:00:00Z",
        "participants": [{"type": "user", "id": who}],
    }


def test_opsgenie_rotations_that_overlap_page_everyone_on_call_in_them() -> None:
    data = {
        "users": [_og_user("alice"), _og_user("bob")],
        "schedules": [
            {
                "id": "s",
                "name": "Ops",
                "timezone": "UTC",
                "rotations": [_og_rotation("r1", "alice"), _og_rotation("r2", "bob")],
            }
        ],
        "overrides": {
            "s": [
                {
                    "user": {"id": "bob"},
                    "startDate": "2024-06-21T00:00:00Z",
                    "endDate": "2024-06-22T00:00:00Z",
                    "rotations": [{"id": "r1"}],  # bob covers alice's rotation only
                }
            ]
        },
        "escalations": [
            {
                "id": "e",
                "name": "Ops",
                "rules": [
                    {
                        "notifyType": "default",
                        "delay": {"timeAmount": 5},
                        "recipient": {"type": "schedule", "id": "s"},
                    }
                ],
            }
        ],
    }
    migration = opsgenie.convert(data, now=NOW)
    first, second = migration.config["schedules"]
    assert (first["name"], second["name"]) == ("ops-r1", "ops-r2")
    assert first["overrides"][0]["user"] == "bob" and "overrides" not in second
    [policy] = migration.config["escalation_policies"]
    assert policy["levels"] == [{"targets": ["schedule:ops-r1", "schedule:ops-r2"]}]
    assert (
        "escalation",
        "Ops",
        "changed",
        "its first rule waited 5m after the alert: Tocsin pages the first level at once",
    ) in _report(migration)


# --- Grafana OnCall -----------------------------------------------------------------------


def _shift(**fields: Any) -> dict[str, Any]:
    return {
        "id": "o",
        "name": "Shift",
        "type": "rolling_users",
        "level": 0,
        "start": "2024-06-17T09:00:00",
        "frequency": "weekly",
        "interval": 1,
        "rolling_users": [["U1"]],
        **fields,
    }


def _grafana(shift: dict[str, Any], steps: list[dict[str, Any]] | None = None) -> Any:
    data = {
        "users": [{"id": "U1", "email": "alice@acme.example", "timezone": "UTC"}],
        "teams": [{"id": "T1", "name": "Platform"}],
        "schedules": [{"id": "S", "name": "Primary", "type": "web", "time_zone": "UTC"}],
        "shifts": {"S": [shift]},
        "escalation_chains": [{"id": "C", "name": "Chain"}],
        "steps": {
            "C": steps or [{"position": 0, "type": "notify_persons", "persons_to_notify": ["U1"]}]
        },
    }
    return grafana.convert(data, now=NOW)


def _restrictions(migration: Any) -> list[tuple[Any, str, str]]:
    [layer] = migration.config["schedules"][0]["layers"]
    return [(r.get("days"), r["from"], r["to"]) for r in layer.get("restrictions", [])]


def test_grafana_a_weekly_shift_is_on_call_on_its_own_day_only() -> None:
    assert _restrictions(_grafana(_shift(duration=8 * 3600))) == [(["mon"], "09:00", "17:00")]


def test_grafana_a_shift_of_days_is_split_at_each_midnight() -> None:
    # Monday 09:00 for 4 days 8 hours: to Friday 17:00.
    migration = _grafana(_shift(duration=4 * 86400 + 8 * 3600))
    assert _restrictions(migration) == [
        (["mon"], "09:00", "00:00"),
        (["tue"], "00:00", "00:00"),
        (["wed"], "00:00", "00:00"),
        (["thu"], "00:00", "00:00"),
        (["fri"], "00:00", "17:00"),
    ]


def test_grafana_an_every_other_day_shift_says_it_is_on_call_every_day() -> None:
    migration = _grafana(_shift(frequency="daily", interval=2, duration=8 * 3600))
    [line] = [x for x in _report(migration) if x[0] == "shift"]
    assert line[2] == "changed" and "on call 8h of every 2 day(s)" in line[3]


def test_grafana_escalation_steps_by_their_documented_fields() -> None:
    steps = [
        {"position": 0, "type": "wait", "duration": 600},
        {
            "position": 1,
            "type": "notify_person_next_each_time",
            "persons_to_notify_next_each_time": ["U1"],
        },
        {"position": 2, "type": "wait", "duration": 300},
        {"position": 3, "type": "notify_team_members", "team_to_notify": "T1"},
    ]
    migration = _grafana(_shift(), steps)
    [policy] = migration.config["escalation_policies"]
    assert policy["levels"] == [
        {"targets": ["user:alice"], "delay": "5m"},
        {"targets": ["team:platform"]},
    ]
    report = _report(migration)
    assert any("a wait of 10m before anyone is notified" in line[3] for line in report)


def test_grafana_an_unknown_user_keeps_the_turn_as_a_gap() -> None:
    migration = _grafana(_shift(rolling_users=[["U1"], ["GONE"]], duration=604800))
    [layer] = migration.config["schedules"][0]["layers"]
    assert layer["participants"] == ["alice", "-"]


# --- PagerDuty ----------------------------------------------------------------------------


def _pd(layer: dict[str, Any]) -> Any:
    data = {
        "users": [
            {"id": "P1", "name": "Alice", "email": "alice@acme.example", "time_zone": "UTC"},
            {"id": "P2", "name": "Bob", "email": "bob@acme.example", "time_zone": "UTC"},
        ],
        "schedules": [
            {"id": "S", "name": "Primary", "time_zone": "UTC", "schedule_layers": [layer]}
        ],
    }
    return pagerduty.convert(data, now=NOW)


def _pd_layer(**fields: Any) -> dict[str, Any]:
    return {
        "id": "L",
        "name": "Daily",
        "rotation_virtual_start": "2024-06-01T09:00:00Z",
        "rotation_turn_length_seconds": 86400,
        "users": [{"user": {"id": "P1"}}, {"user": {"id": "P2"}}],
        **fields,
    }


def test_pagerduty_a_layer_that_starts_later_starts_at_its_first_handoff_then() -> None:
    # Turns from June 1 09:00 (alice, bob, alice...); the layer takes effect on June 25 at noon,
    # so from June 26 09:00: turn 25 after June 1's, an odd one, bob's.
    migration = _pd(_pd_layer(start="2024-06-25T12:00:00Z"))
    [layer] = migration.config["schedules"][0]["layers"]
    assert layer["start"] == "2024-06-26T09:00"
    assert layer["participants"] == ["bob", "alice"]
    [line] = [x for x in _report(migration) if x[0] == "layer"]
    assert line[2] == "changed" and "first handoff from then here (2024-06-26T09:00)" in line[3]


def test_pagerduty_a_whole_day_restriction_leaves_the_layer_unrestricted() -> None:
    restrictions = [
        {"type": "daily_restriction", "start_time_of_day": "00:00:00", "duration_seconds": 86400},
        {
            "type": "weekly_restriction",
            "start_time_of_day": "09:00:00",
            "duration_seconds": 3600,
            "start_day_of_week": 1,
        },
    ]
    migration = _pd(_pd_layer(restrictions=restrictions))
    [layer] = migration.config["schedules"][0]["layers"]
    assert "restrictions" not in layer  # on call all day, every day: Monday's hour adds nothing
