"""The deployment's severity scale, kept in the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from tocsin.core.severity import Severity, SeverityScale
from tocsin.store.models import SeverityLevel


def _to_core(row: SeverityLevel) -> Severity:
    return Severity(
        name=row.name,
        rank=row.rank,
        definition=row.definition,
        example=row.example,
        response_time=timedelta(seconds=row.response_seconds)
        if row.response_seconds is not None
        else None,
        update_cadence=timedelta(seconds=row.update_cadence_seconds)
        if row.update_cadence_seconds is not None
        else None,
        business_hours=row.business_hours,
        notify_executives=row.notify_executives,
    )


# The scale read in this session's transaction, kept until it ends: creating one incident asks
# for it eight times (levels, cadences, reminders, messages), and it changes only by `apply`.
_KEPT = "tocsin.severity_scale"


def scale(session: Session) -> SeverityScale:
    """Return the severity scale in force (read once per transaction)."""
    kept = session.info.get(_KEPT)
    if isinstance(kept, SeverityScale):
        return kept
    rows = session.scalars(select(SeverityLevel).order_by(SeverityLevel.rank)).all()
    found = SeverityScale(tuple(_to_core(row) for row in rows))
    if session.in_transaction():
        session.info[_KEPT] = found
    return found


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction: a savepoint's end keeps what its transaction read.
    if transaction.parent is None:
        session.info.pop(_KEPT, None)


def replace_all(session: Session, levels: list[Severity]) -> list[str]:
    """Make the stored scale exactly `levels`; return "create/update/delete NAME" lines."""
    wanted = SeverityScale(tuple(levels)).levels  # validates and orders
    current = {level.name: level for level in scale(session).levels}
    changes = [
        f"delete severity {name}" for name in current if name not in {w.name for w in wanted}
    ]
    for level in wanted:
        if level.name not in current:
            changes.append(f"create severity {level.name}")
        elif current[level.name] != level:
            changes.append(f"update severity {level.name}")
    if changes:
        session.info.pop(_KEPT, None)
        # Ranks are unique, so rewrite the whole (small) table rather than shuffle rows.
        for row in session.scalars(select(SeverityLevel)):
            session.delete(row)  # one by one, so the audit log sees each
        session.flush()
        session.add_all(_to_row(level) for level in wanted)
        session.flush()
    return changes


def _to_row(level: Severity) -> SeverityLevel:
    return SeverityLevel(
        name=level.name,
        rank=level.rank,
        definition=level.definition,
        example=level.example,
        response_seconds=_seconds(level.response_time),
        update_cadence_seconds=_seconds(level.update_cadence),
        business_hours=level.business_hours,
        notify_executives=level.notify_executives,
    )


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())
