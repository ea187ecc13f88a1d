"""Services: the things that break, each with an owner and its own severity wording."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.store import severities, teams, users
from tocsin.store.models import Service


class _Unset:
    """Marks an argument that was not given (None means "clear it")."""


UNSET = _Unset()

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DEFINITION_KEYS = {"definition", "example"}


def validate_definitions(session: Session, definitions: dict[str, Any]) -> list[str]:
    """Return every problem with per-service severity definitions."""
    problems: list[str] = []
    scale = severities.scale(session)
    for name, text in definitions.items():
        if name not in scale.names:
            problems.append(
                f"severity_definitions: unknown severity {name!r}; valid: {', '.join(scale.names)}"
            )
            continue
        if isinstance(text, str):
            continue
        if not isinstance(text, dict) or not set(text) <= _DEFINITION_KEYS:
            problems.append(
                f"severity_definitions.{name}: give a text, or a mapping with "
                "'definition' and 'example'"
            )
    return problems


def validate_routing(
    session: Session,
    *,
    alert_rules: list[dict[str, Any]] | None,
    incident_commander: str | None,
    known_users: set[str] | None = None,
    known_schedules: set[str] | None = None,
) -> list[str]:
    """Return every problem with a service's alert routing and its IC policy."""
    from tocsin.core.alerts import parse_rules
    from tocsin.store.models import Schedule, User

    problems: list[str] = []
    if alert_rules is not None:
        try:
            parse_rules(alert_rules, severities.scale(session).names)
        except InvalidInput as exc:
            problems += [f"alert_{p}" for p in exc.problems]
    if incident_commander:
        kind, _, name = incident_commander.partition(":")
        if kind == "user":
            users_known = known_users or set(session.scalars(select(User.handle)))
            if name not in users_known:
                problems.append(f"incident_commander: unknown user {name!r}")
        elif kind == "schedule":
            schedules_known = known_schedules or set(session.scalars(select(Schedule.name)))
            if name not in schedules_known:
                problems.append(f"incident_commander: unknown schedule {name!r}")
        else:
            problems.append(
                f"incident_commander: {incident_commander!r} must be user:HANDLE or schedule:NAME"
            )
    return problems


def _policy_id(session: Session, name: str | None) -> int | None:
    if not name:
        return None
    from tocsin.store.models import EscalationPolicy

    found = session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == name))
    if found is None:
        raise InvalidInput(f"escalation_policy: unknown escalation policy {name!r}")
    return int(found)


def normalize_definitions(definitions: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Return definitions as {"SEV-1": {"definition": ..., "example": ...}}."""
    out: dict[str, dict[str, str]] = {}
    for name, text in definitions.items():
        out[name] = {"definition": text} if isinstance(text, str) else dict(text)
    return out


def get_by_slug(session: Session, slug: str) -> Service:
    """Return the service `slug`, or raise NotFound."""
    service = session.scalar(select(Service).where(Service.slug == slug))
    if service is None:
        raise NotFound(f"unknown service {slug!r}")
    return service


def find(session: Session, slug: str) -> Service | None:
    """Return the service `slug`, or None."""
    return session.scalar(select(Service).where(Service.slug == slug))


def list_(session: Session) -> list[Service]:
    """Return every service, by slug."""
    return list(session.scalars(select(Service).order_by(Service.slug)))


def _team_id(session: Session, slug: str | None) -> tuple[int | None, list[str]]:
    """Return the id of team `slug` (None for none), or the problem of an unknown one."""
    if not slug:
        return None, []
    team = teams.find(session, slug)
    return (team.id, []) if team is not None else (None, [f"team: unknown team {slug!r}"])


def create(
    session: Session,
    *,
    slug: str,
    name: str | None = None,
    owner: str | None = None,
    description: str = "",
    severity_definitions: dict[str, Any] | None = None,
    alert_rules: list[dict[str, Any]] | None = None,
    severity_label: str = "severity",
    incident_commander: str | None = None,
    escalation_policy: str | None = None,
    team: str | None = None,
    now: datetime,
) -> Service:
    """Create a service; the slug must be new, the owner a known user and the team known."""
    problems: list[str] = validate_routing(
        session, alert_rules=alert_rules, incident_commander=incident_commander
    )
    if not SLUG.match(slug):
        problems.append(
            f"slug {slug!r} must be 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    problems += validate_definitions(session, severity_definitions or {})
    owner_user = None
    if owner:
        owner_user = users.find(session, owner)
        if owner_user is None:
            problems.append(f"owner: unknown user {owner!r}")
    team_id, problem = _team_id(session, team)
    problems += problem
    if problems:
        raise InvalidInput.of(problems)
    if find(session, slug) is not None:
        raise Conflict(f"service {slug!r} already exists")
    service = Service(
        slug=slug,
        name=(name or slug).strip(),
        description=description,
        owner=owner_user,
        severity_definitions=normalize_definitions(severity_definitions or {}),
        alert_rules=alert_rules,
        severity_label=severity_label or "severity",
        incident_commander=incident_commander or None,
        escalation_policy_id=_policy_id(session, escalation_policy),
        team_id=team_id,
        created_at=now,
    )
    session.add(service)
    session.flush()
    return service


def update(
    session: Session,
    service: Service,
    *,
    name: str | None = None,
    owner: str | None = None,
    description: str | None = None,
    severity_definitions: dict[str, Any] | None = None,
    alert_rules: list[dict[str, Any]] | _Unset | None = UNSET,
    severity_label: str | None = None,
    incident_commander: str | _Unset | None = UNSET,
    escalation_policy: str | _Unset | None = UNSET,
    team: str | _Unset | None = UNSET,
) -> list[str]:
    """Change the given fields of `service`; return the names of the fields that changed."""
    problems = validate_definitions(session, severity_definitions or {})
    problems += validate_routing(
        session,
        alert_rules=None if isinstance(alert_rules, _Unset) else alert_rules,
        incident_commander=None if isinstance(incident_commander, _Unset) else incident_commander,
    )
    owner_user = None
    if owner:
        owner_user = users.find(session, owner)
        if owner_user is None:
            problems.append(f"owner: unknown user {owner!r}")
    if name is not None and not name.strip():
        problems.append("name must not be empty")
    team_id, problem = _team_id(session, None if isinstance(team, _Unset) else team)
    problems += problem
    if problems:
        raise InvalidInput.of(problems)
    changed: list[str] = []
    if not isinstance(team, _Unset) and service.team_id != team_id:
        service.team_id = team_id
        changed.append("team")
    if name is not None and service.name != name.strip():
        service.name = name.strip()
        changed.append("name")
    if description is not None and service.description != description:
        service.description = description
        changed.append("description")
    if owner is not None and service.owner != owner_user:
        service.owner = owner_user
        changed.append("owner")
    if severity_definitions is not None:
        normalized = normalize_definitions(severity_definitions)
        if service.severity_definitions != normalized:
            service.severity_definitions = normalized
            changed.append("severity_definitions")
    if not isinstance(alert_rules, _Unset) and service.alert_rules != alert_rules:
        service.alert_rules = alert_rules
        changed.append("alert_rules")
    if severity_label is not None and service.severity_label != severity_label:
        service.severity_label = severity_label
        changed.append("severity_label")
    if not isinstance(incident_commander, _Unset) and service.incident_commander != (
        incident_commander or None
    ):
        service.incident_commander = incident_commander or None
        changed.append("incident_commander")
    if not isinstance(escalation_policy, _Unset):
        policy_id = _policy_id(session, escalation_policy)
        if service.escalation_policy_id != policy_id:
            service.escalation_policy_id = policy_id
            changed.append("escalation_policy")
    session.flush()
    return changed
