"""Fetch what a PagerDuty account holds, endpoint by endpoint (REST API v2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tocsin.importing import Source

# How far ahead overrides are read.
OVERRIDES_AHEAD = timedelta(days=365)


def headers(token: str) -> dict[str, str]:
    """Return the headers of PagerDuty's REST API v2 for an API token."""
    return {
        "Authorization": f"Token token={token}",
        "Accept": "application/vnd.pagerduty+json;version=2",
    }


# How far ahead `--verify` compares a schedule with PagerDuty's rendering of it.
VERIFY_AHEAD = timedelta(weeks=8)


def fetch(source: Source, *, now: datetime) -> dict[str, Any]:
    """Return every object the migration reads, by endpoint. Each schedule comes with its
    final schedule rendered for the next `VERIFY_AHEAD`, which `--verify` compares."""
    users = source.pages(
        "/users", "users", {"include[]": ["contact_methods", "notification_rules"]}
    )
    teams = source.pages("/teams", "teams")
    schedules = []
    overrides: dict[str, list[dict[str, Any]]] = {}
    for listed in source.pages("/schedules", "schedules"):
        sid = str(listed.get("id"))
        rendered = {
            "since": now.isoformat(),
            "until": (now + VERIFY_AHEAD).isoformat(),
            "time_zone": "UTC",
        }
        detail = source.get(f"/schedules/{sid}", rendered).get("schedule")
        schedules.append(detail if isinstance(detail, dict) else listed)
        window = {"since": now.isoformat(), "until": (now + OVERRIDES_AHEAD).isoformat()}
        found = source.get(f"/schedules/{sid}/overrides", window).get("overrides")
        overrides[sid] = [o for o in found or [] if isinstance(o, dict)]
    return {
        "users": users,
        "teams": teams,
        "schedules": schedules,
        "overrides": overrides,
        "escalation_policies": source.pages("/escalation_policies", "escalation_policies"),
        "services": source.pages("/services", "services", {"include[]": ["integrations"]}),
        "maintenance_windows": source.pages(
            "/maintenance_windows", "maintenance_windows", {"filter": "open"}
        ),
    }
