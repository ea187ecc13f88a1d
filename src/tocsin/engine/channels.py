"""Incident channels: a Slack channel per serious incident, kept up to date from its timeline.

A change to an incident (`changed`, called by the lifecycle in the same transaction) marks its
channel due; an incident of a severity that gets one (SEV-1 and SEV-2 by default) gets a row
here first. The engine's due work (`update_all`) then writes what the channel needs as outbox
rows: create it, invite the commander, responders and the people paged, post and pin the
INCIDENT NOTIFICATION, keep the topic to severity, status and commander; later, post each status,
severity and role change, acknowledgement and status update, the RESOLUTION summary, and archive
the channel a while after. Being outbox rows, they are durable and retried, and run in order
(`store.notifications.waits_for_earlier_page`): a post never goes ahead of its channel.

A message in the channel that someone reacts to with the pin emoji is read back from Slack
(`request_pin`, an outbox row too) and becomes a timeline note by its author (`sent`).

The rules (prefix, severities, archive delay) are the deployment's settings, which the
composition root binds to every session (`RULES`); without them nothing here does anything.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.core import chatops
from tocsin.core import escalation as core
from tocsin.core.incident import EventKind, IncidentStatus, incident_ref
from tocsin.core.printable import printable
from tocsin.engine.messages import render_message
from tocsin.engine.work import announce_work
from tocsin.store import links
from tocsin.store.incidents import active_roles, commander_of
from tocsin.store.models import (
    Incident,
    IncidentChannel,
    Notification,
    TimelineEvent,
    User,
)
from tocsin.store.notifications import CHANNEL_KIND, NotificationStatus
from tocsin.store.policies import policy_for, to_core

# The key of the deployment's channel rules in `Session.info` (None: no incident channels).
RULES = "tocsin.channel_rules"
KIND = CHANNEL_KIND
# How many channels one pass brings up to date; the rest are due still, and go next pass.
BATCH = 50
# The longest note a pinned message makes.
MAX_NOTE = 4000


def rules_of(session: Session) -> chatops.ChannelRules | None:
    """Return the incident-channel rules the composition root bound to this session."""
    found = session.info.get(RULES)
    return found if isinstance(found, chatops.ChannelRules) else None


def changed(session: Session, incident: Incident, *, now: datetime) -> None:
    """Note that the incident changed: its channel (made now if it deserves one) is due."""
    rules = rules_of(session)
    if rules is None or incident.is_drill:
        return
    row = session.get(IncidentChannel, incident.id)
    if row is None:
        if not rules.wants(incident.severity) or not IncidentStatus(incident.status).is_open:
            return
        name = chatops.channel_name(rules.prefix, incident.number, incident.title)
        row = IncidentChannel(
            incident_id=incident.id,
            name=name,
            channel_id=None,
            requested=False,
            archived=False,
            last_event_id=0,
            sync_at=now,
            created_at=now,
        )
        session.add(row)
        # The notification and every message name the channel people should join.
        incident.channel = f"#{name}"
    elif row.sync_at is not None and row.sync_at <= now:
        return
    else:
        row.sync_at = now
    announce_work(session)


def channel_of(session: Session, channel_id: str) -> IncidentChannel | None:
    """Return the incident channel with this Slack id, if it is one."""
    if not channel_id:
        return None
    return session.scalar(select(IncidentChannel).where(IncidentChannel.channel_id == channel_id))


def request_pin(session: Session, row: IncidentChannel, *, ts: str, by: str, now: datetime) -> None:
    """Ask for a message of the channel to be read back from Slack and noted on the timeline."""
    _Ops(session, row, now).add("fetch", f"Read the message pinned in #{row.name}", ts=ts, by=by)
    announce_work(session)


def update_all(session: Session, *, now: datetime) -> int:
    """Bring every due channel up to date with its incident; return how many were."""
    rules = rules_of(session)
    rows = session.scalars(
        select(IncidentChannel)
        .where(IncidentChannel.sync_at <= now)
        .order_by(IncidentChannel.incident_id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.sync_at = None
        if rules is not None:  # Slack was turned off since: there is nobody to tell
            _bring_up_to_date(session, row, rules, now)
    session.flush()
    return len(rows)


def next_due(session: Session) -> datetime | None:
    """Return when the next channel falls due."""
    return session.scalar(select(func.min(IncidentChannel.sync_at)))


class _Ops:
    """The outbox rows of one channel, written in the order they must run."""

    def __init__(self, session: Session, row: IncidentChannel, now: datetime) -> None:
        self.session = session
        self.row = row
        self.now = now
        self.written = 0

    def add(self, op: str, subject: str, *, due: datetime | None = None, **params: Any) -> None:
        self.written += 1
        seed = f"{KIND}|{self.row.incident_id}|{op}|{self.now.isoformat()}|{self.written}|{params}"
        self.session.add(
            Notification(
                idempotency_key=hashlib.sha256(seed.encode()).hexdigest()[:40],
                incident_id=self.row.incident_id,
                user_id=None,
                contact_method_id=None,
                kind=KIND,
                status=NotificationStatus.PENDING,
                due_at=due or self.now,
                attempts=0,
                message={
                    "subject": subject,
                    "text": "",
                    "severity": "",
                    "slack": op,
                    "channel_name": self.row.name,
                    "params": params,
                },
                created_at=self.now,
            )
        )
        self.session.flush()  # ids in the order written: the order they run in


def _slack_people(session: Session, handles: set[str]) -> tuple[list[str], list[str]]:
    """Return the Slack ids of the linked among `handles`, and the emails of the others (to
    find in Slack by email)."""
    if not handles:
        return [], []
    linked = links.linked_accounts(session, "slack", handles)
    emails = session.scalars(
        select(User.email).where(
            User.handle.in_(handles - set(linked)), User.email.is_not(None), User.email != ""
        )
    ).all()
    return sorted(linked.values()), sorted(e for e in emails if e)


def _first_level(session: Session, incident: Incident, now: datetime) -> set[str]:
    """Return who the incident's escalation policy has at its first level now (the on-call),
    paged or not (a commander named at once stops the paging, not the invitation)."""
    from tocsin.engine.escalations import on_call_lookup, team_lookup  # it tells us of pages

    policy = policy_for(session, incident)
    if policy is None:
        return set()
    _state, actions = core.start(
        to_core(policy), now, on_call_lookup(session), team_lookup(session)
    )
    return {
        handle for action in actions if isinstance(action, core.Page) for handle in action.users
    }


def _topic(incident: Incident) -> str:
    commander = commander_of(incident)
    return chatops.topic(
        incident.severity, incident.status, commander.handle if commander else None
    )


def _bring_up_to_date(
    session: Session, row: IncidentChannel, rules: chatops.ChannelRules, now: datetime
) -> None:
    incident = session.get(Incident, row.incident_id)
    if incident is None:
        return
    events = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident.id, TimelineEvent.id > row.last_event_id)
        .order_by(TimelineEvent.id)
    ).all()
    if events:
        row.last_event_id = events[-1].id
    ops = _Ops(session, row, now)
    ref = incident_ref(incident.number)
    if not row.requested:
        # The channel's first sync: it is made as the incident stands now, which says all that
        # happened so far (the notification); the timeline is told from here on.
        row.requested = True
        people = {r.user.handle for r in active_roles(incident)} | _paged(events)
        people |= {e.actor for e in events if e.kind == EventKind.DECLARED}
        users, emails = _slack_people(session, people | _first_level(session, incident, now))
        ops.add("create", f"Create #{row.name} for {ref}")
        if users or emails:
            ops.add("invite", f"Invite the responders of {ref}", users=users, emails=emails)
        text = render_message(session, incident, "notification")
        ops.add("post", f"Post the notification of {ref}", text=f"```{text}```", pin=True)
        ops.add("topic", f"Set the topic of #{row.name}", topic=_topic(incident))
        return
    topic = False
    invite: set[str] = set()
    for event in events:
        if event.kind == EventKind.REOPENED:
            _cancel_archive(session, incident)
            if row.archived:
                ops.add("unarchive", f"Unarchive #{row.name}: {ref} reopened")
        said = chatops.post_text(event.kind, event.actor, event.message)
        if said is not None:
            ops.add("post", f"Post to #{row.name}: {event.kind}", text=said)
        topic = topic or event.kind in chatops.TOPIC_KINDS
        invite |= _paged([event])
        if event.kind == EventKind.ROLE_ASSIGNED and event.data.get("user"):
            invite.add(str(event.data["user"]))
        data = event.data or {}
        if chatops.resolves(event.kind, data.get("from"), data.get("to")):
            text = render_message(session, incident, "resolution")
            ops.add("post", f"Post the resolution of {ref}", text=f"```{text}```", pin=True)
            after = timedelta(seconds=rules.archive_after_seconds)
            ops.add("archive", f"Archive #{row.name}", due=now + after)
    users, emails = _slack_people(session, invite)
    if users or emails:
        ops.add("invite", f"Invite to #{row.name}", users=users, emails=emails)
    if topic:
        ops.add("topic", f"Set the topic of #{row.name}", topic=_topic(incident))
    if ops.written:
        announce_work(session)


def _paged(events: list[TimelineEvent] | Any) -> set[str]:
    """Return who these timeline entries say was paged ("Paging alice ...")."""
    return {
        str(e.data["user"])
        for e in events
        if e.kind == EventKind.NOTIFIED and isinstance(e.data, dict) and e.data.get("user")
    }


def _cancel_archive(session: Session, incident: Incident) -> None:
    """Withdraw the channel's archiving that waits: the incident is open again."""
    for waiting in session.scalars(
        select(Notification).where(
            Notification.incident_id == incident.id,
            Notification.kind == KIND,
            Notification.status == NotificationStatus.PENDING,
        )
    ):
        if waiting.message.get("slack") == "archive":
            waiting.status = NotificationStatus.CANCELLED
            waiting.last_error = "the incident was reopened"


def channel_ids(session: Session, incident_ids: set[int]) -> dict[int, str]:
    """Return the Slack id of each of these incidents' channels that was created."""
    if not incident_ids:
        return {}
    return {
        incident_id: channel_id
        for incident_id, channel_id in session.execute(
            select(IncidentChannel.incident_id, IncidentChannel.channel_id).where(
                IncidentChannel.incident_id.in_(incident_ids),
                IncidentChannel.channel_id.is_not(None),
            )
        )
        if channel_id
    }


def sent(
    session: Session,
    row: Notification,
    data: dict[str, str] | None,
    reference: str | None,
    *,
    now: datetime,
) -> None:
    """Keep what a channel operation's answer tells: the channel's id once created, whether it
    is archived, and a pinned message's text as a timeline note by its author."""
    channel = session.get(IncidentChannel, row.incident_id)
    if channel is None:
        return
    op = row.message.get("slack")
    if op == "create" and reference:
        channel.channel_id = reference
        name = (data or {}).get("name")
        if name and name != channel.name:  # its own name was taken: this is the one it got
            channel.name = name
            incident = session.get(Incident, row.incident_id)
            if incident is not None:
                incident.channel = f"#{name}"
    elif op in ("archive", "unarchive"):
        channel.archived = op == "archive"
    elif op == "fetch" and data is not None:
        text = printable(data.get("text", "")).strip()[:MAX_NOTE]
        if not text:
            return
        params = row.message.get("params") or {}
        author, by = _handle(session, data.get("user", "")), _handle(session, str(params.get("by")))
        session.add(
            TimelineEvent(
                incident_id=row.incident_id,
                at=now,
                actor=author,
                kind=EventKind.NOTE.value,
                message=text,
                data={"slack": {"channel": channel.channel_id, "ts": params.get("ts"), "by": by}},
            )
        )


def _handle(session: Session, slack_user: str) -> str:
    """Return the Tocsin handle a Slack user is linked to, else "slack:U123"."""
    user = links.linked_user(session, "slack", slack_user)
    return user.handle if user is not None else f"slack:{slack_user}"[:100]
