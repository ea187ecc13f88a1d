"""Versions of the pages' live parts: a few indexed values that change when what they show does.

Each is a part's ETag (see `tocsin.core.pagination`): a poll that brings the current one gets
304 before anything is loaded or rendered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core import pagination
from tocsin.core.incident import IncidentStatus
from tocsin.store import alerts, timeline
from tocsin.store.models import Incident, Schedule, ScheduleOverride, TimelineEvent

FIRING = 50


def dashboard(session: Session, *, now: datetime) -> str:
    """Return the version of the dashboard's live part at `now`."""
    # Every change to an incident appends to its timeline and stamps updated_at; the firing
    # alerts are compared row by row; on-call changes with the schedules and with time, which
    # the age bucket also covers. Rare edits nothing here sees (a renamed service) still show
    # within the minute, when the bucket turns.
    open_statuses = [s.value for s in IncidentStatus if s.is_open]
    row = session.execute(
        select(
            select(func.max(TimelineEvent.id)).scalar_subquery(),
            select(func.max(Incident.id)).scalar_subquery(),
            select(func.max(Incident.updated_at)).scalar_subquery(),
            select(func.max(Incident.started_at))
            .where(Incident.status.in_(open_statuses))
            .scalar_subquery(),
            select(func.max(Schedule.updated_at)).scalar_subquery(),
            select(func.count()).select_from(ScheduleOverride).scalar_subquery(),
            select(func.max(ScheduleOverride.id)).scalar_subquery(),
        )
    ).one()
    firing = alerts.firing_state(session, limit=FIRING)
    newest_alert = firing[0][3] if firing else None
    bucket = pagination.age_bucket(now, [row[3], newest_alert])
    return pagination.version("dashboard", bucket, *row, *firing)


def incident_timeline(session: Session, incident_id: int, kind: str | None) -> str:
    """Return the version of an incident's live timeline, filtered to `kind`."""
    return pagination.version(
        "timeline", incident_id, kind or "", *timeline.version(session, incident_id)
    )
