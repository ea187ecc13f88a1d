"""An incident's timeline a page at a time, newest first, and the version of its live part."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.orm import Session

from tocsin.core import pagination
from tocsin.core.pagination import Page
from tocsin.store.models import TimelineEvent, UTCDateTime

_LIST = "timeline"


def page(
    session: Session,
    incident_id: int,
    *,
    kinds: Collection[str] | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[TimelineEvent]:
    """Return the incident's newest timeline entries (of `kinds`), and the cursor of older ones."""
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc())
        .limit(limit + 1)
    )
    if kinds is not None:
        query = query.where(TimelineEvent.kind.in_(sorted(kinds)))
    if cursor:
        at, before_id = pagination.decode(_LIST, cursor, parameter="before")
        query = query.where(tuple_(TimelineEvent.at, TimelineEvent.id) < tuple_(_at(at), before_id))
    found = list(session.scalars(query))
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1]
    return Page(found[:limit], pagination.encode(_LIST, last.at, last.id))


def version(session: Session, incident_id: int) -> tuple[int, int]:
    """Return the newest id and the count of the incident's timeline entries."""
    # The timeline is append-only: whatever a page of it shows changes only with these.
    row = session.execute(
        select(func.max(TimelineEvent.id), func.count()).where(
            TimelineEvent.incident_id == incident_id
        )
    ).one()
    return int(row[0] or 0), int(row[1])


def _at(value: datetime) -> Any:
    return literal(value, UTCDateTime())
