"""Each incident's escalation: started, stopped, restarted and stepped on time by the engine.

Every decision to notify writes its outbox rows in the same transaction as the decision (the
escalation step, the acknowledgement, the resolve), so a crash can lose neither: either the step
and its notifications are committed together, or neither is and the step is still due.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tocsin.core import escalation as core
from tocsin.core import paging
from tocsin.core import schedule as sched
from tocsin.core.incident import EventKind
from tocsin.engine import channels
from tocsin.engine.messages import message_for
from tocsin.engine.work import announce_work
from tocsin.errors import NotFound
from tocsin.store import contacts, schedules, severities, teams, users, webhooks
from tocsin.store.models import (
    Escalation,
    EscalationPolicy,
    Incident,
    Notification,
    TimelineEvent,
    Webhook,
)
from tocsin.store.notifications import NotificationStatus, paged_users
from tocsin.store.policies import escalation_of, get_policy, policy_for, to_core

log = logging.getLogger("tocsin.engine")

# The actor of the engine's own timeline entries.
ENGINE = "tocsin"


def on_call_lookup(session: Session) -> core.OnCall:
    """Return an on-call function over the stored schedules (each loaded once)."""
    cache: dict[str, sched.Schedule | None] = {}

    def lookup(name: str, at: datetime) -> tuple[str, ...]:
        if name not in cache:
            row = schedules.find(session, name)
            cache[name] = schedules.to_core(row) if row is not None else None
        schedule = cache[name]
        return sched.on_call(schedule, at) if schedule is not None else ()

    return lookup


def team_lookup(session: Session) -> core.Teams:
    """Return a team function over the stored teams (each loaded once): their members in
    order, and the schedule that answers for the team if it has one."""
    cache: dict[str, core.TeamRoster | None] = {}

    def lookup(slug: str) -> core.TeamRoster | None:
        if slug not in cache:
            row = teams.find(session, slug)
            cache[slug] = (
                core.TeamRoster(tuple(teams.member_handles(row)), teams.schedule_name(row))
                if row is not None
                else None
            )
        return cache[slug]

    return lookup


# --- one incident's escalation ------------------------------------------------------------


def _state(row: Escalation) -> core.State:
    return core.State(
        row.level, row.loop, row.next_at, row.acknowledged, row.resolved, frozenset(row.paged)
    )


def _store(row: Escalation, state: core.State, now: datetime) -> None:
    row.level, row.loop, row.next_at = state.level, state.loop, state.next_at
    row.acknowledged, row.resolved = state.acknowledged, state.resolved
    row.paged = sorted(state.paged)
    row.updated_at = now


def start(
    session: Session, incident: Incident, *, now: datetime, policy: str | None = None
) -> bool:
    """Start the escalation of a new incident if its service has a policy; page level 1 now.

    `policy` names another policy to run (a label route chose it); one that no longer exists
    falls back to the service's, so the incident still pages.
    """
    found = None
    if policy:
        try:
            found = get_policy(session, policy)
        except NotFound:
            log.error("policy %r of a route no longer exists; using the service's", policy)
    found = found or policy_for(session, incident)
    if found is None:
        return False
    row = Escalation(
        incident_id=incident.id,
        policy_id=found.id,
        level=-1,
        loop=0,
        next_at=None,
        acknowledged=False,
        resolved=False,
        paged=[],
        updated_at=now,
    )
    session.add(row)
    announce_work(session)  # level 2 is now due at some time: the engines must know
    state, actions = core.start(to_core(found), now, on_call_lookup(session), team_lookup(session))
    _store(row, state, now)
    perform(session, incident, actions, now=now)
    session.flush()
    return True


def acknowledged(session: Session, incident: Incident, *, now: datetime) -> bool:
    """Stop the incident's escalation and withdraw every page not yet sent.

    Return True if this stopped a running escalation (False: none, or already acknowledged).
    A service with an ack timeout gets its escalation back if the incident is still open when
    the timeout runs out.
    """
    row = escalation_of(session, incident)
    _cancel_pages(session, incident, now)
    if row is None:
        return False
    if row.acknowledged:
        return False
    _store(row, core.acknowledge(_state(row)), now)
    timeout = _ack_timeout(session, incident)
    row.ack_expires_at = now + timeout if timeout else None
    return True


def _ack_timeout(session: Session, incident: Incident) -> timedelta | None:
    for link in incident.services:
        seconds = link.service.ack_timeout_seconds
        if seconds:
            return timedelta(seconds=seconds)
    return None


def unacknowledged(session: Session, incident: Incident, *, now: datetime) -> None:
    """Restart the incident's escalation from level 1."""
    row = escalation_of(session, incident)
    if row is None or row.policy_id is None:
        return
    policy = session.get(EscalationPolicy, row.policy_id)
    assert policy is not None
    state, actions = core.unacknowledge(
        to_core(policy), _state(row), now, on_call_lookup(session), team_lookup(session)
    )
    _store(row, state, now)
    row.ack_expires_at = None
    perform(session, incident, actions, now=now)


def escalate_now(session: Session, incident: Incident, *, now: datetime) -> bool:
    """Make the next level of a running escalation due now; return False if none is waiting."""
    row = escalation_of(session, incident)
    if row is None or row.acknowledged or row.resolved or row.next_at is None:
        return False
    row.next_at = min(row.next_at, now)
    announce_work(session)
    return True


def resolved(session: Session, incident: Incident, *, now: datetime) -> None:
    """Stop the escalation and tell everyone already paged."""
    row = escalation_of(session, incident)
    _cancel_pages(session, incident, now)
    if row is None:
        return
    state, actions = core.resolve(_state(row))
    _store(row, state, now)
    # The core's "paged" means the escalation chose to page them; someone whose pages were all
    # withdrawn or failed never heard of the incident and must not hear that it is resolved.
    # A page being sent right now may still reach its user: the notice waits for it, and the
    # sender drops the notice if the page is withdrawn after all (see paged_users).
    reached = paged_users(session, incident.id, in_flight=True)
    told: list[core.Action] = []
    for action in actions:
        users = tuple(user for user in action.users if user in reached)
        if users:
            told.append(core.NotifyResolved(users))
    perform(session, incident, told, now=now)


def _cancel_pages(session: Session, incident: Incident, now: datetime) -> None:
    # Pending pages of an acknowledged incident must never go out; ones being sent right now
    # are past saving, and say so on the timeline when they finish.
    session.execute(
        update(Notification)
        .where(
            Notification.incident_id == incident.id,
            Notification.kind == "page",
            Notification.status == NotificationStatus.PENDING,
        )
        .values(status=NotificationStatus.CANCELLED, last_error="acknowledged before sending")
        .execution_options(synchronize_session=False)
    )


def update_all(session: Session, *, now: datetime, limit: int = 100) -> int:
    """Fire every escalation step due at `now`; return how many fired.

    Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so engines on several nodes
    share the work without firing a step twice; SQLite has one writer at a time anyway.
    """
    rows = session.scalars(
        select(Escalation)
        .where(
            Escalation.next_at <= now,
            Escalation.acknowledged.is_(False),
            Escalation.resolved.is_(False),
        )
        .order_by(Escalation.next_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    lookup, team = on_call_lookup(session), team_lookup(session)
    expired = session.scalars(
        select(Escalation)
        .where(
            Escalation.ack_expires_at <= now,
            Escalation.acknowledged.is_(True),
            Escalation.resolved.is_(False),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in expired:
        incident = session.get(Incident, row.incident_id)
        if incident is None:
            row.ack_expires_at = None
            continue
        timeline(
            session,
            incident,
            now,
            EventKind.ESCALATION,
            "Acknowledgement timed out; escalation restarts",
            {},
        )
        unacknowledged(session, incident, now=now)
    for row in rows:
        incident = session.get(Incident, row.incident_id)
        policy = session.get(EscalationPolicy, row.policy_id) if row.policy_id else None
        if incident is None or policy is None:
            row.next_at = None
            continue
        state, actions = core.due(to_core(policy), _state(row), now, lookup, team)
        _store(row, state, now)
        perform(session, incident, actions, now=now)
    session.flush()
    return len(rows)


def next_due(session: Session) -> datetime | None:
    """Return when the next escalation step or acknowledgement timeout falls due."""
    step = session.scalar(
        select(func.min(Escalation.next_at)).where(
            Escalation.acknowledged.is_(False), Escalation.resolved.is_(False)
        )
    )
    expiry = session.scalar(
        select(func.min(Escalation.ack_expires_at)).where(Escalation.resolved.is_(False))
    )
    found = [t for t in (step, expiry) if t is not None]
    return min(found) if found else None


# --- actions: timeline entries and outbox rows ---------------------------------------------


def perform(
    session: Session,
    incident: Incident,
    actions: list[core.Action],
    *,
    now: datetime,
) -> None:
    """Write the timeline entries and outbox rows the core's actions call for."""
    if any(isinstance(action, core.Page) and action.users for action in actions):
        channels.changed(session, incident, now=now)  # whoever is paged joins the channel
    for action in actions:
        if isinstance(action, core.Page):
            for handle in action.users:
                queued = enqueue(
                    session,
                    incident,
                    handle,
                    kind="page",
                    now=now,
                    step=f"{action.level}.{action.loop}",
                )
                how = ", ".join(queued) if queued else "no contact method"
                timeline(
                    session,
                    incident,
                    now,
                    EventKind.NOTIFIED,
                    f"Paging {handle} ({action.reason}) via {how}",
                    {"user": handle, "level": action.level, "loop": action.loop},
                )
            for name in action.webhooks:
                _call_webhook(session, incident, name, action, now=now)
        elif isinstance(action, core.Skip):
            timeline(
                session,
                incident,
                now,
                EventKind.ESCALATION,
                f"Skipped {action.reason}",
                {"level": action.level, "loop": action.loop},
            )
        elif isinstance(action, core.Exhausted):
            timeline(session, incident, now, EventKind.ESCALATION, action.reason, {})
        else:
            for handle in action.users:
                enqueue(session, incident, handle, kind="resolved", now=now, step="resolved")
            timeline(
                session,
                incident,
                now,
                EventKind.NOTIFIED,
                f"Telling {', '.join(action.users)} the incident is resolved",
                {"users": list(action.users)},
            )


def timeline(
    session: Session,
    incident: Incident,
    at: datetime,
    kind: EventKind,
    message: str,
    data: dict[str, Any],
) -> None:
    """Add an engine entry to the incident's timeline."""
    session.add(
        TimelineEvent(
            incident_id=incident.id,
            at=at,
            actor=ENGINE,
            kind=kind.value,
            message=message,
            data=data,
        )
    )


def _call_webhook(
    session: Session, incident: Incident, name: str, action: core.Page, *, now: datetime
) -> None:
    """Write the outbox row that calls webhook `name` for a level that fired, and say so.

    The row is a page like a user's (kind "page"): an acknowledgement withdraws it while it
    waits, and later levels wait for it as for any earlier page.
    """
    webhook = webhooks.find(session, name)
    data = {"webhook": name, "level": action.level, "loop": action.loop}
    if webhook is None:
        # Removed since the policy was applied: the level still fired for its other targets.
        message = f"Could not call webhook {name} ({action.reason}): it is no longer configured"
        timeline(session, incident, now, EventKind.NOTIFIED, message, data)
        return
    step = f"{action.level}.{action.loop}"
    earlier = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.incident_id == incident.id, Notification.webhook_id == webhook.id)
    )
    session.add(
        Notification(
            idempotency_key=_key(incident.id, "webhook", webhook.id, step, earlier),
            incident_id=incident.id,
            webhook_id=webhook.id,
            kind="page",
            status=NotificationStatus.PENDING,
            due_at=now,
            attempts=0,
            message=_webhook_message(session, incident, webhook, action),
            created_at=now,
        )
    )
    announce_work(session)
    message = f"Calling webhook {name} ({action.reason}) via the outbox"
    timeline(session, incident, now, EventKind.NOTIFIED, message, data)


def _webhook_message(
    session: Session, incident: Incident, webhook: Webhook, action: core.Page
) -> dict[str, Any]:
    """Return what the webhook call says: the page's words, and which policy and level fired."""
    row = escalation_of(session, incident)
    policy = session.get(EscalationPolicy, row.policy_id) if row and row.policy_id else None
    page = message_for(session, incident, None, "page")
    return {
        **page,
        "webhook": webhook.name,
        "policy": policy.name if policy is not None else None,
        "level": action.level + 1,  # as people count levels, and as the timeline names them
        "repeat": action.loop,
    }


def enqueue(
    session: Session,
    incident: Incident,
    handle: str,
    *,
    kind: str,
    now: datetime,
    step: str = "",
    subject: str | None = None,
    text: str | None = None,
) -> list[str]:
    """Write outbox rows for one user per their notification rules; return the method names.

    SEV-4 is low urgency: no page in the night, one notification at the start of the user's
    next business day (the seed's "next business day" response time).
    """
    user = users.find(session, handle)
    if user is None:
        return []
    rules = contacts.rules_of(session, user)
    if kind != "page":
        rules = rules[:1]  # notices and reminders go once, by the user's first method
    level = severities.scale(session).get(incident.severity)
    low_urgency = level.business_hours and kind == "page"
    by_name = {method.name: method for method, _after in rules}
    timing = paging.schedule_notifications(
        [paging.Rule(method.name, timedelta(seconds=after)) for method, after in rules], now
    )
    names = []
    for name, due_at in timing:
        method = by_name[name]
        if low_urgency:
            due_at = paging.low_urgency_due(due_at, user.time_zone)
        # The nth message of this kind to this method for this incident: a restarted
        # escalation pages level 1 again and must not reuse the first page's key.
        earlier = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.incident_id == incident.id,
                Notification.contact_method_id == method.id,
                Notification.kind == kind,
            )
        )
        key = _key(incident.id, user.id, method.id, kind, step, earlier)
        session.add(
            Notification(
                idempotency_key=key,
                incident_id=incident.id,
                user_id=user.id,
                contact_method_id=method.id,
                kind=kind,
                status=NotificationStatus.PENDING,
                due_at=due_at,
                attempts=0,
                message={
                    **message_for(session, incident, user, kind, subject=subject, text=text),
                    # Which step paged: a key pressed in reply to it ("escalate now") moves
                    # the escalation on from that step only.
                    **({"step": step} if kind == "page" and step else {}),
                },
                created_at=now,
            )
        )
        names.append(method.name)
    if names:
        announce_work(session)
    return names


def _key(*parts: object) -> str:
    # Deterministic: a step retried after a crash writes the same key, and a receiver that has
    # seen it drops the repeat.
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]
