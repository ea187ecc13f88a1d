"""Schedules in the database: layers and overrides, turned into the core's pure schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core import schedule as sched
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store import users
from tocsin.store.models import Schedule, ScheduleLayer, ScheduleOverride


class LayerRow(TypedDict):
    """A layer's values as `ScheduleLayer` stores them, its position aside."""

    name: str
    rotation: str
    start: str
    time_zone: str | None
    participants: list[str]
    restrictions: list[dict[str, Any]]


class ConfigOverride(NamedTuple):
    """An override the config file sets: `user` on call from `start` to `end` (UTC)."""

    user: str
    start: datetime
    end: datetime
    note: str


def list_(session: Session) -> list[Schedule]:
    """Return every schedule, by name."""
    return list(session.scalars(select(Schedule).order_by(Schedule.name)))


def find(session: Session, name: str) -> Schedule | None:
    """Return the schedule `name`, or None."""
    return session.scalar(select(Schedule).where(Schedule.name == name))


def get_by_name(session: Session, name: str) -> Schedule:
    """Return the schedule `name`, or raise NotFound listing the known ones."""
    found = find(session, name)
    if found is None:
        known = ", ".join(s.name for s in list_(session)) or "none yet"
        raise NotFound(f"unknown schedule {name!r} (schedules: {known})")
    return found


def to_core(schedule: Schedule) -> sched.Schedule:
    """Return the stored schedule as the core's pure value (its rows were checked on the way in)."""
    return sched.Schedule(
        schedule.name,
        schedule.time_zone,
        tuple(
            sched.Layer(
                name=layer.name,
                participants=tuple(layer.participants),
                rotation=sched.parse_rotation(layer.rotation),
                start=datetime.fromisoformat(layer.start),
                restrictions=tuple(
                    sched.parse_restriction(r.get("days"), r["from"], r["to"])
                    for r in layer.restrictions
                ),
                time_zone=layer.time_zone,
            )
            for layer in schedule.layers
        ),
        tuple(
            sched.Override(o.user.handle, o.start.astimezone(UTC), o.end.astimezone(UTC))
            for o in schedule.overrides
        ),
    )


def _layer_row(layer: ScheduleLayer) -> LayerRow:
    return LayerRow(
        name=layer.name,
        rotation=layer.rotation,
        start=layer.start,
        time_zone=layer.time_zone,
        participants=list(layer.participants),
        restrictions=list(layer.restrictions),
    )


def save(
    session: Session,
    *,
    name: str,
    time_zone: str,
    description: str,
    layers: list[LayerRow],
    overrides: list[ConfigOverride],
    actor: str,
    now: datetime,
) -> str | None:
    """Create or update schedule `name`; return "create/update schedule X (fields)", or None.

    `overrides` replace the schedule's config-sourced overrides; overrides added by people
    (CLI, API, web) are kept.
    """
    existing = find(session, name)
    if existing is None:
        schedule = Schedule(
            name=name,
            time_zone=time_zone,
            description=description,
            created_at=now,
            updated_at=now,
            layers=_layer_rows(layers),
        )
        session.add(schedule)
        _replace_config_overrides(session, schedule, overrides, actor=actor, now=now)
        session.flush()
        return f"create schedule {name}"
    changed = []
    if existing.time_zone != time_zone:
        existing.time_zone = time_zone
        changed.append("time_zone")
    if existing.description != description:
        existing.description = description
        changed.append("description")
    if [_layer_row(layer) for layer in existing.layers] != layers:
        existing.layers = _layer_rows(layers)
        changed.append("layers")
    current_overrides = sorted(
        (o.user.handle, o.start, o.end) for o in existing.overrides if o.source == "config"
    )
    if current_overrides != sorted((o.user, o.start, o.end) for o in overrides):
        _replace_config_overrides(session, existing, overrides, actor=actor, now=now)
        changed.append("overrides")
    if not changed:
        return None
    existing.updated_at = now
    session.flush()
    return f"update schedule {name} ({', '.join(changed)})"


def _layer_rows(layers: list[LayerRow]) -> list[ScheduleLayer]:
    return [ScheduleLayer(position=i, **layer) for i, layer in enumerate(layers)]


def _replace_config_overrides(
    session: Session,
    schedule: Schedule,
    overrides: list[ConfigOverride],
    *,
    actor: str,
    now: datetime,
) -> None:
    schedule.overrides = [o for o in schedule.overrides if o.source != "config"]
    for override in overrides:
        schedule.overrides.append(
            ScheduleOverride(
                user=users.get_by_handle(session, override.user),
                start=override.start,
                end=override.end,
                source="config",
                note=override.note,
                created_by=actor,
                created_at=now,
            )
        )


def add_override(
    session: Session,
    name: str,
    *,
    user: str,
    start: datetime,
    end: datetime,
    note: str = "",
    actor: str,
    now: datetime,
) -> ScheduleOverride:
    """Put `user` on call on schedule `name` from `start` to `end`, above every layer."""
    schedule = get_by_name(session, name)
    person = users.get_by_handle(session, user)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("override times need a time zone")
    if end <= start:
        raise InvalidInput(
            f"schedule {name!r}: override for {user!r} ends at {end.isoformat()}, "
            f"not after its start {start.isoformat()}"
        )
    if end - start > timedelta(days=366):
        raise InvalidInput(f"schedule {name!r}: an override may last at most a year")
    override = ScheduleOverride(
        user=person,
        start=start,
        end=end,
        source="manual",
        note=note.strip(),
        created_by=actor,
        created_at=now,
    )
    schedule.overrides.append(override)
    schedule.updated_at = now
    session.flush()
    return override


def list_overrides(
    session: Session, name: str, *, since: datetime | None = None
) -> list[ScheduleOverride]:
    """Return the schedule's overrides (those ending after `since`, if given), by start."""
    schedule = get_by_name(session, name)
    return [o for o in schedule.overrides if since is None or o.end > since]


def remove_override(session: Session, name: str, override_id: int, *, now: datetime) -> None:
    """Delete override `override_id` of schedule `name`."""
    schedule = get_by_name(session, name)
    found = next((o for o in schedule.overrides if o.id == override_id), None)
    if found is None:
        raise NotFound(f"schedule {name!r} has no override {override_id}")
    if found.source == "config":
        raise Conflict(
            f"override {override_id} comes from the config file; remove it there and apply"
        )
    schedule.overrides.remove(found)
    schedule.updated_at = now
    session.flush()


def on_call_now(session: Session, at: datetime) -> list[tuple[Schedule, tuple[str, ...]]]:
    """Return every schedule with who is on call on it at `at`."""
    return [(s, sched.on_call(to_core(s), at)) for s in list_(session)]
