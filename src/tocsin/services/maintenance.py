"""Public maintenance: announced on the status page, told to subscribers, and quiet for paging.

Announcing one records what customers read (title, message, components, times) and, unless the
team asks to keep being paged, a `MaintenanceWindow` for every service of those components over
the same times, so the alerts the work causes page nobody. Subscribers hear of it four times at
most: when it is announced, when it starts, when it is completed, and if it is cancelled. Each
notice is queued in the transaction that advances `PublicMaintenance.notified`, so however many
engine nodes run, and whatever restarts, each stage is told exactly once; the engine runs
`Notices` for the stages that fall due with time (start and end).

The CLI, the API and the web UI all come here; who may announce is decided as for maintenance
windows: a responder of every team owning a service of the components (or a global responder
or administrator, for components no team's services are part of).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.core import statuspage as core
from tocsin.core.access import Need
from tocsin.core.statuspage import MaintenanceStage, Notified
from tocsin.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tocsin.services import subscriptions
from tocsin.store import access, statuspage
from tocsin.store import alerts as windows
from tocsin.store.models import MaintenanceWindow, PublicMaintenance, Service

TITLE_MAX = 200  # the column's length
MESSAGE_MAX = 10_000  # a maintenance notice, not a document: it goes into every message
TOPIC = "maintenance"


def announce(
    session: Session,
    *,
    title: str,
    components: Sequence[str],
    start: datetime,
    end: datetime,
    message: str = "",
    silence: bool = True,
    actor: str,
    now: datetime,
    base_url: str,
) -> PublicMaintenance:
    """Announce maintenance of `components` from `start` to `end` on the status page and to its
    subscribers; with `silence`, page nobody for their services meanwhile.

    Raises InvalidInput listing every problem of the request, PermissionDenied if the session's
    principal may not announce maintenance of these components.
    """
    title = title.strip()
    message = message.strip()
    slugs = list(dict.fromkeys(c.strip() for c in components if c.strip()))
    problems: list[str] = []
    if not title:
        problems.append("title: say in a line what the maintenance is")
    elif len(title) > TITLE_MAX:
        problems.append(f"title: {len(title)} characters, at most {TITLE_MAX}")
    if len(message) > MESSAGE_MAX:
        problems.append(f"message: {len(message)} characters, at most {MESSAGE_MAX}")
    known = [c.slug for c in statuspage.components(session)]
    if not slugs:
        problems.append(
            "components: name at least one status component"
            + (f" (one of {', '.join(known)})" if known else "; none is listed yet")
        )
    unknown = [slug for slug in slugs if slug not in known]
    if unknown:
        problems.append(
            f"components: unknown {', '.join(repr(u) for u in unknown)}; "
            + (f"known: {', '.join(known)}" if known else "no status component is listed yet")
        )
    if end <= start:
        problems.append("end: must be after the start")
    elif end <= now:
        problems.append("end: already past; the maintenance would be over before it is announced")
    if problems:
        raise InvalidInput.of(problems)
    services = statuspage.services_of(session, slugs)
    _require_respond(session, title, services)
    row = PublicMaintenance(
        title=title,
        message=message,
        components=slugs,
        start=start,
        end=end,
        notified=Notified.NOTHING.value,
        cancelled_at=None,
        created_by=actor[:100],
        created_at=now,
    )
    session.add(row)
    session.flush()
    if silence:
        for service in _distinct(services):
            window = windows.add_maintenance(
                session,
                service=service.slug,
                start=start,
                end=end,
                reason=f"Public maintenance {row.id}: {title}",
                actor=actor,
                now=now,
            )
            window.public_id = row.id
        session.flush()
    notify(session, row, now=now, base_url=base_url)
    return row


def list_(session: Session, *, now: datetime, all_: bool = False) -> list[PublicMaintenance]:
    """Return public maintenance, soonest first: what is ahead or running (not cancelled), or
    every one."""
    rows = statuspage.list_maintenance(session, since=None if all_ else now)
    return rows if all_ else [row for row in rows if row.cancelled_at is None]


# Ids are INTEGER columns: a larger number is no maintenance, never a database error.
_MAX_ID = 2**31 - 1


def get(session: Session, maintenance_id: int) -> PublicMaintenance:
    """Return public maintenance `maintenance_id`, or raise NotFound."""
    row = (
        statuspage.get_maintenance(session, maintenance_id)
        if 0 < maintenance_id <= _MAX_ID
        else None
    )
    if row is None:
        raise NotFound(f"unknown public maintenance {maintenance_id}")
    return row


def stage_of(row: PublicMaintenance, *, now: datetime) -> MaintenanceStage:
    """Return the stage of `row` at `now`."""
    return core.stage(statuspage.facts_of(row), now)


def cancel(
    session: Session, maintenance_id: int, *, now: datetime, base_url: str
) -> PublicMaintenance:
    """Cancel public maintenance before or during it: its silencing windows end (or go, if
    they had not started) and subscribers who heard of it are told.

    Raises Conflict if it is already completed or cancelled.
    """
    row = (
        statuspage.lock_maintenance(session, maintenance_id)
        if 0 < maintenance_id <= _MAX_ID
        else None
    )
    if row is None:
        raise NotFound(f"unknown public maintenance {maintenance_id}")
    services = statuspage.services_of(session, list(row.components))
    _require_respond(session, row.title, services)
    at = stage_of(row, now=now)
    if at in (MaintenanceStage.COMPLETED, MaintenanceStage.CANCELLED):
        raise Conflict(f"public maintenance {maintenance_id} is already {at.label.lower()}")
    row.cancelled_at = now
    for window in statuspage.silencing_windows(session, row.id):
        windows.end_maintenance(session, window.id, now=now)
    session.flush()
    notify(session, row, now=now, base_url=base_url)
    return row


def notify(session: Session, row: PublicMaintenance, *, now: datetime, base_url: str) -> bool:
    """Queue what subscribers are due to hear of `row` at `now`, and record that they did, in
    the caller's transaction (which must hold the row: see `Notices`). Return whether anything
    was due."""
    facts = statuspage.facts_of(row)
    due = core.notice_due(facts, row.notified, now)
    if due is None:
        if row.cancelled_at is not None and row.notified != Notified.CANCELLED.value:
            row.notified = Notified.CANCELLED.value  # cancelled before anyone heard of it
        return False
    subject, text = notice_text(facts, due, statuspage.components(session))
    subscriptions.announce(
        session,
        topic=TOPIC,
        components=list(row.components),
        subject=subject,
        text=text,
        link=f"{base_url.rstrip('/')}/status/maintenance/{row.id}",
        event_key=f"maintenance-{row.id}-{due.value}",
        now=now,
    )
    row.notified = due.value
    session.flush()
    return True


def notice_text(
    facts: core.MaintenanceFacts, due: Notified, components: Sequence[core.Component]
) -> tuple[str, str]:
    """Return (subject, text) telling subscribers that `facts` reached stage `due`."""
    window = core.window_text(facts.start, facts.end)
    names = [c.name for c in components if c.slug in facts.components]
    subject, first = {
        Notified.ANNOUNCED: ("Scheduled maintenance", f"Scheduled for {window}."),
        Notified.STARTED: ("Maintenance in progress", f"In progress, {window}."),
        Notified.COMPLETED: ("Maintenance completed", f"Completed ({window})."),
        Notified.CANCELLED: ("Maintenance cancelled", f"Cancelled (it was planned {window})."),
    }[due]
    lines = [facts.title, "", first]
    if names:
        lines.append(f"Affects: {', '.join(names)}")
    if facts.message and due in (Notified.ANNOUNCED, Notified.STARTED):
        lines += ["", facts.message]
    return f"{subject}: {facts.title}", "\n".join(lines)


class Notices:
    """The engine's work of telling subscribers that public maintenance started or ended.

    Due at the next stage of each maintenance whose last stage subscribers have not heard.
    Rows are claimed with SKIP LOCKED and their stage decided again once locked, so two nodes
    never queue the same notice, and a node that stops after queueing has also recorded it.
    """

    __name__ = "maintenance notices"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def update_all(self, session: Session, *, now: datetime) -> int:
        """Queue every notice due at `now`; return how many."""
        due = [
            row.id
            for row in statuspage.notices_pending(session)
            if (at := core.next_notice_at(statuspage.facts_of(row), row.notified)) is not None
            and at <= now
        ]
        told = 0
        for row in statuspage.claim_notices(session, due):
            told += notify(session, row, now=now, base_url=self.base_url)
        return told

    def next_due(self, session: Session) -> datetime | None:
        """Return when the next notice falls due (None: every stage told)."""
        found = [
            core.next_notice_at(statuspage.facts_of(row), row.notified)
            for row in statuspage.notices_pending(session)
        ]
        times = [at for at in found if at is not None]
        return min(times) if times else None


def _distinct(services: dict[str, list[Service]]) -> list[Service]:
    seen: dict[int, Service] = {}
    for found in services.values():
        for service in found:
            seen.setdefault(service.id, service)
    return list(seen.values())


def _require_respond(session: Session, title: str, services: dict[str, list[Service]]) -> None:
    """Raise PermissionDenied unless the session's principal responds to every team owning a
    service of the components (a component of no team's services needs a global role)."""
    principal = access.principal_in(session)
    if principal is None or principal.unrestricted:
        return
    team_ids: list[int | None] = [s.team_id for s in _distinct(services)]
    if any(not found for found in services.values()):
        team_ids.append(None)
    owners: Collection[str | None] = access.slugs(session, team_ids) or [None]
    refusal = principal.refusal_of_any(Need.RESPOND, "public maintenance", title, owners)
    if refusal is not None:
        raise PermissionDenied(refusal)


def silencing_windows(session: Session, maintenance_id: int) -> list[MaintenanceWindow]:
    """Return the windows keeping the services of public maintenance `maintenance_id` from
    paging (none if its team chose to be paged)."""
    return statuspage.silencing_windows(session, maintenance_id)
