"""`escalation_policies:`, who is paged in turn when nobody acknowledges.

`policy_problems` and `put_policy` also serve `POST /escalation-policies`, which takes a policy
in the file's shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec, EscalationLevelSpec, EscalationPolicySpec
from tocsin.core import escalation as escalation_core
from tocsin.core.incident import incident_ref
from tocsin.errors import InvalidInput
from tocsin.services.config.base import Change, Context, Reference, Section, parsed
from tocsin.store import policies, schedules, teams, users, webhooks
from tocsin.store.models import Escalation, EscalationPolicy, Incident

# A level's target names a row of another section, like "user:alice" or "team:dba".
_TARGET_SECTIONS = {
    escalation_core.TargetKind.USER: "users",
    escalation_core.TargetKind.SCHEDULE: "schedules",
    escalation_core.TargetKind.TEAM: "teams",
    escalation_core.TargetKind.WEBHOOK: "webhooks",
}


class EscalationPolicies(Section[EscalationPolicy]):
    name = "escalation_policies"
    kind = "escalation policy"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [p.name for p in spec.escalation_policies]

    def rows(self, session: Session) -> list[EscalationPolicy]:
        return policies.list_policies(session)

    def key(self, row: EscalationPolicy) -> str:
        return row.name

    def validate(self, context: Context) -> list[str]:
        problems: list[str] = []
        known = {kind: context.known(section) for kind, section in _TARGET_SECTIONS.items()}
        for i, policy in enumerate(context.spec.escalation_policies):
            if context.skips(self.name, policy.name):
                continue
            for problem in policy_problems(policy, known=known):
                field_name, _, message = problem.partition(": ")
                problems.append(context.problem(f"escalation_policies[{i}].{field_name}", message))
        return problems

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        for policy in context.spec.escalation_policies:
            if context.skips(self.name, policy.name):
                continue
            change = put_policy(context.session, policy, now=now)
            if change:
                changes.append(parsed(change))
        return changes

    team_owned = True

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_policy(p) for p in self.rows(session)]

    def refusals(self, context: Context, listed: set[str]) -> list[str]:
        """A policy still escalating an open incident stays until the incident is resolved."""
        rows = context.session.execute(
            select(EscalationPolicy.name, Incident.number)
            .join(Escalation, Escalation.policy_id == EscalationPolicy.id)
            .join(Incident, Incident.id == Escalation.incident_id)
            .where(Escalation.resolved.is_(False))
            .order_by(EscalationPolicy.name, Incident.number)
        )
        escalating: dict[str, list[int]] = {}
        for name, number in rows:
            if name not in listed:
                escalating.setdefault(name, []).append(number)
        return [
            context.problem(
                self.name,
                f"--prune cannot delete escalation policy {name!r}: it is escalating "
                f"{', '.join(incident_ref(n) for n in numbers)}; "
                "keep it in the file until they are resolved",
            )
            for name, numbers in escalating.items()
        ]

    def references(self, session: Session) -> Iterable[Reference]:
        for policy in self.rows(session):
            holder = f"{self.kind} {policy.name}"
            for level in policy.levels:
                for text in level.get("targets", []):
                    target = escalation_core.parse_target(str(text))
                    yield Reference(holder, _TARGET_SECTIONS[target.kind], target.name)


def stored_targets(session: Session) -> dict[escalation_core.TargetKind, set[str]]:
    """Return the names each kind of target may name in the database as it is."""
    return {
        escalation_core.TargetKind.USER: {u.handle for u in users.list_(session)},
        escalation_core.TargetKind.SCHEDULE: {s.name for s in schedules.list_(session)},
        escalation_core.TargetKind.TEAM: {t.slug for t in teams.list_(session)},
        escalation_core.TargetKind.WEBHOOK: {w.name for w in webhooks.list_(session)},
    }


def policy_problems(
    spec: EscalationPolicySpec, *, known: Mapping[escalation_core.TargetKind, set[str]]
) -> list[str]:
    """Return every problem of a policy from the config file (paths relative to it).

    `known` holds the names each kind of target may name.
    """
    try:
        policy = escalation_core.parse_policy(
            spec.name, [_level_dict(level) for level in spec.levels], spec.repeat
        )
    except InvalidInput as exc:
        return exc.problems
    problems = []
    if spec.team is not None and spec.team not in known[escalation_core.TargetKind.TEAM]:
        problems.append(f"team: unknown team {spec.team!r}")
    for i, level in enumerate(policy.levels):
        for j, target in enumerate(level.targets):
            if target.name not in known[target.kind]:
                problems.append(
                    f"levels[{i}].targets[{j}]: unknown {target.kind.value} {target.name!r}"
                )
    return problems


def _level_dict(level: EscalationLevelSpec) -> dict[str, Any]:
    found: dict[str, Any] = {"targets": list(level.targets)}
    if level.delay is not None:
        found["delay"] = level.delay
    return found


def put_policy(session: Session, spec: EscalationPolicySpec, *, now: datetime) -> str | None:
    """Create or update a policy from the config file; return the change, or None."""
    levels = [_level_dict(level) for level in spec.levels]
    escalation_core.parse_policy(spec.name, levels, spec.repeat)  # validated; cheap to be sure
    team_id = teams.get_by_slug(session, spec.team).id if spec.team is not None else None
    found = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == spec.name))
    if found is None:
        session.add(
            EscalationPolicy(
                name=spec.name,
                team_id=team_id,
                repeat=spec.repeat,
                levels=levels,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        return f"create escalation policy {spec.name}"
    changed = [
        name
        for name, same in (
            ("team", found.team_id == team_id),
            ("levels", (found.repeat, found.levels) == (spec.repeat, levels)),
        )
        if not same
    ]
    if not changed:
        return None
    found.team_id, found.repeat, found.levels, found.updated_at = team_id, spec.repeat, levels, now
    session.flush()
    return f"update escalation policy {spec.name} ({', '.join(changed)})"


def _policy(policy: EscalationPolicy) -> dict[str, Any]:
    found: dict[str, Any] = {"name": policy.name}
    if policy.team is not None:
        found["team"] = policy.team.slug
    if policy.repeat:
        found["repeat"] = policy.repeat
    found["levels"] = [dict(level) for level in policy.levels]
    return found
