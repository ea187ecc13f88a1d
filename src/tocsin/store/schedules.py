"""Schedules in the database: layers and overrides, turned into the core's pure schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import (
    LayerSpec,
    OverrideSpec,
    RestrictionSpec,
    ScheduleSpec,
    build_schedule,
)
from tocsin.core import schedule as sched
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store import users
from tocsin.store.models import Schedule, ScheduleLayer, ScheduleOverride, User


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


def to_spec(schedule: Schedule, *, overrides: bool = True) -> ScheduleSpec:
    """Return the stored schedule in the config file's shape."""
    return ScheduleSpec(
        name=schedule.name,
        time_zone=schedule.time_zone,
        description=schedule.description,
        layers=[
            LayerSpec(
                name=layer.name,
                rotation=layer.rotation,
                start=layer.start,
                participants=list(layer.participants),
                restrictions=[RestrictionSpec.model_validate(r) for r in layer.restrictions],
                time_zone=layer.time_zone,
            )
            for layer in schedule.layers
        ],
        overrides=[
            OverrideSpec(
                user=o.user.handle,
                from_=o.start.isoformat().replace("+00:00", "Z"),
                to=o.end.isoformat().replace("+00:00", "Z"),
                note=o.note,
            )
            for o in schedule.overrides
            if overrides
        ],
    )


def to_core(schedule: Schedule) -> sched.Schedule:
    """Return the stored schedule as the core's pure value."""
    built, problems = build_schedule(to_spec(schedule))
    if built is None:  # stored schedules were validated on the way in
        raise InvalidInput.of(problems)
    return built


def _known_users(session: Session) -> set[str]:
    return set(session.scalars(select(User.handle)))


def check_spec(session: Session, spec: ScheduleSpec) -> sched.Schedule:
    """Return the core schedule of `spec`, or raise InvalidInput listing every problem."""
    built, problems = build_schedule(spec, known_users=_known_users(session))
    if built is None:
        raise InvalidInput.of(problems)
    return built


def _layer_rows(spec: ScheduleSpec) -> list[ScheduleLayer]:
    return [
        ScheduleLayer(
            position=i,
            name=layer.name,
            rotation=str(sched.parse_rotation(layer.rotation)),
            start=datetime.fromisoformat(layer.start).isoformat(timespec="minutes"),
            time_zone=layer.time_zone,
            participants=[p.lstrip("@") for p in layer.participants],
            restrictions=[
                r.model_dump(by_alias=True, exclude_none=True) for r in layer.restrictions
            ],
        )
        for i, layer in enumerate(spec.layers)
    ]


def _layers_equal(current: list[ScheduleLayer], wanted: list[ScheduleLayer]) -> bool:
    fields = ("name", "rotation", "start", "time_zone", "participants", "restrictions")
    return len(current) == len(wanted) and all(
        all(getattr(a, f) == getattr(b, f) for f in fields)
        for a, b in zip(current, wanted, strict=True)
    )


def put(session: Session, spec: ScheduleSpec, *, actor: str, now: datetime) -> str | None:
    """Create or update a schedule from `spec`; return "create/update schedule X", or None.

    The overrides in `spec` replace the schedule's config-sourced overrides; overrides added by
    people (CLI, API, web) are kept.
    """
    core = check_spec(session, spec)
    existing = find(session, spec.name)
    layers = _layer_rows(spec)
    wanted_overrides = sorted((o.user, o.start, o.end) for o in core.overrides)
    if existing is None:
        schedule = Schedule(
            name=spec.name,
            time_zone=spec.time_zone,
            description=spec.description,
            created_at=now,
            updated_at=now,
            layers=layers,
        )
        session.add(schedule)
        _replace_config_overrides(session, schedule, core, spec, actor=actor, now=now)
        session.flush()
        return f"create schedule {spec.name}"
    changed = []
    if existing.time_zone != spec.time_zone:
        existing.time_zone = spec.time_zone
        changed.append("time_zone")
    if existing.description != spec.description:
        existing.description = spec.description
        changed.append("description")
    if not _layers_equal(existing.layers, layers):
        existing.layers = layers
        changed.append("layers")
    current_overrides = sorted(
        (o.user.handle, o.start, o.end) for o in existing.overrides if o.source == "config"
    )
    if current_overrides != wanted_overrides:
        _replace_config_overrides(session, existing, core, spec, actor=actor, now=now)
        changed.append("overrides")
    if not changed:
        return None
    existing.updated_at = now
    session.flush()
    return f"update schedule {spec.name} ({', '.join(changed)})"


def _replace_config_overrides(
    session: Session,
    schedule: Schedule,
    core: sched.Schedule,
    spec: ScheduleSpec,
    *,
    actor: str,
    now: datetime,
) -> None:
    schedule.overrides = [o for o in schedule.overrides if o.source != "config"]
    for override, raw in zip(core.overrides, spec.overrides, strict=True):
        schedule.overrides.append(
            ScheduleOverride(
                user=users.get_by_handle(session, override.user),
                start=override.start,
                end=override.end,
                source="config",
                note=raw.note,
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
