"""Fetch what an Opsgenie account holds, endpoint by endpoint (REST API v2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tocsin.importing import Source

# How far ahead `--verify` compares a schedule with Opsgenie's timeline of it.
VERIFY_AHEAD = timedelta(weeks=8)
_KEYED = {"API", "Prometheus", "Alertmanager", "Grafana", "Datadog", "Zabbix", "Nagios"}


def headers(token: str) -> dict[str, str]:
    """Return the headers of Opsgenie's REST API for an API key (of an API integration with
    read access, or an account API key)."""
    return {"Authorization": f"GenieKey {token}"}


def _data(answer: dict[str, Any]) -> Any:
    return answer.get("data")


def fetch(source: Source, *, now: datetime) -> dict[str, Any]:
    """Return every object the migration reads, by endpoint."""
    users = source.pages("/v2/users", "data")
    for user in users:
        uid = user.get("id")
        user["contacts"] = _data(source.get(f"/v2/users/{uid}/contacts")) or []
        rules = _data(source.get(f"/v2/users/{uid}/notification-rules")) or []
        for rule in rules:
            if isinstance(rule, dict) and rule.get("actionType") == "create-alert":
                path = f"/v2/users/{uid}/notification-rules/{rule.get('id')}/steps"
                rule["steps"] = _data(source.get(path)) or []
        user["notification_rules"] = rules
    teams = []
    for team in source.pages("/v2/teams", "data"):
        detail = _data(source.get(f"/v2/teams/{team.get('id')}"))
        teams.append(detail if isinstance(detail, dict) else team)
    schedules = source.pages("/v2/schedules", "data", {"expand": "rotation"})
    overrides: dict[str, Any] = {}
    timelines: dict[str, Any] = {}
    for schedule in schedules:
        sid = str(schedule.get("id"))
        overrides[sid] = _data(source.get(f"/v2/schedules/{sid}/overrides")) or []
        window = {"interval": 8, "intervalUnit": "weeks", "date": now.isoformat()}
        timelines[sid] = _data(source.get(f"/v2/schedules/{sid}/timeline", window)) or {}
    integrations = []
    for integration in source.pages("/v2/integrations", "data"):
        if integration.get("type") in _KEYED:
            detail = _data(source.get(f"/v2/integrations/{integration.get('id')}"))
            integration = {**integration, **(detail if isinstance(detail, dict) else {})}
        integrations.append(integration)
    beats = _data(source.get("/v2/heartbeats")) or {}
    return {
        "users": users,
        "teams": teams,
        "schedules": schedules,
        "overrides": overrides,
        "timelines": timelines,
        "escalations": source.pages("/v2/escalations", "data"),
        "integrations": integrations,
        "heartbeats": beats.get("heartbeats", []) if isinstance(beats, dict) else [],
        "maintenance": _data(source.get("/v2/maintenance", {"type": "non-expired"})) or [],
    }
