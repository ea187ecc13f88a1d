"""Fetch what a Grafana OnCall instance holds, endpoint by endpoint (public API v1)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tocsin.importing import Source

# How far ahead `--verify` compares a schedule with Grafana OnCall's final shifts.
VERIFY_AHEAD = timedelta(weeks=8)
NUMBERED = True  # Grafana OnCall pages by `page` number, with a `next` link
# The parameters that select a list's items (its saved file names them).
SELECTORS = ("user_id", "schedule_id", "escalation_chain_id", "integration_id")


def headers(token: str) -> dict[str, str]:
    """Return the headers of Grafana OnCall's API for an API token."""
    return {"Authorization": token}


def fetch(source: Source, *, now: datetime) -> dict[str, Any]:
    """Return every object the migration reads, by endpoint."""
    users = source.pages("/api/v1/users/", "results")
    rules = {
        str(user.get("id")): source.pages(
            "/api/v1/personal_notification_rules/", "results", {"user_id": user.get("id")}
        )
        for user in users
    }
    schedules = source.pages("/api/v1/schedules/", "results")
    shifts: dict[str, Any] = {}
    finals: dict[str, Any] = {}
    window = {
        "start_date": now.date().isoformat(),
        "end_date": (now + VERIFY_AHEAD).date().isoformat(),
    }
    for schedule in schedules:
        sid = str(schedule.get("id"))
        if schedule.get("type") == "ical":
            continue
        shifts[sid] = source.pages("/api/v1/on_call_shifts/", "results", {"schedule_id": sid})
        finals[sid] = source.pages(f"/api/v1/schedules/{sid}/final_shifts", "results", window)
    chains = source.pages("/api/v1/escalation_chains/", "results")
    steps = {
        str(chain.get("id")): source.pages(
            "/api/v1/escalation_policies/", "results", {"escalation_chain_id": chain.get("id")}
        )
        for chain in chains
    }
    integrations = source.pages("/api/v1/integrations/", "results")
    routes = {
        str(item.get("id")): source.pages(
            "/api/v1/routes/", "results", {"integration_id": item.get("id")}
        )
        for item in integrations
    }
    return {
        "users": users,
        "rules": rules,
        "teams": source.pages("/api/v1/teams/", "results"),
        "schedules": schedules,
        "shifts": shifts,
        "final_shifts": finals,
        "escalation_chains": chains,
        "steps": steps,
        "integrations": integrations,
        "routes": routes,
        "webhooks": source.pages("/api/v1/webhooks/", "results"),
    }
