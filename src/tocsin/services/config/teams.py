"""`teams:`, who owns services together, members in order, and the schedule that answers for
the team when an escalation level names it (`team:SLUG`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec
from tocsin.services.config.base import Change, Context, Reference, Section
from tocsin.store import services, teams
from tocsin.store.models import Team


class Teams(Section[Team]):
    name = "teams"
    kind = "team"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [t.slug for t in spec.teams]

    def rows(self, session: Session) -> list[Team]:
        return teams.list_(session)

    def key(self, row: Team) -> str:
        return row.slug

    def validate(self, context: Context) -> list[str]:
        problems: list[str] = []
        known_users, known_schedules = context.known("users"), context.known("schedules")
        for i, team in enumerate(context.spec.teams):
            if team.schedule is not None and team.schedule not in known_schedules:
                problems.append(
                    context.problem(f"teams[{i}].schedule", f"unknown schedule {team.schedule!r}")
                )
            if not services.SLUG.match(team.slug):
                problems.append(
                    context.problem(f"teams[{i}].slug", f"{team.slug!r} is not a valid slug")
                )
            if team.name is not None and not team.name:
                problems.append(context.problem(f"teams[{i}].name", "the name must not be empty"))
            seen: set[str] = set()
            for j, member in enumerate(team.members):
                handle = member.lstrip("@")
                if handle not in known_users:
                    problems.append(
                        context.problem(f"teams[{i}].members[{j}]", f"unknown user {member!r}")
                    )
                elif handle in seen:
                    problems.append(
                        context.problem(f"teams[{i}].members[{j}]", f"{member!r} is listed twice")
                    )
                seen.add(handle)
            for j, admin in enumerate(team.admins):
                if admin.lstrip("@") not in seen:
                    problems.append(
                        context.problem(
                            f"teams[{i}].admins[{j}]",
                            f"{admin!r} is not in the team's members; list them there too",
                        )
                    )
        return problems

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        session = context.session
        for spec in context.spec.teams:
            members = [m.lstrip("@") for m in spec.members]
            found = teams.find(session, spec.slug)
            if found is None:
                teams.create(
                    session,
                    slug=spec.slug,
                    name=spec.name,
                    members=members,
                    admins=spec.admins,
                    schedule=spec.schedule,
                    now=now,
                )
                changes.append(Change("create", "team", spec.slug))
                continue
            changed = teams.update(
                session,
                found,
                name=spec.name or spec.slug,
                members=members,
                admins=spec.admins,
                schedule=spec.schedule,
            )
            if changed:
                changes.append(Change("update", "team", spec.slug, tuple(changed)))
        return changes

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_team(t) for t in self.rows(session)]

    def references(self, session: Session) -> Iterable[Reference]:
        for team in self.rows(session):
            for handle in teams.member_handles(team):
                yield Reference(f"{self.kind} {team.slug}", "users", handle)
            schedule = teams.schedule_name(team)
            if schedule is not None:
                yield Reference(f"{self.kind} {team.slug}", "schedules", schedule)


def _team(team: Team) -> dict[str, Any]:
    found: dict[str, Any] = {"slug": team.slug}
    if team.name != team.slug:
        found["name"] = team.name
    found["members"] = teams.member_handles(team)
    admins = teams.admin_handles(team)
    if admins:
        found["admins"] = admins
    schedule = teams.schedule_name(team)
    if schedule is not None:
        found["schedule"] = schedule
    return found
