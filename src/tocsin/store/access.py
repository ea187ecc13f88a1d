"""Enforcing team roles on every write, whichever interface makes it.

The CLI (with a token), the API, the web UI and chat say who is acting with `act_for`; from then
on the session itself refuses what that principal may not do (`tocsin.core.access` says what
that is), so no code path can forget a check:

- each flush that touches an incident (its status, roles, timeline, updates, postmortem, action
  items, alerts) is refused unless the principal may respond to one of the incident's teams;
- the commit is refused if the transaction created, changed or deleted configuration the
  principal may not: it looks at what the audit log is about to record, with the owner teams
  before and after, so a service moved from one team to another needs both, and a schedule the
  transaction creates and then hands to a team is judged as it ends up.

A session nobody named (the engine, ingestion, the host's own CLI) is not checked; nor is an
administrator acting without a team token, who may do everything.

References across teams: a label route into another service opens incidents there, so it needs
the right to manage that service; an escalation level (or a service's policy) may name any
team's schedule or people, since asking another team for help is what escalation is for. The
alert pipeline writes with SQL statements the listeners never see: acknowledging or resolving
an alert by hand is checked explicitly (`require_response_to_alert`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import event, select
from sqlalchemy import inspect as inspect_
from sqlalchemy.orm import Session

from tocsin.core.access import ADMIN, NEEDS, Kind, Need, Principal
from tocsin.core.audit import Action
from tocsin.errors import PermissionDenied
from tocsin.store import audit
from tocsin.store.models import (
    ActionItem,
    Alert,
    ApiToken,
    ChatLink,
    ContactMethod,
    EscalationPolicy,
    Incident,
    IncidentRole,
    IncidentService,
    Integration,
    MaintenanceWindow,
    Notification,
    NotificationRule,
    Postmortem,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    Service,
    SeverityLevel,
    StatusComponent,
    StatusUpdate,
    Team,
    TeamMember,
    TimelineEvent,
    User,
    Webhook,
)

PRINCIPAL = "tocsin.access.principal"  # Session.info: the Principal whose writes are checked


def act_for(session: Session, principal: Principal) -> None:
    """Check every later write of `session` against what `principal` may do."""
    session.info[PRINCIPAL] = principal


def principal_in(session: Session) -> Principal | None:
    """Return the principal the session acts for, if one was named."""
    found = session.info.get(PRINCIPAL)
    return found if isinstance(found, Principal) else None


def team_roles(session: Session, user_id: int) -> dict[str, str]:
    """Return {team slug: role} of the user's teams."""
    return team_roles_of(session, [user_id]).get(user_id, {})


def team_roles_of(session: Session, user_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Return {user id: {team slug: role}} for the users `user_ids` that are in a team."""
    rows = session.execute(
        select(TeamMember.user_id, Team.slug, TeamMember.role)
        .join(Team, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id.in_(set(user_ids)))
        .order_by(Team.slug)
    )
    found: dict[int, dict[str, str]] = {}
    for user_id, slug, role in rows:
        found.setdefault(user_id, {})[slug] = role
    return found


def principal_of(session: Session, user: User, *, token_team: str | None = None) -> Principal:
    """Return what `user` may do, through a token of `token_team` if given."""
    teams = {} if user.role == ADMIN and token_team is None else team_roles(session, user.id)
    return Principal(user.handle, user.role, teams, token_team, user.id)


def principal_of_token(session: Session, token: ApiToken, scopes: list[str]) -> Principal:
    """Return what a request made with `token` may do: its user's, within its team and its
    `scopes` (as `tokens.authenticate_token` returns them)."""
    team = token.team.slug if token.team is not None else None
    principal = principal_of(session, token.user, token_team=team)
    return replace(principal, scopes=frozenset(scopes))


def slugs(session: Session, team_ids: Iterable[int | None]) -> list[str | None]:
    """Return the slugs of teams `team_ids` (None stays None: what no team owns)."""
    wanted = {i for i in team_ids if i is not None}
    found = (
        dict(session.execute(select(Team.id, Team.slug).where(Team.id.in_(wanted))).all())
        if wanted
        else {}
    )
    return [None if i is None else found.get(i, f"#{i}") for i in team_ids]


def incident_teams(session: Session, incident_ids: Iterable[int]) -> dict[int, set[str | None]]:
    """Return the teams owning the services of each incident ({None} if none does)."""
    ids = set(incident_ids)
    found: dict[int, set[str | None]] = {i: set() for i in ids}
    if ids:
        rows = session.execute(
            select(IncidentService.incident_id, Service.team_id)
            .join(Service, Service.id == IncidentService.service_id)
            .where(IncidentService.incident_id.in_(ids))
        )
        pairs = list(rows)
        names = dict(zip([t for _, t in pairs], slugs(session, [t for _, t in pairs]), strict=True))
        for incident_id, team_id in pairs:
            found[incident_id].add(names[team_id])
    return {i: teams or {None} for i, teams in found.items()}


# --- incidents: checked at each flush ---------------------------------------------------------

_OF_INCIDENT = (IncidentService, IncidentRole, TimelineEvent, StatusUpdate, Postmortem, ActionItem)


@event.listens_for(Session, "before_flush")
def _check_incidents(session: Session, _context: Any, _instances: Any) -> None:
    principal = principal_in(session)
    if principal is None or principal.may(Need.RESPOND, _EVERYWHERE):
        return
    incidents: dict[int, str] = {}
    new_ones: list[Incident] = []
    with session.no_autoflush:
        for obj in [*session.new, *session.dirty, *session.deleted]:
            # An incident counts when its lists change too: a timeline entry appended to
            # `incident.events` has no incident id of its own until the flush.
            collections = isinstance(obj, Incident)
            if obj in session.dirty and not session.is_modified(
                obj, include_collections=collections
            ):
                continue
            if isinstance(obj, Incident):
                if obj.id is None:
                    new_ones.append(obj)
                else:
                    incidents[obj.id] = f"INC-{obj.number}"
            elif isinstance(obj, _OF_INCIDENT):
                if obj.incident_id is not None:
                    incidents.setdefault(obj.incident_id, "")
                elif isinstance(obj, ActionItem) and obj not in session.new:
                    incidents.setdefault(0, "")
        owners = incident_teams(session, [i for i in incidents if i])
        if 0 in incidents:
            owners[0] = {None}
        for incident_id, teams in owners.items():
            if not may_respond_to_incident(session, principal, incident_id, teams):
                name = incidents[incident_id] or _incident_name(session, incident_id)
                raise PermissionDenied(principal.refusal(Kind.INCIDENT, name, teams, Need.RESPOND))
        for incident in new_ones:
            services = [
                link.service or session.get(Service, link.service_id) for link in incident.services
            ]
            teams = set(slugs(session, [s.team_id for s in services if s is not None])) or {None}
            if not principal.may(Need.RESPOND, teams):
                raise PermissionDenied(
                    principal.refusal(Kind.INCIDENT, incident.title, teams, Need.RESPOND)
                )


def may_respond_to_incident(
    session: Session,
    principal: Principal,
    incident_id: int,
    teams: Iterable[str | None] | None = None,
) -> bool:
    """Return whether `principal` may act on incident `incident_id` (of `teams`, if known):
    through a role in one of its teams, or because they were paged for it or hold a role in it.
    The incident page enables its forms by the same answer."""
    if teams is None:
        teams = incident_teams(session, [incident_id])[incident_id]
    return principal.may(Need.RESPOND, teams) or _involved(session, principal, incident_id)


def require_response_to_alert(session: Session, alert: Alert) -> None:
    """Raise PermissionDenied unless the session's principal may acknowledge or resolve `alert`
    by hand: through its service's team, or its incident's.

    The check is explicit because the alert pipeline writes with SQL statements, which the
    session's listeners never see.
    """
    principal = principal_in(session)
    if principal is None or principal.may(Need.RESPOND, _EVERYWHERE):
        return
    service = session.get(Service, alert.service_id)
    teams = slugs(session, [service.team_id if service is not None else None])
    if principal.may(Need.RESPOND, teams):
        return
    if alert.incident_id is not None and may_respond_to_incident(
        session, principal, alert.incident_id
    ):
        return
    raise PermissionDenied(principal.refusal(Kind.ALERT, str(alert.id), teams, Need.RESPOND))


_EVERYWHERE: tuple[str | None, ...] = (None,)  # may respond to what no team owns: to all


def _involved(session: Session, principal: Principal, incident_id: int) -> bool:
    """Return whether the principal was paged for the incident or holds a role in it: whoever
    is paged, or made a responder, may act on it, whichever team owns it."""
    if not incident_id or principal.user_id is None or principal.token_team is not None:
        return False
    paged = select(Notification.id).where(
        Notification.incident_id == incident_id,
        Notification.user_id == principal.user_id,
        Notification.kind == "page",
    )
    holds = select(IncidentRole.id).where(
        IncidentRole.incident_id == incident_id,
        IncidentRole.user_id == principal.user_id,
        IncidentRole.removed_at.is_(None),
    )
    return session.scalar(paged.union_all(holds).limit(1)) is not None


def _incident_name(session: Session, incident_id: int) -> str:
    number = session.scalar(select(Incident.number).where(Incident.id == incident_id))
    return f"INC-{number}" if number is not None else "an action item"


# --- configuration: checked at commit ---------------------------------------------------------

# For each model: the kind of permission it takes, and where its owner team is (a column of its
# own, or its parent's). Models not listed (people, tokens, contact methods) have gates of their
# own: a person manages their own contact methods, administrators everyone's.
_PARENT: dict[type[Any], tuple[Kind, type[Any] | None, str]] = {
    Service: (Kind.SERVICE, None, "team_id"),
    Schedule: (Kind.SCHEDULE, None, "team_id"),
    EscalationPolicy: (Kind.POLICY, None, "team_id"),
    ScheduleLayer: (Kind.SCHEDULE, Schedule, "schedule_id"),
    ScheduleOverride: (Kind.OVERRIDE, Schedule, "schedule_id"),
    Integration: (Kind.INTEGRATION, Service, "service_id"),
    MaintenanceWindow: (Kind.MAINTENANCE, Service, "service_id"),
    Team: (Kind.TEAM, None, ""),
    TeamMember: (Kind.TEAM, None, ""),
    Webhook: (Kind.TEAM, None, ""),
    SeverityLevel: (Kind.TEAM, None, ""),
    StatusComponent: (Kind.TEAM, None, ""),
}


# A person's own rows: everyone keeps their own contact methods, notification rules, chat links
# and tokens, and their own name and time zone; everyone else's are administrators' to change.
_PERSONAL: dict[type[Any], str] = {
    User: "id",
    ApiToken: "user_id",
    ContactMethod: "user_id",
    NotificationRule: "user_id",
    ChatLink: "user_id",
}
_ADMINISTERED = frozenset({"role", "disabled_at", "sso_subject", "handle"})


def check(session: Session) -> None:
    """Raise PermissionDenied listing every change of the transaction so far that the session's
    principal may not make. The commit runs it; so does `tocsin apply --dry-run`, whose
    savepoint is rolled back before any commit, so it says what the apply would refuse."""
    refused = refusals(session)
    if refused:
        raise PermissionDenied.of(refused)


def refusals(session: Session) -> list[str]:
    """Return why the session's principal may not make each change of the transaction so far."""
    principal = principal_in(session)
    if principal is None or principal.unrestricted:
        return []
    refused = []
    for change in audit.noted(session):
        owner_column = _PERSONAL.get(type(change.obj))
        if owner_column is not None:
            if not _own(principal, change, owner_column):
                refused.append(
                    f"@{principal.handle} may not change {change.kind} {change.key!r}: "
                    "only administrators change other people, their roles and their tokens"
                )
            continue
        found = _PARENT.get(type(change.obj))
        if found is None:
            continue
        kind, parent, column = found
        owners = _owners(session, change, parent, column)
        if owners is None:
            continue  # its parent went in this transaction, and was checked itself
        shown = change.kind if parent is not None or not column else kind
        refusal = principal.refusal_of_any(NEEDS[kind], shown, change.key, owners)
        if refusal is not None:
            refused.append(refusal)
        elif isinstance(change.obj, Service) and change.action is not Action.DELETED:
            refused += _route_refusals(session, principal, change)
    return refused


def _route_refusals(session: Session, principal: Principal, change: audit.Noted) -> list[str]:
    """Return why the principal may not route alerts into the services a change newly names.

    A label route sends alerts to another service, whose team they then page: a route into a
    service needs the right to manage that service too.
    """
    if change.action is Action.CHANGED and "routes" not in change.before:
        return []

    def targets(routes: Any) -> set[str]:
        return {str(r["service"]) for r in routes or () if r.get("service")}

    added = targets(change.obj.routes) - targets(change.before.get("routes"))
    added.discard(change.obj.slug)
    if not added:
        return []
    rows = session.execute(select(Service.slug, Service.team_id).where(Service.slug.in_(added)))
    pairs = rows.all()
    teams = slugs(session, [team_id for _, team_id in pairs])
    found = []
    for (target, _), team in zip(pairs, teams, strict=True):
        refusal = principal.refusal_of_any(
            Need.MANAGE, Kind.ROUTE, f"{change.obj.slug} to {target}", [team]
        )
        if refusal is not None:
            found.append(refusal)
    return found


def _own(principal: Principal, change: audit.Noted, column: str) -> bool:
    """Return whether a changed personal row is the principal's own, changed as they may."""
    if change.action is Action.DELETED:
        user_id = change.before.get(column)
    else:
        user_id = getattr(change.obj, column)
    if user_id is None or user_id != principal.user_id or not principal.writes:
        return False
    if isinstance(change.obj, User):
        return change.action is Action.CHANGED and not (_ADMINISTERED & set(change.before))
    return principal.token_team is None or not isinstance(change.obj, ApiToken)


def _owners(
    session: Session, change: audit.Noted, parent: type[Any] | None, column: str
) -> list[str | None] | None:
    """Return the owner teams of a changed object, before and after (None: its parent is gone)."""
    if not column:
        return [None]
    if parent is None:
        ids = [] if change.action is Action.DELETED else [getattr(change.obj, column)]
        if column in change.before:
            ids.append(change.before[column])
        return slugs(session, dict.fromkeys(ids))
    parent_id = (
        change.before.get(column)
        if change.action is Action.DELETED
        else getattr(change.obj, column)
    )
    row = session.get(parent, parent_id) if parent_id is not None else None
    if row is None or inspect_(row).deleted or inspect_(row).was_deleted:
        return None
    return slugs(session, [row.team_id])


# Before the audit log's own listener, so a refused commit records nothing.
event.listen(Session, "before_commit", check, insert=True)
