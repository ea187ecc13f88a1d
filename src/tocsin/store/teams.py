"""Teams: groups of people who own services together, members in the config file's order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import NotFound
from tocsin.store import schedules, users
from tocsin.store.models import Schedule, Team, TeamMember


def find(session: Session, slug: str) -> Team | None:
    """Return the team `slug`, or None."""
    return session.scalar(select(Team).where(Team.slug == slug))


def get_by_slug(session: Session, slug: str) -> Team:
    """Return the team `slug`, or raise NotFound."""
    team = find(session, slug)
    if team is None:
        raise NotFound(f"unknown team {slug!r}")
    return team


def list_(session: Session) -> list[Team]:
    """Return every team, by slug."""
    return list(session.scalars(select(Team).order_by(Team.slug)))


def member_handles(team: Team) -> list[str]:
    """Return the handles of the team's members, in order."""
    return [member.user.handle for member in team.members]


def admin_handles(team: Team) -> list[str]:
    """Return the handles of the team's administrators, in the members' order."""
    return [member.user.handle for member in team.members if member.role == "admin"]


def schedule_name(team: Team) -> str | None:
    """Return the name of the schedule whose on-call answers for the team, if it has one."""
    return team.schedule.name if team.schedule is not None else None


def create(
    session: Session,
    *,
    slug: str,
    name: str | None = None,
    members: list[str],
    admins: Sequence[str] = (),
    schedule: str | None = None,
    now: datetime,
) -> Team:
    """Create a team of known users (handles, in order), answered for by a known schedule;
    the members in `admins` administer it."""
    team = Team(slug=slug, name=(name or slug).strip(), created_at=now)
    team.members = _members(session, members, admins)
    team.schedule = _schedule(session, schedule)
    session.add(team)
    session.flush()
    return team


def update(
    session: Session,
    team: Team,
    *,
    name: str,
    members: list[str],
    admins: Sequence[str] = (),
    schedule: str | None = None,
) -> list[str]:
    """Make the team's name, members, administrators and schedule these; return the names of
    the fields that changed."""
    changed = []
    if team.name != name.strip():
        team.name = name.strip()
        changed.append("name")
    if schedule_name(team) != schedule:
        team.schedule = _schedule(session, schedule)
        changed.append("schedule")
    if member_handles(team) != [m.lstrip("@") for m in members]:
        # Replace the rows rather than renumber them: the primary key is (team, user), and
        # clearing first lets a user move position without a duplicate key on the way.
        team.members.clear()
        session.flush()
        team.members = _members(session, members, admins)
        changed.append("members")
    wanted = {h.lstrip("@") for h in admins}
    if set(admin_handles(team)) != wanted:
        for member in team.members:
            member.role = "admin" if member.user.handle in wanted else "responder"
        changed.append("admins")
    session.flush()
    return changed


def _schedule(session: Session, name: str | None) -> Schedule | None:
    return schedules.get_by_name(session, name) if name is not None else None


def _members(session: Session, handles: list[str], admins: Sequence[str]) -> list[TeamMember]:
    wanted = {h.lstrip("@") for h in admins}
    return [
        TeamMember(
            user=users.get_by_handle(session, handle),
            position=i,
            role="admin" if handle.lstrip("@") in wanted else "responder",
        )
        for i, handle in enumerate(handles)
    ]
