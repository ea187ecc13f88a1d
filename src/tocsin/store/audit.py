"""The audit log: every change to configuration and people, written in the change's transaction.

Nothing calls this to record an ordinary change. A session listener sees every object of the
kinds listed in `AUDITED` that a transaction creates, changes or deletes through the ORM, and
just before the commit writes one `AuditEntry` per object: the fields that changed, before and
after (secrets masked, references shown by name), and who did it. So the CLI, `tocsin apply`,
the API, the web UI and chat are all recorded the same way, and a change that rolls back leaves
no entry. Whoever opens a session for a person says who that is with `act_as`; a session nobody
named records "system".

Sign-ins and sign-outs, which change no configuration, are recorded with `record`. Entries are
never changed (a database trigger refuses UPDATE); `prune` deletes those older than the
retention setting, and nothing else deletes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, event, or_, select
from sqlalchemy import inspect as inspect_
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.base import NO_VALUE

from tocsin.core import audit as core
from tocsin.core import pagination
from tocsin.core.audit import Action, Actor
from tocsin.store.models import (
    ApiToken,
    AuditEntry,
    ChatLink,
    ContactMethod,
    EscalationPolicy,
    Integration,
    MaintenanceWindow,
    NotificationRule,
    PublicMaintenance,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    Service,
    SeverityLevel,
    ShiftSwap,
    StatusComponent,
    Team,
    TeamMember,
    User,
    Webhook,
)

ACTOR = "tocsin.audit.actor"  # Session.info: the Actor of the session's changes
CLOCK = "tocsin.audit.clock"  # Session.info: a callable returning now, for the entries' time
QUIET = "tocsin.audit.quiet"  # Session.info: (model, field) pairs not worth an entry now
_PENDING = "tocsin.audit.pending"
_SAVEPOINTS = "tocsin.audit.savepoints"
_GONE = "tocsin.audit.gone"  # rows deleted in the transaction, by (model, id), for their names
_LIST = "audit"


def act_as(session: Session, actor: Actor) -> None:
    """Record the session's changes as made by `actor`."""
    session.info[ACTOR] = actor


def actor_of(session: Session) -> Actor:
    """Return who the session's changes are recorded as made by."""
    actor = session.info.get(ACTOR)
    return actor if isinstance(actor, Actor) else core.SYSTEM


def _now(session: Session) -> datetime:
    clock = session.info.get(CLOCK)
    now: datetime = clock() if callable(clock) else datetime.now(UTC)
    return now


def record(
    session: Session,
    action: Action,
    object_type: str,
    object_key: str,
    changes: dict[str, list[Any]] | None = None,
) -> None:
    """Add an entry that no object change implies (a sign-in, a sign-out)."""
    session.add(_entry(session, actor_of(session), action, object_type, object_key, changes or {}))


def _entry(
    session: Session,
    actor: Actor,
    action: Action,
    object_type: str,
    object_key: str,
    changes: dict[str, list[Any]],
) -> AuditEntry:
    return AuditEntry(
        at=_now(session),
        who=actor.who[:200],
        via=actor.via.value,
        detail=actor.detail[:300],
        action=action.value,
        object_type=object_type,
        object_key=object_key[:300],
        changes=changes,
    )


# --- what is audited, and how each kind is named ----------------------------------------------


@dataclass(frozen=True)
class Audited:
    """How one model appears in the log: its kind, its name, what is secret, what is noise."""

    kind: str
    key: Callable[[Session, Any], str]
    secrets: frozenset[str] = frozenset()
    # Bookkeeping that changes by itself (last use, heartbeat pings, the last sync), not by
    # anyone's decision.
    ignore: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()  # shown as scheme and host only


def _get(session: Session, model: type[Any], row_id: Any) -> Any:
    if row_id is None:
        return None
    with session.no_autoflush:
        return session.get(model, row_id)


def _name(session: Session, model: type[Any], row_id: Any, attr: str) -> str:
    row = _get(session, model, row_id)
    if row is None:  # deleted in this transaction: named as it was
        row = session.info.get(_GONE, {}).get((model, row_id))
    return str(getattr(row, attr)) if row is not None else f"#{row_id}"


def _handle(session: Session, user_id: Any) -> str:
    return "@" + _name(session, User, user_id, "handle")


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if at is not None else "?"


_CREATED = frozenset({"created_at", "updated_at"})

AUDITED: dict[type[Any], Audited] = {
    User: Audited("user", lambda s, o: o.handle, frozenset({"password_hash"}), _CREATED),
    ApiToken: Audited(
        "token",
        lambda s, o: f"{_handle(s, o.user_id)}/{o.name}",
        frozenset({"secret_hash"}),
        _CREATED | {"last_used_at"},
    ),
    SeverityLevel: Audited("severity", lambda s, o: o.name),
    Service: Audited("service", lambda s, o: o.slug, ignore=_CREATED),
    Schedule: Audited(
        "schedule",
        lambda s, o: o.name,
        ignore=_CREATED | {"slack_members", "slack_sync_at"},
    ),
    ScheduleLayer: Audited(
        "schedule layer",
        lambda s, o: f"{_name(s, Schedule, o.schedule_id, 'name')}/{o.name or o.position}",
    ),
    ScheduleOverride: Audited(
        "override",
        lambda s, o: (
            f"{_name(s, Schedule, o.schedule_id, 'name')}/{_handle(s, o.user_id)} {_when(o.start)}"
        ),
        ignore=_CREATED,
    ),
    # Under its schedule's name, so the schedule's audit lists its swaps; accepting and cancelling
    # are guarded UPDATEs the flush never sees, recorded by `tocsin.services.swaps` itself.
    ShiftSwap: Audited(
        "swap",
        lambda s, o: f"{_name(s, Schedule, o.schedule_id, 'name')}/swap {o.id}",
        ignore=frozenset({"created_at"}),
    ),
    Integration: Audited(
        "integration",
        lambda s, o: f"{_name(s, Service, o.service_id, 'slug')}/{o.name}",
        frozenset({"key_hash"}),
        _CREATED | {"heartbeat_last_ping_at", "heartbeat_deadline_at"},
    ),
    MaintenanceWindow: Audited(
        "maintenance window",
        lambda s, o: f"{_name(s, Service, o.service_id, 'slug')}/{_when(o.start)}",
        ignore=_CREATED,
    ),
    ContactMethod: Audited(
        "contact method",
        lambda s, o: f"{_handle(s, o.user_id)}/{o.name}",
        frozenset({"secret"}),
        _CREATED,
        frozenset({"target"}),
    ),
    NotificationRule: Audited(
        "notification rule",
        lambda s, o: (
            f"{_handle(s, o.user_id)}/{_name(s, ContactMethod, o.contact_method_id, 'name')}"
            f" after {o.after_seconds}s"
        ),
    ),
    EscalationPolicy: Audited("escalation policy", lambda s, o: o.name, ignore=_CREATED),
    Team: Audited("team", lambda s, o: o.slug, ignore=_CREATED),
    TeamMember: Audited(
        "team member",
        lambda s, o: f"{_name(s, Team, o.team_id, 'slug')}/{_handle(s, o.user_id)}",
    ),
    Webhook: Audited(
        "webhook", lambda s, o: o.name, frozenset({"secret"}), _CREATED, frozenset({"url"})
    ),
    StatusComponent: Audited("status component", lambda s, o: o.slug, ignore=_CREATED),
    # `notified` is the engine's bookkeeping of what subscribers heard, nobody's decision.
    PublicMaintenance: Audited(
        "public maintenance",
        lambda s, o: f"{o.id} {o.title}",
        ignore=_CREATED | {"notified"},
    ),
    ChatLink: Audited(
        "chat link",
        lambda s, o: f"{_handle(s, o.user_id)}/{o.provider}",
        ignore=frozenset({"linked_at"}),
    ),
}

# References are shown by what people call the row they point at, not its id.
_REFERENCES: dict[str, tuple[type[Any], str]] = {
    "user_id": (User, "handle"),
    "owner_id": (User, "handle"),
    "requester_id": (User, "handle"),
    "taker_id": (User, "handle"),
    "service_id": (Service, "slug"),
    "schedule_id": (Schedule, "name"),
    "escalation_policy_id": (EscalationPolicy, "name"),
    "team_id": (Team, "slug"),
    "component_id": (StatusComponent, "slug"),
    "contact_method_id": (ContactMethod, "name"),
}


def kinds() -> list[str]:
    """Return the kinds of object the log records, for filters and help texts."""
    return sorted(spec.kind for spec in AUDITED.values())


@dataclass
class _Change:
    action: Action
    obj: Any
    spec: Audited
    before: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # fixed for a deleted object, read from the object otherwise
    unmade: bool = False  # deleted in the transaction that created it: nothing to record
    # Values the database set by itself (ON DELETE SET NULL), which the object does not show.
    forced: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True if there is nothing to record: made and unmade, or only bookkeeping changed
        (a heartbeat's ping time, a token's last use)."""
        return self.unmade or (
            self.action is Action.CHANGED and not self.before and not self.forced
        )


def _columns(obj: Any, spec: Audited) -> list[str]:
    mapper = inspect_(obj).mapper
    return [
        attr.key for attr in mapper.column_attrs if attr.key != "id" and attr.key not in spec.ignore
    ]


def _stored(obj: Any, name: str) -> Any:
    """Return the attribute's value as the database has it (before this flush's changes)."""
    state = inspect_(obj)
    history = state.attrs[name].history
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    value = state.attrs[name].loaded_value
    return None if value is NO_VALUE else value


def _shown(session: Session, name: str, value: Any) -> Any:
    target = _REFERENCES.get(name)
    if target is None or value is None:
        return value
    model, attr = target
    return _name(session, model, value, attr)


def _named(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    return {
        name.removesuffix("_id") if name in _REFERENCES else name: _shown(session, name, value)
        for name, value in values.items()
    }


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: Any, _instances: Any) -> None:
    """Note the audited objects this flush writes, with what they held before it."""
    if not (session.new or session.dirty or session.deleted):
        return
    pending: dict[int, _Change] = session.info.setdefault(_PENDING, {})
    with session.no_autoflush:
        for obj in session.new:
            spec = AUDITED.get(type(obj))
            if spec is not None and id(obj) not in pending:
                pending[id(obj)] = _Change(Action.CREATED, obj, spec)
        for obj in session.dirty:
            spec = AUDITED.get(type(obj))
            if spec is None or not session.is_modified(obj, include_collections=False):
                continue
            change = pending.setdefault(id(obj), _Change(Action.CHANGED, obj, spec))
            if change.action is Action.CHANGED:
                state = inspect_(obj)
                for name in _columns(obj, spec):
                    if name not in change.before and state.attrs[name].history.has_changes():
                        change.before[name] = _stored(obj, name)
        for obj in list(session.deleted):
            _note_deleted(session, pending, obj)


def _note_deleted(session: Session, pending: dict[int, _Change], obj: Any) -> None:
    """Note `obj` deleted, and what the database's ON DELETE rules will do to others."""
    spec = AUDITED.get(type(obj))
    if spec is None:
        return
    earlier = pending.get(id(obj))
    if earlier is not None and earlier.action is Action.DELETED:
        return  # noted already (a cascade reached it twice)
    if earlier is not None and earlier.action is Action.CREATED:
        # Made and unmade in one transaction: nothing happened.
        pending[id(obj)] = _Change(Action.DELETED, obj, spec, unmade=True)
        return
    before = {name: _stored(obj, name) for name in _columns(obj, spec)}
    if earlier is not None:
        before.update(earlier.before)
    pending[id(obj)] = _Change(Action.DELETED, obj, spec, before, spec.key(session, obj))
    identity = inspect_(obj).identity
    if identity is not None and len(identity) == 1:
        session.info.setdefault(_GONE, {})[(type(obj), identity[0])] = obj
    # Rows the database deletes or detaches with this one never pass through the ORM: look
    # them up now, while they are there, so the log has them too (a user's tokens and contact
    # methods, a service's integrations, the services of a deleted team).
    row_id = inspect_(obj).identity
    if row_id is None:
        return
    for child_model, column, rule in _dependents(type(obj)):
        for child in session.scalars(
            select(child_model).where(getattr(child_model, column) == row_id[0])
        ):
            if rule == "CASCADE":
                _note_deleted(session, pending, child)
            elif id(child) not in pending or pending[id(child)].action is Action.CHANGED:
                change = pending.setdefault(
                    id(child), _Change(Action.CHANGED, child, AUDITED[child_model])
                )
                change.before.setdefault(column, row_id[0])
                change.forced[column] = None


def _dependents(model: type[Any]) -> tuple[tuple[type[Any], str, str], ...]:
    """Return (audited model, its column, ON DELETE rule) of every foreign key into `model`'s
    table that the database acts on when a row of it goes."""
    if model in _DEPENDENTS:
        return _DEPENDENTS[model]
    table = inspect_(model).local_table
    found = []
    for child_model in AUDITED:
        for column in inspect_(child_model).local_table.columns:
            for key in column.foreign_keys:
                rule = (key.ondelete or "").upper()
                if key.column.table is table and rule in ("CASCADE", "SET NULL"):
                    found.append((child_model, column.key, rule))
    _DEPENDENTS[model] = tuple(found)
    return _DEPENDENTS[model]


_DEPENDENTS: dict[type[Any], tuple[tuple[type[Any], str, str], ...]] = {}


def _deleted_in_flush(_mapper: Any, _connection: Any, obj: Any) -> None:
    """Note a row the flush itself deleted: an orphan a relationship let go (a team member
    left out of `members`), which `session.deleted` never listed."""
    session = object_session(obj)
    spec = AUDITED.get(type(obj))
    if session is None or spec is None:
        return
    pending: dict[int, _Change] = session.info.setdefault(_PENDING, {})
    earlier = pending.get(id(obj))
    if earlier is not None:
        if earlier.action is Action.CREATED:
            pending[id(obj)] = _Change(Action.DELETED, obj, spec, unmade=True)
        return  # deleted by name, and noted before the flush
    loaded = inspect_(obj).dict
    before = {name: loaded.get(name) for name in _columns(obj, spec)}
    pending[id(obj)] = _Change(Action.DELETED, obj, spec, before)


for _model in AUDITED:
    event.listen(_model, "after_delete", _deleted_in_flush)


@dataclass(frozen=True)
class Noted:
    """One object the transaction created, changed or deleted, as the audit log sees it."""

    action: Action
    obj: Any
    kind: str
    key: str
    before: dict[str, Any]  # every column of a deleted row, the changed columns of a changed one


def noted(session: Session) -> list[Noted]:
    """Return what the transaction changed so far, as its entries will say (flushed first).

    A change that set only bookkeeping columns (last use, sync times) is not listed, nor a row
    made and unmade in the transaction.
    """
    session.flush()
    found = []
    for change in session.info.get(_PENDING, {}).values():
        if change.empty:
            continue
        key = change.key if change.key is not None else change.spec.key(session, change.obj)
        found.append(Noted(change.action, change.obj, change.spec.kind, key, dict(change.before)))
    return found


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    """Turn the transaction's noted changes into entries, committed with them."""
    if not (session.info.get(_PENDING) or session.new or session.dirty or session.deleted):
        return
    session.flush()  # what is still unflushed is noted now
    if not session.info.get(_PENDING):
        return
    pending: dict[int, _Change] = session.info.pop(_PENDING, {})
    quiet: set[tuple[type[Any], str]] = session.info.get(QUIET, set())
    # (kind, key) -> [action, spec, before, after]; a row deleted and made anew under the same
    # name (a table rewritten whole) is one change of it.
    found: dict[tuple[str, str, int], tuple[Action, Audited, dict[str, Any], dict[str, Any]]] = {}
    for change in pending.values():
        if change.empty:
            continue
        spec, obj = change.spec, change.obj
        if change.action is Action.DELETED:
            before, after = change.before, {}
        else:
            names = _columns(obj, spec)
            after = {name: getattr(obj, name) for name in names} | change.forced
            if change.action is Action.CREATED:
                before = {}
            else:
                before = {name: after[name] for name in names} | change.before
        skip = {name for model, name in quiet if isinstance(obj, model)}
        before = {k: v for k, v in before.items() if k not in skip}
        after = {k: v for k, v in after.items() if k not in skip}
        key = change.key if change.key is not None else spec.key(session, obj)
        earlier = found.get((spec.kind, key, 0))
        action = change.action
        if earlier is not None and {earlier[0], action} == {Action.CREATED, Action.DELETED}:
            if action is Action.CREATED:
                before = earlier[2]
            else:
                after = earlier[3]
            action = Action.CHANGED
        elif earlier is not None:  # two objects of one name: both are recorded
            found[(spec.kind, key, id(change))] = (action, spec, before, after)
            continue
        found[(spec.kind, key, 0)] = (action, spec, before, after)
    actor = actor_of(session)
    for (kind, key, _), (action, spec, before, after) in found.items():
        changes = core.diff(
            _named(session, before), _named(session, after), secrets=spec.secrets, urls=spec.urls
        )
        if not changes and action is Action.CHANGED:
            continue  # set to what it was
        session.add(_entry(session, actor, action, kind, key, changes))


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begins(session: Session, transaction: Any) -> None:
    """Remember what was noted when a savepoint began, to go back to if it is rolled back."""
    if transaction.nested:
        noted: dict[int, _Change] = session.info.get(_PENDING, {})
        snapshot = {
            key: replace(change, before=dict(change.before), forced=dict(change.forced))
            for key, change in noted.items()
        }
        session.info.setdefault(_SAVEPOINTS, {})[transaction] = snapshot


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: Any) -> None:
    """Go back to what was noted before the rollback: nothing at all, or what was noted when
    the savepoint rolled back began (`tocsin apply --dry-run` rolls its savepoint back)."""
    if not previous.nested:
        for name in (_PENDING, _SAVEPOINTS, _GONE):
            session.info.pop(name, None)
        return
    snapshot = session.info.get(_SAVEPOINTS, {}).pop(previous, None)
    if snapshot is not None:
        session.info[_PENDING] = snapshot


@event.listens_for(Session, "after_commit")
def _done(session: Session) -> None:
    session.info.pop(_SAVEPOINTS, None)
    session.info.pop(_GONE, None)


# --- reading and pruning ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """Which entries to list: since an instant, by whom, of which kind of object and name."""

    since: datetime | None = None
    until: datetime | None = None
    who: str | None = None
    kind: str | None = None
    key: str | None = None


def page(
    session: Session, where: Filter, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page[AuditEntry]:
    """Return one page of entries matching `where`, newest first."""
    query = select(AuditEntry)
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    if where.who:
        query = query.where(AuditEntry.who == where.who.lstrip("@"))
    if where.kind:
        query = query.where(AuditEntry.object_type == where.kind)
    if where.key:
        query = query.where(
            or_(
                AuditEntry.object_key == where.key,
                AuditEntry.object_key.startswith(where.key + "/", autoescape=True),
            )
        )
    if cursor:
        at, row_id = pagination.decode(_LIST, cursor)
        query = query.where(
            or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < row_id))
        )
    rows = list(
        session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    following = pagination.encode(_LIST, rows[-1].at, rows[-1].id) if more and rows else None
    return pagination.Page(rows, following)


def prune(session: Session, *, before: datetime, batch: int = 5000) -> int:
    """Delete up to `batch` entries older than `before`; return how many went."""
    ids: Sequence[int] = list(
        session.scalars(
            select(AuditEntry.id).where(AuditEntry.at < before).order_by(AuditEntry.id).limit(batch)
        )
    )
    if not ids:
        return 0
    session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
    return len(ids)


def oldest(session: Session) -> datetime | None:
    """Return when the oldest entry was written (None: there is none)."""
    return session.scalar(select(AuditEntry.at).order_by(AuditEntry.at).limit(1))
