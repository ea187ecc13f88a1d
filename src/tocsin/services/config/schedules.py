"""`schedules:`, who is on call when: layers, and overrides the file sets."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec, build_schedule
from tocsin.core import schedule as sched
from tocsin.engine.work import announce_work
from tocsin.services import schedules as schedule_specs
from tocsin.services.config.base import Change, Context, Reference, Section, parsed
from tocsin.store import schedules, teams
from tocsin.store.models import Schedule

SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,20}")


class Schedules(Section[Schedule]):
    name = "schedules"
    kind = "schedule"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [s.name for s in spec.schedules]

    def rows(self, session: Session) -> list[Schedule]:
        return schedules.list_(session)

    def key(self, row: Schedule) -> str:
        return row.name

    def validate(self, context: Context) -> list[str]:
        problems: list[str] = []
        known_users = context.known("users")
        for i, schedule in enumerate(context.spec.schedules):
            if context.skips(self.name, schedule.name):
                continue
            _, found = build_schedule(
                schedule, known_users=known_users, path=f"schedules[{i}]", problem=context.problem
            )
            problems += found
            if schedule.team is not None and schedule.team not in context.known("teams"):
                problems.append(
                    context.problem(f"schedules[{i}].team", f"unknown team {schedule.team!r}")
                )
            group = schedule.slack_user_group
            if group is not None and not SLACK_GROUP.fullmatch(group):
                problems.append(
                    context.problem(
                        f"schedules[{i}].slack_user_group",
                        f"{group!r} is not a Slack user group id (like S0123ABCD)",
                    )
                )
        return problems

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        for schedule in context.spec.schedules:
            if context.skips(self.name, schedule.name):
                continue
            change = schedule_specs.put(
                context.session, schedule, actor=context.actor, now=now, own=False
            )
            if change:
                changes.append(parsed(change))
            changes += _user_group(
                context.session,
                schedule,
                created=bool(change and change.startswith("create")),
                now=now,
            )
            # A schedule that writes `overrides:` under --prune drops those added by hand.
            if context.prune and "overrides" in schedule.model_fields_set:
                changes += _prune_manual_overrides(context.session, schedule.name)
        return changes

    team_owned = True

    def finish(self, context: Context, done: list[Change]) -> list[Change]:
        """Give each schedule its team, now that the file's teams exist (a team names its
        schedule, so schedules are applied before teams). The team joins the schedule's line
        in `done` if it has one."""
        changes = []
        for schedule in context.spec.schedules:
            if context.skips(self.name, schedule.name):
                continue
            team_id = None
            if schedule.team is not None:
                team_id = teams.get_by_slug(context.session, schedule.team).id
            if not schedule_specs.set_team(context.session, schedule.name, team_id):
                continue
            at = next(
                (i for i, c in enumerate(done) if (c.kind, c.name) == (self.kind, schedule.name)),
                None,
            )
            if at is None:
                changes.append(Change("update", self.kind, schedule.name, ("team",)))
            elif done[at].action == "update":
                done[at] = replace(done[at], details=(*done[at].details, "team"))
        return changes

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_schedule(s) for s in self.rows(session)]

    def references(self, session: Session) -> Iterable[Reference]:
        for schedule in self.rows(session):
            holder = f"{self.kind} {schedule.name}"
            for layer in schedule.layers:
                for handle in layer.participants:
                    if handle != sched.GAP:
                        yield Reference(holder, "users", handle)
            for override in schedule.overrides:
                yield Reference(holder, "users", override.user.handle)


def _user_group(session: Session, spec: Any, *, created: bool, now: datetime) -> list[Change]:
    """Set the Slack user group that follows the schedule; a new one is synced at once."""
    row = schedules.get_by_name(session, spec.name)
    if row.slack_user_group == spec.slack_user_group:
        return []
    row.slack_user_group = spec.slack_user_group
    row.slack_members = None
    row.slack_sync_at = now if spec.slack_user_group else None
    announce_work(session)
    return [] if created else [Change("update", "schedule", spec.name, ("slack_user_group",))]


def _prune_manual_overrides(session: Session, name: str) -> list[Change]:
    schedule = schedules.get_by_name(session, name)
    gone = [o for o in schedule.overrides if o.source != "config"]
    if not gone:
        return []
    schedule.overrides = [o for o in schedule.overrides if o.source == "config"]
    session.flush()
    return [
        Change(
            "delete",
            "override",
            f"{name}/{o.user.handle}",
            (f"{_minute(o.start)}..{_minute(o.end)}",),
        )
        for o in gone
    ]


def _minute(at: datetime) -> str:
    return at.isoformat(timespec="minutes").replace("+00:00", "Z")


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _schedule(schedule: Schedule) -> dict[str, Any]:
    found: dict[str, Any] = {"name": schedule.name, "time_zone": schedule.time_zone}
    team = schedule_specs.schedule_team(schedule)
    if team is not None:
        found["team"] = team
    if schedule.description:
        found["description"] = schedule.description
    if schedule.slack_user_group:
        found["slack_user_group"] = schedule.slack_user_group
    found["layers"] = []
    for layer in schedule.layers:
        row: dict[str, Any] = {"name": layer.name}
        if layer.time_zone:
            row["time_zone"] = layer.time_zone
        row |= {
            "rotation": layer.rotation,
            "start": layer.start,
            "participants": list(layer.participants),
        }
        if layer.restrictions:
            row["restrictions"] = [
                {key: r[key] for key in ("days", "from", "to") if r.get(key) is not None}
                for r in layer.restrictions
            ]
        found["layers"].append(row)
    # Only the file's own overrides: those people add by hand stay out of the file, as
    # `apply` keeps them apart too.
    overrides = [o for o in schedule.overrides if o.source == "config"]
    if overrides:
        found["overrides"] = [
            {"user": o.user.handle, "from": _instant(o.start), "to": _instant(o.end)}
            | ({"note": o.note} if o.note else {})
            for o in overrides
        ]
    return found
