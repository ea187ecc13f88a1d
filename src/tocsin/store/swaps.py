"""Shift swaps in the database: the requests, their guarded decisions, and who may take them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from tocsin.core.schedule import GAP
from tocsin.core.swaps import SwapStatus
from tocsin.errors import NotFound
from tocsin.store.models import Schedule, ShiftSwap, TeamMember, User

# The outbox kind of the notices a swap sends (asked to teammates, accepted to the requester).
KIND = "swap"


def get(session: Session, swap_id: int) -> ShiftSwap:
    """Return swap request `swap_id`, or raise NotFound."""
    found = session.get(ShiftSwap, swap_id)
    if found is None:
        raise NotFound(f"no swap request {swap_id}")
    return found


def list_(
    session: Session,
    *,
    schedule_id: int | None = None,
    person_id: int | None = None,
    open_at: datetime | None = None,
    limit: int = 200,
) -> list[ShiftSwap]:
    """Return requests of a schedule, of a person (as requester or taker), or only those still
    open at `open_at` (their range not over), latest range first."""
    query = select(ShiftSwap)
    if schedule_id is not None:
        query = query.where(ShiftSwap.schedule_id == schedule_id)
    if person_id is not None:
        query = query.where(
            (ShiftSwap.requester_id == person_id) | (ShiftSwap.taker_id == person_id)
        )
    if open_at is not None:
        query = query.where(ShiftSwap.status == SwapStatus.OPEN, ShiftSwap.end > open_at)
    return list(
        session.scalars(query.order_by(ShiftSwap.start.desc(), ShiftSwap.id.desc()).limit(limit))
    )


def overlapping_open(
    session: Session, schedule_id: int, requester_id: int, start: datetime, end: datetime
) -> ShiftSwap | None:
    """Return an open request of the same person and schedule overlapping [start, end)."""
    return session.scalar(
        select(ShiftSwap)
        .where(
            ShiftSwap.schedule_id == schedule_id,
            ShiftSwap.requester_id == requester_id,
            ShiftSwap.status == SwapStatus.OPEN,
            ShiftSwap.start < end,
            ShiftSwap.end > start,
        )
        .limit(1)
    )


def decide(
    session: Session,
    swap_id: int,
    status: SwapStatus,
    *,
    now: datetime,
    taker_id: int | None = None,
) -> bool:
    """Move an open request to `status`; return False if it was not open any more.

    One guarded UPDATE: of two transactions deciding the same request at once, the second
    waits for the first's row lock (PostgreSQL) or write lock (SQLite), then finds the status
    changed and updates nothing. So two teammates can never both take one shift.
    """
    values: dict[str, object] = {"status": status.value, "decided_at": now}
    if taker_id is not None:
        values["taker_id"] = taker_id
    result = cast(
        CursorResult[Any],
        session.execute(
            update(ShiftSwap)
            .where(ShiftSwap.id == swap_id, ShiftSwap.status == SwapStatus.OPEN)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    won = result.rowcount == 1
    if won:
        found = session.get(ShiftSwap, swap_id)
        if found is not None:
            session.refresh(found)
    return won


def teammates(session: Session, schedule: Schedule) -> list[User]:
    """Return who may cover a shift of `schedule`: its team's members if a team owns it, else
    the people in its layers; in that order, each once."""
    if schedule.team is not None:
        members = session.scalars(
            select(User)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == schedule.team.id)
            .order_by(TeamMember.position)
        )
        return list(dict.fromkeys(members))
    handles = [
        handle for layer in schedule.layers for handle in layer.participants if handle != GAP
    ]
    found = {u.handle: u for u in session.scalars(select(User).where(User.handle.in_(handles)))}
    return [found[h] for h in dict.fromkeys(handles) if h in found]
