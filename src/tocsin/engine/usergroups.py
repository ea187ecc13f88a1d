"""On-call Slack user groups: a schedule that names one keeps its members on call.

At each shift boundary of such a schedule (its `slack_sync_at`, the engine's due work, not a
polling loop) the people on call are looked up, and if they changed, an outbox row asks the
Slack app to make them the group's members (`usergroups.users.update`): durable and retried
like a page. People without a linked Slack account cannot be members, and are left out; a gap
with nobody on call leaves the group as it was, since Slack keeps no group empty.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core import schedule as sched
from tocsin.engine.work import announce_work
from tocsin.store import links, schedules
from tocsin.store.models import Notification, Schedule
from tocsin.store.notifications import NotificationStatus

# How far ahead the next boundary is looked for; with none in it, look again then.
LOOKAHEAD = timedelta(days=35)


def update_all(session: Session, *, now: datetime) -> int:
    """Bring every due user group to the schedule's on-call; return how many were looked at."""
    rows = session.scalars(
        select(Schedule)
        .where(Schedule.slack_user_group.is_not(None), Schedule.slack_sync_at <= now)
        .order_by(Schedule.id)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        core = schedules.to_core(row)
        on_call = sched.on_call(core, now)
        members = sorted(links.linked_accounts(session, "slack", on_call).values())
        if members and members != (row.slack_members or []):
            key = hashlib.sha256(f"usergroup|{row.id}|{now.isoformat()}".encode()).hexdigest()
            session.add(
                Notification(
                    idempotency_key=key[:40],
                    incident_id=None,
                    user_id=None,
                    contact_method_id=None,
                    kind="usergroup",
                    status=NotificationStatus.PENDING,
                    due_at=now,
                    attempts=0,
                    message={
                        "subject": f"On call in {row.name}: {', '.join(on_call)}",
                        "text": "",
                        "severity": "",
                        "usergroup": row.slack_user_group,
                        "members": members,
                    },
                    created_at=now,
                )
            )
            row.slack_members = members
            announce_work(session)
        ahead = [s.end for s in sched.final_shifts(core, now, now + LOOKAHEAD) if s.end > now]
        row.slack_sync_at = min(ahead) if ahead else now + LOOKAHEAD
    session.flush()
    return len(rows)


def next_due(session: Session) -> datetime | None:
    """Return when the next user group falls due (its schedule's next shift boundary)."""
    return session.scalar(
        select(func.min(Schedule.slack_sync_at)).where(Schedule.slack_user_group.is_not(None))
    )
