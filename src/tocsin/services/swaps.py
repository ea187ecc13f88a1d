"""Shift swaps: a responder asks teammates to cover part of their shift, the first to accept
takes it over as an override.

The rules are the core's (`tocsin.core.swaps`); this is the flow around them. Asking notifies
every teammate through the outbox; accepting is one guarded UPDATE (first wins, on SQLite and
PostgreSQL alike), the taker's override in the same transaction, and a notice to the requester.
Every step is in the audit log under the schedule's name: the request as a created "swap", its
acceptance or cancellation as a change of its status.

Who may do what. The requester must be on call in the range (the core checks it) and may
respond on the schedule; takers are teammates (the schedule's team members if a team owns it,
else the people in its layers), never the requester, and must be able to add overrides to it;
the requester cancels while the request is open, and so may whoever manages the schedule.
A session nobody acts for (the host's own CLI) is checked against the named person only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from tocsin.core import schedule as sched
from tocsin.core import swaps as core
from tocsin.core.access import ADMIN, Kind, Need
from tocsin.core.audit import Action
from tocsin.core.swaps import SwapStatus, Warning
from tocsin.engine.work import announce_work
from tocsin.errors import Conflict, InvalidInput, PermissionDenied
from tocsin.store import access, audit, contacts, schedules, users
from tocsin.store import swaps as store
from tocsin.store.contacts import PHONE_TYPES
from tocsin.store.models import (
    Notification,
    Schedule,
    ScheduleOverride,
    ShiftSwap,
    User,
)
from tocsin.store.notifications import NotificationStatus

# The source of the overrides swaps make (`ScheduleOverride.source`): config apply keeps them.
SOURCE = "swap"


@dataclass(frozen=True, slots=True)
class View:
    """A request as one person sees it: its status now, and what they may do with it."""

    swap: ShiftSwap
    status: SwapStatus
    warnings: list[Warning]
    may_accept: bool
    may_cancel: bool


def link(swap: ShiftSwap) -> str:
    """Return the path of the request on the web: its row on the schedule page."""
    return f"/schedules/{quote(swap.schedule.name)}#swap-{swap.id}"


def _team(schedule: Schedule) -> str | None:
    return schedule.team.slug if schedule.team is not None else None


def _require(session: Session, need: Need, schedule: Schedule, doing: str) -> None:
    """Raise PermissionDenied unless the session's principal (if any) may `need` on it."""
    principal = access.principal_in(session)
    if principal is None or principal.unrestricted:
        return
    team = _team(schedule)
    if not principal.may(need, [team]):
        refusal = principal.refusal(Kind.OVERRIDE, schedule.name, [team], need)
        raise PermissionDenied(f"cannot {doing}: {refusal}")


def _acting_as(session: Session, handle: str) -> User:
    """Return the user `handle`; through a token or a browser, it must be the principal."""
    person = users.get_by_handle(session, handle)
    principal = access.principal_in(session)
    if principal is not None and principal.user_id not in (None, person.id):
        raise PermissionDenied(f"@{principal.handle} cannot act as @{person.handle}")
    return person


def _when(at: datetime, person: User) -> str:
    try:
        zone = ZoneInfo(person.time_zone)
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _notify(
    session: Session,
    swap: ShiftSwap,
    person: User,
    what: str,
    subject: str,
    text: str,
    *,
    now: datetime,
) -> int:
    """Queue `subject`/`text` to each of `person`'s contact methods that is not a phone: a
    swap is not worth waking anyone. Return how many were queued."""
    queued = 0
    for method in contacts.methods_of(session, person):
        if method.type in PHONE_TYPES:
            continue
        session.add(
            Notification(
                idempotency_key=f"swap-{swap.id}-{what}-{method.id}-{secrets.token_hex(6)}",
                incident_id=None,
                user_id=person.id,
                contact_method_id=method.id,
                kind=store.KIND,
                status=NotificationStatus.PENDING,
                due_at=now,
                attempts=0,
                message={
                    "subject": subject,
                    "text": text,
                    "severity": "",
                    "user": person.handle,
                    "link": link(swap),
                },
                created_at=now,
            )
        )
        queued += 1
    if queued:
        session.flush()
        announce_work(session)
    return queued


def _record(session: Session, swap: ShiftSwap, changes: dict[str, list[Any]]) -> None:
    """Write a decision to the audit log: a guarded UPDATE the flush listener never sees."""
    key = audit.AUDITED[ShiftSwap].key(session, swap)
    audit.record(session, Action.CHANGED, "swap", key, changes)


def _written_in_config(
    schedule: Schedule, person: User, low: datetime, high: datetime
) -> list[str]:
    """Return why [low, high) cannot be handed over where the configuration file puts `person`
    on call by an override: accepting clips only overrides made here (the next `tocsin apply`
    would restore one from the file), so the requester would stay on call beside the taker."""
    zone = ZoneInfo(schedule.time_zone)
    return [
        f"@{person.handle} is on call from {_at(max(o.start, low), zone)} to "
        f"{_at(min(o.end, high), zone)} by an override in the configuration file: change it "
        "there, a swap cannot take it over"
        for o in sorted(schedule.overrides, key=lambda o: o.start)
        if o.user_id == person.id and o.source == "config" and o.start < high and o.end > low
    ]


def _at(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def request(
    session: Session,
    schedule_name: str,
    *,
    requester: str,
    start: datetime,
    end: datetime,
    note: str = "",
    now: datetime,
) -> ShiftSwap:
    """Ask teammates to cover [start, end) of `requester`'s shift; notify them; return it.

    A range already begun is asked for from `now` on. Raises InvalidInput listing every problem.
    """
    schedule = schedules.get_by_name(session, schedule_name)
    person = _acting_as(session, requester)
    _require(session, Need.RESPOND, schedule, "ask for cover")
    note = note.strip()
    problems = core.request_problems(
        schedules.to_core(schedule), person.handle, start, end, now, note=note
    )
    low, high = core.covered_range(start, end, now)
    if not problems:
        problems += _written_in_config(schedule, person, low, high)
    if not problems:
        earlier = store.overlapping_open(session, schedule.id, person.id, low, high)
        if earlier is not None:
            problems.append(
                f"@{person.handle} already asked for cover of part of this range "
                f"(swap request {earlier.id}); cancel it first"
            )
    if problems:
        raise InvalidInput.of(problems)
    swap = ShiftSwap(
        schedule_id=schedule.id,
        requester_id=person.id,
        start=low,
        end=high,
        note=note,
        status=SwapStatus.OPEN.value,
        created_at=now,
    )
    session.add(swap)
    session.flush()
    session.refresh(swap)
    for mate in store.teammates(session, schedule):
        if mate.id == person.id:
            continue
        span = f"{_when(low, mate)} to {_when(high, mate)}"
        _notify(
            session,
            swap,
            mate,
            "asked",
            f"[SWAP] @{person.handle} asks for cover on {schedule.name}: {span}",
            f"@{person.handle} asks a teammate to cover their shift on {schedule.name} from "
            f"{span}."
            + (f"\nNote: {note}" if note else "")
            + f"\nThe first to accept takes it over (tocsin swap accept {swap.id}).",
            now=now,
        )
    return swap


def get(session: Session, swap_id: int) -> ShiftSwap:
    """Return swap request `swap_id`, or raise NotFound."""
    return store.get(session, swap_id)


def list_(
    session: Session,
    *,
    schedule: str | None = None,
    person: str | None = None,
    open_only: bool = False,
    now: datetime,
) -> list[ShiftSwap]:
    """Return the requests of a schedule, of a person (asked or taken), or the open ones."""
    return store.list_(
        session,
        schedule_id=schedules.get_by_name(session, schedule).id if schedule else None,
        person_id=users.get_by_handle(session, person).id if person else None,
        open_at=now if open_only else None,
    )


def _is_teammate(session: Session, swap: ShiftSwap, person: User) -> bool:
    return person.id != swap.requester_id and any(
        mate.id == person.id for mate in store.teammates(session, swap.schedule)
    )


def _responds(session: Session, swap: ShiftSwap, person: User) -> bool:
    """Return whether `person` may respond on the swap's schedule, as `accept` will require:
    through the session's principal when it is theirs (a token's team and scopes count), else
    by their own roles. A viewer in the rota is a teammate who may not take shifts."""
    principal = access.principal_in(session)
    if principal is None or principal.user_id != person.id:
        principal = access.principal_of(session, person)
    return principal.unrestricted or principal.may(Need.RESPOND, [_team(swap.schedule)])


def _manages(session: Session, swap: ShiftSwap, person: User | None) -> bool:
    principal = access.principal_in(session)
    if principal is not None:
        return principal.may(Need.MANAGE, [_team(swap.schedule)])
    return person is not None and person.role == ADMIN


def warnings_for(session: Session, swap: ShiftSwap, taker: str, *, now: datetime) -> list[Warning]:
    """Return what `taker` should know before accepting `swap` ([] once it is not open)."""
    if core.status_at(swap.status, swap.end, now) is not SwapStatus.OPEN:
        return []
    person = users.find(session, taker)
    if person is None or person.id == swap.requester_id:
        return []
    others = {s.name: schedules.to_core(s) for s in schedules.list_(session)}
    return core.taker_warnings(
        others[swap.schedule.name],
        swap.requester.handle,
        person.handle,
        swap.start,
        swap.end,
        now,
        others=others,
    )


def view(session: Session, swap: ShiftSwap, viewer: str | None, *, now: datetime) -> View:
    """Return `swap` as `viewer` sees it: its status now, warnings and what they may do."""
    status = core.status_at(swap.status, swap.end, now)
    person = users.find(session, viewer) if viewer else None
    is_open = status is SwapStatus.OPEN
    may_accept = (
        is_open
        and person is not None
        and _is_teammate(session, swap, person)
        and _responds(session, swap, person)
    )
    may_cancel = (
        is_open
        and person is not None
        and (person.id == swap.requester_id or _manages(session, swap, person))
    )
    warnings = warnings_for(session, swap, person.handle, now=now) if may_accept and person else []
    return View(swap, status, warnings, may_accept, may_cancel)


def _not_open(swap: ShiftSwap, status: SwapStatus) -> Conflict:
    if status is SwapStatus.ACCEPTED and swap.taker is not None:
        return Conflict(f"swap request {swap.id} was already taken by @{swap.taker.handle}")
    if status is SwapStatus.EXPIRED:
        return Conflict(f"swap request {swap.id} expired: its range is over")
    return Conflict(f"swap request {swap.id} is {status.value}, no longer open")


def accept(session: Session, swap_id: int, *, taker: str, now: datetime) -> ShiftSwap:
    """Make `taker` cover the rest of request `swap_id` as an override; notify the requester.

    Raises Conflict when it is no longer open (taken, cancelled, expired), PermissionDenied when
    `taker` is not a teammate or is the requester.
    """
    swap = store.get(session, swap_id)
    person = _acting_as(session, taker)
    status = core.status_at(swap.status, swap.end, now)
    if status is not SwapStatus.OPEN:
        raise _not_open(swap, status)
    schedule = swap.schedule
    if person.id == swap.requester_id:
        raise PermissionDenied(
            f"@{person.handle} cannot take their own swap request {swap.id}; cancel it instead"
        )
    if not _is_teammate(session, swap, person):
        who = f"members of team {_team(schedule)}" if schedule.team else "people in its layers"
        raise PermissionDenied(
            f"@{person.handle} cannot cover shifts of {schedule.name}: only its teammates "
            f"({who}) may"
        )
    _require(session, Need.RESPOND, schedule, f"cover shifts of {schedule.name}")
    low, high = core.covered_range(swap.start, swap.end, now)
    # First: the loser of a race waits here, then finds the request taken and does nothing.
    if not store.decide(session, swap.id, SwapStatus.ACCEPTED, now=now, taker_id=person.id):
        session.refresh(swap)
        raise _not_open(swap, core.status_at(swap.status, swap.end, now))
    requester = swap.requester
    _hand_over(schedule, requester, low, high, now=now, actor=person.handle)
    override = ScheduleOverride(
        user=person,
        start=low,
        end=high,
        source=SOURCE,
        note=f"covers @{requester.handle} (swap request {swap.id})",
        created_by=person.handle,
        created_at=now,
    )
    schedule.overrides.append(override)
    schedule.updated_at = now
    session.flush()
    session.execute(
        update(ShiftSwap)
        .where(ShiftSwap.id == swap.id)
        .values(override_id=override.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(swap)
    _record(
        session,
        swap,
        {
            "status": [SwapStatus.OPEN.value, SwapStatus.ACCEPTED.value],
            "taker": [None, person.handle],
            "override": [None, override.id],
        },
    )
    span = f"{_when(low, requester)} to {_when(high, requester)}"
    _notify(
        session,
        swap,
        requester,
        "accepted",
        f"[SWAP] @{person.handle} covers your shift on {schedule.name}: {span}",
        f"@{person.handle} accepted swap request {swap.id} and is on call on {schedule.name} "
        f"in your place from {span}.",
        now=now,
    )
    return swap


def _hand_over(
    schedule: Schedule, requester: User, low: datetime, high: datetime, *, now: datetime, actor: str
) -> None:
    """Clip the requester's own overrides out of [low, high): overlapping overrides all count,
    so without this the requester would stay on call beside the taker. Overrides from the config
    file are left alone: the next `tocsin apply` would restore them anyway."""
    for override in list(schedule.overrides):
        if (
            override.user_id != requester.id
            or override.source == "config"
            or override.end <= low
            or override.start >= high
        ):
            continue
        if override.end > high:
            schedule.overrides.append(
                ScheduleOverride(
                    user=requester,
                    start=high,
                    end=override.end,
                    source=override.source,
                    note=override.note,
                    created_by=actor,
                    created_at=now,
                )
            )
        if override.start < low:
            override.end = low
        else:
            schedule.overrides.remove(override)


def cancel(session: Session, swap_id: int, *, actor: str, now: datetime) -> ShiftSwap:
    """Withdraw open request `swap_id`: its requester may, and whoever manages the schedule."""
    swap = store.get(session, swap_id)
    person = users.find(session, actor)
    status = core.status_at(swap.status, swap.end, now)
    own = person is not None and person.id == swap.requester_id
    if not own and not _manages(session, swap, person):
        raise PermissionDenied(
            f"@{actor.lstrip('@')} cannot cancel swap request {swap.id}: only @"
            f"{swap.requester.handle}, who asked, and administrators of {swap.schedule.name} may"
        )
    if status is not SwapStatus.OPEN:
        raise _not_open(swap, status)
    if not store.decide(session, swap.id, SwapStatus.CANCELLED, now=now):
        session.refresh(swap)
        raise _not_open(swap, core.status_at(swap.status, swap.end, now))
    session.refresh(swap)
    _record(session, swap, {"status": [SwapStatus.OPEN.value, SwapStatus.CANCELLED.value]})
    return swap


@dataclass(frozen=True, slots=True)
class Board:
    """A schedule's swaps as one person sees them on its page, with their own coming shifts
    (which they may ask cover for), in their time zone."""

    views: list[View]
    shifts: list[tuple[datetime, datetime]]
    zone: str

    def at(self, instant: datetime) -> str:
        """Return `instant` in the viewer's time zone, as the page shows it."""
        return instant.astimezone(ZoneInfo(self.zone)).strftime("%a %Y-%m-%d %H:%M %Z")

    def local(self, instant: datetime) -> str:
        """Return `instant` as a datetime-local field's value in the viewer's time zone."""
        return instant.astimezone(ZoneInfo(self.zone)).strftime("%Y-%m-%dT%H:%M")


def board(
    session: Session, schedule_name: str, viewer: str, *, now: datetime, days: int = 7
) -> Board:
    """Return the schedule's requests of the last and next `days` days as `viewer` sees them,
    and `viewer`'s own on-call time in the next `days` days."""
    schedule = schedules.get_by_name(session, schedule_name)
    person = users.find(session, viewer)
    since = now - timedelta(days=days)
    found = [s for s in store.list_(session, schedule_id=schedule.id, limit=50) if s.end > since]
    shifts: list[tuple[datetime, datetime]] = []
    if person is not None:
        final = sched.final_shifts(schedules.to_core(schedule), now, now + timedelta(days=days))
        shifts = [(s.start, s.end) for s in final if person.handle in s.users]
    zone = person.time_zone if person is not None else "UTC"
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        zone = "UTC"
    return Board([view(session, s, viewer, now=now) for s in found], shifts, zone)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None


def to_json(seen: View) -> dict[str, Any]:
    """Return a request as the API and `--json` show it, with the viewer's warnings."""
    swap = seen.swap
    return {
        "id": swap.id,
        "schedule": swap.schedule.name,
        "requester": swap.requester.handle,
        "start": _iso(swap.start),
        "end": _iso(swap.end),
        "note": swap.note,
        "status": seen.status.value,
        "taker": swap.taker.handle if swap.taker is not None else None,
        "override_id": swap.override_id,
        "created_at": _iso(swap.created_at),
        "decided_at": _iso(swap.decided_at),
        "warnings": [{"kind": w.kind.value, "message": w.message} for w in seen.warnings],
        "may_accept": seen.may_accept,
        "may_cancel": seen.may_cancel,
    }
