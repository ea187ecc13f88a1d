"""Escalation policies and each incident's escalation row, as stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.core import escalation as core
from tocsin.errors import NotFound
from tocsin.store.models import Escalation, EscalationPolicy, Incident, Service


def get_policy(session: Session, name: str) -> EscalationPolicy:
    """Return the policy `name`, or raise NotFound."""
    found = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == name))
    if found is None:
        raise NotFound(f"unknown escalation policy {name!r}")
    return found


def list_policies(session: Session) -> list[EscalationPolicy]:
    """Return every policy, by name."""
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.name)))


def to_core(policy: EscalationPolicy) -> core.Policy:
    """Return the stored policy as the core's value."""
    return core.parse_policy(policy.name, list(policy.levels), policy.repeat)


def policy_json(policy: EscalationPolicy) -> dict[str, Any]:
    """Return a policy in the config file's shape."""
    return {
        "name": policy.name,
        "team": policy.team.slug if policy.team is not None else None,
        "repeat": policy.repeat,
        "levels": list(policy.levels),
    }


def policy_for(session: Session, incident: Incident) -> EscalationPolicy | None:
    """Return the escalation policy of the incident's first service that has one."""
    for link in incident.services:
        service: Service = link.service
        if service.escalation_policy_id is not None:
            return session.get(EscalationPolicy, service.escalation_policy_id)
    return None


def escalation_of(session: Session, incident: Incident, *, lock: bool = False) -> Escalation | None:
    """Return the incident's escalation, if its service has a policy; `lock` holds its row
    (FOR UPDATE) until the transaction ends, for a change that depends on where it stands."""
    query = select(Escalation).where(Escalation.incident_id == incident.id)
    if lock:
        # populate_existing: a row this session read before is refreshed as it is now.
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def is_acknowledged(session: Session, incident: Incident) -> bool | None:
    """Return whether the escalation is acknowledged (None: the incident has no escalation)."""
    row = escalation_of(session, incident)
    return None if row is None else row.acknowledged
