"""Schedules in the config file's shape: checked, stored, and read back as the file writes them.

The file, `POST /schedules` and `tocsin apply` all describe a schedule as a `ScheduleSpec`; the
store keeps plain rows. This is where one becomes the other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import LayerSpec, OverrideSpec, RestrictionSpec, ScheduleSpec, build_schedule
from tocsin.core import schedule as sched
from tocsin.errors import InvalidInput
from tocsin.store import schedules as store
from tocsin.store import teams
from tocsin.store.models import Schedule, User
from tocsin.store.schedules import ConfigOverride, LayerRow


def to_spec(schedule: Schedule, *, overrides: bool = True) -> ScheduleSpec:
    """Return the stored schedule in the config file's shape."""
    return ScheduleSpec(
        name=schedule.name,
        time_zone=schedule.time_zone,
        team=schedule_team(schedule),
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


def schedule_team(schedule: Schedule) -> str | None:
    """Return the slug of the team that owns `schedule`, if one does."""
    return schedule.team.slug if schedule.team is not None else None


def check_spec(session: Session, spec: ScheduleSpec) -> sched.Schedule:
    """Return the core schedule of `spec`, or raise InvalidInput listing every problem."""
    known_users = set(session.scalars(select(User.handle)))
    built, problems = build_schedule(spec, known_users=known_users)
    if built is None:
        raise InvalidInput.of(problems)
    return built


def put(
    session: Session, spec: ScheduleSpec, *, actor: str, now: datetime, own: bool = True
) -> str | None:
    """Create or update a schedule from `spec`; return "create/update schedule X", or None.

    The overrides in `spec` replace the schedule's config-sourced overrides; overrides added by
    people (CLI, API, web) are kept. With `own`, the schedule belongs to `spec.team` (which
    must exist); `tocsin apply` sets owners once the file's teams exist (`set_team`).
    """
    core = check_spec(session, spec)
    team_id = None
    if own and spec.team is not None:
        team_id = teams.get_by_slug(session, spec.team).id
    change = store.save(
        session,
        name=spec.name,
        time_zone=spec.time_zone,
        description=spec.description,
        layers=[_layer_row(layer) for layer in spec.layers],
        overrides=[
            ConfigOverride(override.user, override.start, override.end, raw.note)
            for override, raw in zip(core.overrides, spec.overrides, strict=True)
        ],
        actor=actor,
        now=now,
    )
    if own and set_team(session, spec.name, team_id) and change is None:
        change = f"update schedule {spec.name} (team)"
    return change


def set_team(session: Session, name: str, team_id: int | None) -> bool:
    """Make team `team_id` (None: no team) the owner of schedule `name`; return if it changed."""
    schedule = store.get_by_name(session, name)
    if schedule.team_id == team_id:
        return False
    schedule.team_id = team_id
    session.flush()
    return True


def _layer_row(layer: LayerSpec) -> LayerRow:
    return LayerRow(
        name=layer.name,
        rotation=str(sched.parse_rotation(layer.rotation)),
        start=datetime.fromisoformat(layer.start).isoformat(timespec="minutes"),
        time_zone=layer.time_zone,
        participants=[p.lstrip("@") for p in layer.participants],
        restrictions=[r.model_dump(by_alias=True, exclude_none=True) for r in layer.restrictions],
    )
