"""Communication templates: the seed's INCIDENT NOTIFICATION and RESOLUTION summary.

The template text is Jinja2 source handed in by the caller (the shipped defaults live in
`tocsin/templates/comms/`; a deployment may override them), so rendering stays pure.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

import jinja2

from tocsin.core.incident import IncidentStatus, IncidentView
from tocsin.core.severity import Severity

STATUS_PHRASES: dict[IncidentStatus, str] = {
    IncidentStatus.DETECTED: "Investigation ongoing",
    IncidentStatus.TRIAGING: "Investigation ongoing",
    IncidentStatus.MITIGATING: "Mitigation in progress",
    IncidentStatus.RESOLVED: "Resolved",
    IncidentStatus.POSTMORTEM: "Resolved, postmortem in progress",
    IncidentStatus.CLOSED: "Closed",
}

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # plain text for chat and email bodies; HTML pages escape on their own
)


def format_duration(delta: timedelta) -> str:
    """Return a duration the way people say it: "2 minutes", "1 hour 5 minutes"."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-" + format_duration(-delta)
    if seconds < 60:
        return _plural(seconds, "second")
    minutes, _ = divmod(seconds, 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [
        _plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n
    ]
    return " ".join(parts[:2])


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def format_utc(at: datetime) -> str:
    """Return an instant as the seed writes it: "2024-06-20 10:30 UTC"."""
    return at.strftime("%Y-%m-%d %H:%M UTC")


def time_to_detection(view: IncidentView) -> timedelta:
    """Return the time from impact starting to its detection."""
    return view.detected_at - view.started_at


def time_to_resolution(view: IncidentView) -> timedelta | None:
    """Return the time from detection to resolution (the seed's 10:30 -> 10:42 = 12 minutes)."""
    if view.resolved_at is None:
        return None
    return view.resolved_at - view.detected_at


def notification_context(view: IncidentView, severity: Severity) -> dict[str, Any]:
    """Return the values the INCIDENT NOTIFICATION template uses."""
    commander = view.commander
    return {
        "incident": view,
        "ref": view.ref,
        "severity": view.severity,
        "severity_definition": severity.definition,
        "service": ", ".join(view.services) or "(none)",
        "start_time": format_utc(view.started_at),
        "summary": view.summary or view.title,
        "impact": view.impact or "Unknown, being assessed",
        "commander": f"@{commander.handle}" if commander else "(unassigned)",
        "responders": ", ".join(
            f"@{p.handle} ({p.speciality.lower()})" if p.speciality else f"@{p.handle}"
            for p in view.responders
        )
        or "(none yet)",
        "status": STATUS_PHRASES[view.status],
        "cadence": format_duration(severity.update_cadence) if severity.update_cadence else None,
        "channel": view.channel,
    }


def resolution_context(view: IncidentView) -> dict[str, Any]:
    """Return the values the RESOLUTION summary template uses."""
    ttr = time_to_resolution(view)
    return {
        "incident": view,
        "ref": view.ref,
        "what_happened": view.summary or view.title,
        "root_cause": view.root_cause or "(not recorded yet)",
        "detection": view.detection or "(not recorded yet)",
        "resolution": view.resolution or "(not recorded yet)",
        "time_to_detection": format_duration(time_to_detection(view)),
        "time_to_resolution": format_duration(ttr) if ttr is not None else "(not resolved yet)",
    }


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> jinja2.Template:
    # Compiling is most of the cost of a render, and a deployment has a handful of templates.
    return _ENV.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    """Render Jinja2 `source` with `context`; a missing variable is an error, not a blank."""
    return _compiled(source).render(context)
