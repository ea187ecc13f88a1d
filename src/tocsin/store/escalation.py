"""Escalation policies, each incident's escalation, and the outbox it writes to.

Every decision to notify writes its outbox rows in the same transaction as the decision (the
escalation step, the acknowledgement, the resolve), so a crash can lose neither: either the step
and its notifications are committed together, or neither is and the step is still due.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from tocsin.config import EscalationPolicySpec
from tocsin.core import escalation as core
from tocsin.core import paging
from tocsin.core import schedule as sched
from tocsin.core.incident import EventKind, incident_ref
from tocsin.errors import InvalidInput, NotFound
from tocsin.store import contacts, schedules, severities, users
from tocsin.store.models import (
    ContactMethod,
    Escalation,
    EscalationPolicy,
    Incident,
    Notification,
    Service,
    TimelineEvent,
    User,
)

ENGINE = "tocsin"


class NotificationStatus:
    """The states of an outbox row (the values are what the database holds)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


# --- policies -----------------------------------------------------------------------------------


def policy_problems(
    spec: EscalationPolicySpec, *, known_users: set[str], known_schedules: set[str]
) -> list[str]:
    """Return every problem of a policy from the config file (paths relative to it)."""
    try:
        policy = core.parse_policy(
            spec.name, [_level_dict(level) for level in spec.levels], spec.repeat
        )
    except InvalidInput as exc:
        return exc.problems
    problems = []
    for i, level in enumerate(policy.levels):
        for j, target in enumerate(level.targets):
            known = known_users if target.kind is core.TargetKind.USER else known_schedules
            if target.name not in known:
                problems.append(
                    f"levels[{i}].targets[{j}]: unknown {target.kind.value} {target.name!r}"
                )
    return problems


def _level_dict(level: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"targets": list(level.targets)}
    if level.delay is not None:
        found["delay"] = level.delay
    return found


def put_policy(session: Session, spec: EscalationPolicySpec, *, now: datetime) -> str | None:
    """Create or update a policy from the config file; return the change, or None."""
    levels = [_level_dict(level) for level in spec.levels]
    core.parse_policy(spec.name, levels, spec.repeat)  # validated already; cheap to be sure
    found = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == spec.name))
    if found is None:
        session.add(
            EscalationPolicy(
                name=spec.name, repeat=spec.repeat, levels=levels, created_at=now, updated_at=now
            )
        )
        session.flush()
        return f"create escalation policy {spec.name}"
    if (found.repeat, found.levels) == (spec.repeat, levels):
        return None
    found.repeat, found.levels, found.updated_at = spec.repeat, levels, now
    session.flush()
    return f"update escalation policy {spec.name}"


def get_policy(session: Session, name: str) -> EscalationPolicy:
    """Return the policy `name`, or raise NotFound."""
    found = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))
    if found is None:
        raise NotFound(f"unknown escalation policy {name!r}")
    return found


def list_policies(session: Session) -> list[EscalationPolicy]:
    """Return every policy, by name."""
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def to_core(policy: EscalationPolicy) -> core.Policy:
    """Return the stored policy as the core's value."""
    return core.parse_policy(policy.name, list(policy.levels), policy.repeat)


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


def _policy_for(session: Session, incident: Incident) -> EscalationPolicy | None:
    for link in incident.services:
        service: Service = link.service
        if service.escalation_policy_id is not None:
            return session.get(EscalationPolicy, service.escalation_policy_id)
    return None


def start(session: Session, incident: Incident, *, now: datetime) -> bool:
    """Start the escalation of a new incident if its service has a policy; page level 1 now."""
    policy = _policy_for(session, incident)
    if policy is None:
        return False
    row = Escalation(
        incident_id=incident.id,
        policy_id=policy.id,
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
    state, actions = core.start(to_core(policy), now, on_call_lookup(session))
    _store(row, state, now)
    perform(session, incident, actions, now=now)
    session.flush()
    return True


def _row(session: Session, incident: Incident) -> Escalation | None:
    return session.scalar(select(Escalation).where(Escalation.incident_id == incident.id))


def acknowledged(session: Session, incident: Incident, *, now: datetime) -> bool:
    """Stop the incident's escalation and withdraw every page not yet sent.

    Return True if this stopped a running escalation (False: none, or already acknowledged).
    A service with an ack timeout gets its escalation back if the incident is still open when
    the timeout runs out.
    """
    row = _row(session, incident)
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


def is_acknowledged(session: Session, incident: Incident) -> bool | None:
    """Return whether the escalation is acknowledged (None: the incident has no escalation)."""
    row = _row(session, incident)
    return None if row is None else row.acknowledged


def unacknowledged(session: Session, incident: Incident, *, now: datetime) -> None:
    """Restart the incident's escalation from level 1."""
    row = _row(session, incident)
    if row is None or row.policy_id is None:
        return
    policy = session.get(EscalationPolicy, row.policy_id)
    assert policy is not None
    state, actions = core.unacknowledge(to_core(policy), _state(row), now, on_call_lookup(session))
    _store(row, state, now)
    row.ack_expires_at = None
    perform(session, incident, actions, now=now)


def resolved(session: Session, incident: Incident, *, now: datetime) -> None:
    """Stop the escalation and tell everyone already paged."""
    row = _row(session, incident)
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


def paged_users(session: Session, incident_id: int, *, in_flight: bool = False) -> set[str]:
    """Return the handles of users a page of this incident reached (or, with `in_flight`, may
    still reach: it is being sent)."""
    statuses = [NotificationStatus.SENT]
    if in_flight:
        statuses.append(NotificationStatus.SENDING)
    return set(
        session.scalars(
            select(User.handle)
            .join(Notification, Notification.user_id == User.id)
            .where(
                Notification.incident_id == incident_id,
                Notification.kind == "page",
                Notification.status.in_(statuses),
            )
        )
    )


# Kinds that must follow the pages queued before them: a later level's page, and the resolve
# notice (which is only for users a page reached).
ORDERED_KINDS = ("page", "resolved")


def waits_for_earlier_page() -> ColumnElement[bool]:
    """Return a condition on `Notification`: true while an earlier step's page of its incident
    is unfinished, so this row must not be sent yet.

    Unfinished is "being sent" (perhaps by a node that died: its claim runs out soon and the
    page is sent or withdrawn then) or "pending and due no later than this row". A page retried
    later after a temporary failure, or due later by its user's notification rules, does not
    hold the next level back: escalation must not wait for one person's broken pager. Pages of
    one step (same `created_at`) never wait for each other.
    """
    earlier = aliased(Notification)
    return Notification.kind.in_(ORDERED_KINDS) & exists().where(
        earlier.incident_id == Notification.incident_id,
        earlier.kind == "page",
        earlier.id < Notification.id,
        earlier.created_at < Notification.created_at,
        or_(
            earlier.status == NotificationStatus.SENDING,
            (earlier.status == NotificationStatus.PENDING)
            & (earlier.due_at <= Notification.due_at),
        ),
    )


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


def due(session: Session, *, now: datetime, limit: int = 100) -> int:
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
    lookup = on_call_lookup(session)
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
        state, actions = core.due(to_core(policy), _state(row), now, lookup)
        _store(row, state, now)
        perform(session, incident, actions, now=now)
    session.flush()
    return len(rows)


def next_due(session: Session) -> datetime | None:
    """Return when the next escalation step or outbox row falls due."""
    step = session.scalar(
        select(func.min(Escalation.next_at)).where(
            Escalation.acknowledged.is_(False), Escalation.resolved.is_(False)
        )
    )
    message = session.scalar(
        select(func.min(Notification.due_at)).where(
            Notification.status == NotificationStatus.PENDING,
            # a row waiting for an earlier page is due when that page is done (the loop polls)
            # or its claim runs out (`claimed` below), not at once: no busy loop meanwhile
            ~waits_for_earlier_page(),
        )
    )
    claimed = session.scalar(
        select(func.min(Notification.claimed_until)).where(
            Notification.status == NotificationStatus.SENDING
        )
    )
    expiry = session.scalar(
        select(func.min(Escalation.ack_expires_at)).where(Escalation.resolved.is_(False))
    )
    found = [t for t in (step, message, claimed, expiry) if t is not None]
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
                message=message_for(session, incident, user, kind, subject=subject, text=text),
                created_at=now,
            )
        )
        names.append(method.name)
    if names:
        announce_work(session)
    return names


WORK_WRITTEN = "tocsin_work"


def announce_work(session: Session) -> None:
    """Wake the engines when this transaction commits: this process's, and (PostgreSQL NOTIFY)
    every other node's."""
    session.info[WORK_WRITTEN] = True
    if session.get_bind().dialect.name == "postgresql":
        # Delivered only on commit, and once per transaction however often it is called.
        session.execute(text("SELECT pg_notify('tocsin_work', '')"))


def _key(*parts: object) -> str:
    # Deterministic: a step retried after a crash writes the same key, and a receiver that has
    # seen it drops the repeat.
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


def message_for(
    session: Session,
    incident: Incident,
    user: User,
    kind: str,
    *,
    subject: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """Return what the notification says, from the incident as it is now.

    Links (the incident page, the signed ack link) are added by the sender, which knows the
    address people reach Tocsin at.
    """
    ref = incident_ref(incident.number)
    service = incident.service_slugs[0] if incident.services else None
    if subject is not None and text is not None:
        pass  # a reminder or a notice that says its own words
    elif kind == "resolved":
        subject = f"[RESOLVED] {ref} {service or ''}: {incident.title}".replace("  ", " ")
        text = f"{ref} is resolved. {incident.resolution or ''}".strip()
    else:
        subject = f"[{incident.severity}] {ref} {service or ''}: {incident.title}".replace(
            "  ", " "
        )
        from tocsin.store.incidents import render_message

        text = render_message(session, incident, "page")
    return {
        "subject": subject,
        "text": text,
        "severity": incident.severity,
        "incident": ref,
        "service": service,
        "user": user.handle,
    }


def policy_json(policy: EscalationPolicy) -> dict[str, Any]:
    """Return a policy in the config file's shape."""
    return {"name": policy.name, "repeat": policy.repeat, "levels": list(policy.levels)}


def notifications_json(session: Session, ref: str) -> list[dict[str, Any]]:
    """Return an incident's outbox rows, oldest first: who, how, and how it went."""
    from tocsin.store import incidents

    incident = incidents.get(session, ref)
    rows = session.execute(
        select(Notification, User.handle, ContactMethod.name)
        .join(User, User.id == Notification.user_id)
        .outerjoin(ContactMethod, ContactMethod.id == Notification.contact_method_id)
        .where(Notification.incident_id == incident.id)
        .order_by(Notification.created_at, Notification.id)
    )
    return [
        {
            "id": n.id,
            "incident": incident_ref(incident.number),
            "user": handle,
            "contact_method": method,
            "kind": n.kind,
            "status": n.status,
            "due_at": n.due_at,
            "attempts": n.attempts,
            "sent_at": n.sent_at,
            "last_error": n.last_error,
        }
        for n, handle, method in rows
    ]
