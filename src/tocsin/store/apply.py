"""Apply a config file: validate everything, then create or update in one transaction."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.config import Config, ServiceSpec, build_schedule
from tocsin.core import paging
from tocsin.core.severity import SeverityScale
from tocsin.core.timeutil import parse_duration
from tocsin.errors import InvalidInput, TocsinError
from tocsin.store import contacts, escalation, integrations, schedules, services, severities, users
from tocsin.store.integrations import IntegrationType
from tocsin.store.users import check_time_zone


def validate(session: Session, config: Config) -> list[str]:
    """Return every problem the file has against itself and the database."""
    spec = config.spec
    problems: list[str] = []
    for name, counts in (
        ("users", Counter(u.handle for u in spec.users)),
        ("services", Counter(s.slug for s in spec.services)),
        ("schedules", Counter(s.name for s in spec.schedules)),
    ):
        for key, n in counts.items():
            if n > 1:
                problems.append(config.problem(name, f"{key!r} is listed {n} times"))
    levels = config.severity_levels()
    scale = severities.scale(session)
    if levels is not None:
        try:
            scale = SeverityScale(tuple(levels))
        except TocsinError as exc:
            problems += [config.problem("severities", p) for p in exc.problems]
    for i, u in enumerate(spec.users):
        for problem in users.validate(
            handle=u.handle, name=u.name, email=u.email, time_zone=None, role=u.role
        ):
            problems.append(config.problem(f"users[{i}]", problem))
        for problem in check_time_zone(u.time_zone):
            problems.append(config.problem(f"users[{i}].time_zone", problem.split(": ", 1)[1]))
        names = Counter(m.name for m in u.contact_methods)
        for j, method in enumerate(u.contact_methods):
            where = f"users[{i}].contact_methods[{j}]"
            if names[method.name] > 1:
                problems.append(config.problem(where, f"two contact methods named {method.name!r}"))
            for problem in contacts.method_problems(method):
                field, _, message = problem.partition(": ")
                problems.append(config.problem(f"{where}.{field}", message))
        if u.notification_rules is not None:
            try:
                paging.parse_rules(
                    [r.model_dump(exclude_none=True) for r in u.notification_rules], set(names)
                )
            except TocsinError as exc:
                for problem in exc.problems:
                    field, _, message = problem.partition(": ")
                    problems.append(config.problem(f"users[{i}].notification_{field}", message))
    known_users = {u.handle for u in spec.users} | {u.handle for u in users.list_(session)}
    known_schedules = {s.name for s in spec.schedules} | {s.name for s in schedules.list_(session)}
    known_policies = {p.name for p in spec.escalation_policies} | {
        p.name for p in escalation.list_policies(session)
    }
    for name, count in Counter(p.name for p in spec.escalation_policies).items():
        if count > 1:
            problems.append(
                config.problem("escalation_policies", f"{name!r} is listed {count} times")
            )
    for i, policy in enumerate(spec.escalation_policies):
        for problem in escalation.policy_problems(
            policy, known_users=known_users, known_schedules=known_schedules
        ):
            field, _, message = problem.partition(": ")
            problems.append(config.problem(f"escalation_policies[{i}].{field}", message))
    for i, s in enumerate(spec.services):
        if not services.SLUG.match(s.slug):
            problems.append(
                config.problem(f"services[{i}].slug", f"{s.slug!r} is not a valid slug")
            )
        if s.owner and s.owner.lstrip("@") not in known_users:
            problems.append(config.problem(f"services[{i}].owner", f"unknown user {s.owner!r}"))
        rules = [r.model_dump() for r in s.alert_rules] if s.alert_rules is not None else None
        for problem in services.validate_routing(
            session,
            alert_rules=rules,
            incident_commander=s.incident_commander,
            known_users=known_users,
            known_schedules=known_schedules,
        ):
            field, _, message = problem.partition(": ")
            problems.append(config.problem(f"services[{i}].{field}", message))
        names = Counter(x.name or x.type for x in s.integrations)
        for j, integration in enumerate(s.integrations):
            where = f"services[{i}].integrations[{j}]"
            if integration.type not in set(IntegrationType):
                problems.append(
                    config.problem(
                        f"{where}.type",
                        f"unknown integration type {integration.type!r}; valid: "
                        + ", ".join(IntegrationType),
                    )
                )
            if names[integration.name or integration.type] > 1:
                problems.append(
                    config.problem(
                        where, f"two integrations named {integration.name or integration.type!r}"
                    )
                )
            if integration.interval is not None:
                try:
                    parse_duration(integration.interval)
                except TocsinError as exc:
                    problems.append(config.problem(f"{where}.interval", exc.message))
            if (integration.type == "heartbeat") != (integration.interval is not None):
                problems.append(
                    config.problem(where, "a heartbeat needs an interval; other types have none")
                )
        if s.ack_timeout is not None:
            try:
                parse_duration(s.ack_timeout)
            except TocsinError as exc:
                problems.append(config.problem(f"services[{i}].ack_timeout", exc.message))
        if s.runbook is not None and not config.resolve(s.runbook).is_file():
            problems.append(
                config.problem(f"services[{i}].runbook", f"no runbook file at {s.runbook!r}")
            )
        elif s.runbook_rules:
            problems += _runbook_rule_problems(config, i, s)
        if s.escalation_policy and s.escalation_policy not in known_policies:
            problems.append(
                config.problem(
                    f"services[{i}].escalation_policy",
                    f"unknown escalation policy {s.escalation_policy!r}",
                )
            )
        for sev in s.severity_definitions:
            if sev not in scale.names:
                problems.append(
                    config.problem(
                        f"services[{i}].severity_definitions.{sev}",
                        f"unknown severity {sev!r}; valid: {', '.join(scale.names)}",
                    )
                )
    for i, schedule in enumerate(spec.schedules):
        _, found = build_schedule(
            schedule, known_users=known_users, path=f"schedules[{i}]", problem=config.problem
        )
        problems += found
    return problems


def apply(session: Session, config: Config, *, actor: str = "config", now: datetime) -> list[str]:
    """Create or update what the file describes; return one line per change."""
    problems = validate(session, config)
    if problems:
        raise InvalidInput.of(problems)
    changes: list[str] = []
    levels = config.severity_levels()
    if levels is not None:
        changes += severities.replace_all(session, levels)
    for u in config.spec.users:
        existing = users.find(session, u.handle)
        if existing is None:
            users.create(
                session,
                handle=u.handle,
                name=u.name,
                email=u.email,
                time_zone=u.time_zone,
                role=u.role,
                now=now,
            )
            changes.append(f"create user {u.handle}")
        else:
            changed = users.update(
                session,
                existing,
                name=u.name or u.handle,
                email=u.email,
                time_zone=u.time_zone,
                role=u.role,
            )
            if changed:
                changes.append(f"update user {u.handle} ({', '.join(changed)})")
        person = users.get_by_handle(session, u.handle)
        if person.stakeholder != u.stakeholder:
            person.stakeholder = u.stakeholder
            changes.append(f"update user {u.handle} (stakeholder)")
        if "contact_methods" in u.model_fields_set or "notification_rules" in u.model_fields_set:
            changes += contacts.put(
                session, person, u.contact_methods, u.notification_rules, now=now
            )
    for schedule in config.spec.schedules:
        change = schedules.put(session, schedule, actor=actor, now=now)
        if change:
            changes.append(change)
    for policy in config.spec.escalation_policies:
        change = escalation.put_policy(session, policy, now=now)
        if change:
            changes.append(change)
    for s in config.spec.services:
        changes += _apply_service(session, s, now=now, config=config)
    session.flush()
    return changes


def _runbook_rule_problems(config: Config, i: int, s: ServiceSpec) -> list[str]:
    """Return the problems of a service's runbook rules: each must name a scenario it has."""
    from tocsin.core import runbook

    if s.runbook is None:
        return [config.problem(f"services[{i}].runbook_rules", "rules need a runbook: to point at")]
    book = runbook.parse(config.resolve(s.runbook).read_text(encoding="utf-8"))
    known = {scenario.slug for scenario in book.scenarios}
    return [
        config.problem(
            f"services[{i}].runbook_rules[{j}].scenario",
            f"the runbook has no scenario {rule.scenario!r}; it has: {', '.join(sorted(known))}",
        )
        for j, rule in enumerate(s.runbook_rules)
        if rule.scenario not in known
    ]


def _apply_service(session: Session, s: ServiceSpec, *, now: datetime, config: Config) -> list[str]:
    changes: list[str] = []
    rules = [r.model_dump() for r in s.alert_rules] if s.alert_rules is not None else None
    found = services.find(session, s.slug)
    if found is None:
        services.create(
            session,
            slug=s.slug,
            name=s.name,
            owner=s.owner,
            description=s.description,
            severity_definitions=dict(s.severity_definitions),
            alert_rules=rules,
            severity_label=s.severity_label,
            incident_commander=s.incident_commander,
            escalation_policy=s.escalation_policy,
            now=now,
        )
        changes.append(f"create service {s.slug}")
    else:
        changed = services.update(
            session,
            found,
            name=s.name or s.slug,
            owner=s.owner or "",
            description=s.description,
            severity_definitions=dict(s.severity_definitions),
            alert_rules=rules,
            severity_label=s.severity_label,
            incident_commander=s.incident_commander,
            escalation_policy=s.escalation_policy,
        )
        if changed:
            changes.append(f"update service {s.slug} ({', '.join(changed)})")
    service = services.get_by_slug(session, s.slug)
    text = config.resolve(s.runbook).read_text(encoding="utf-8") if s.runbook else None
    rules = [r.model_dump() for r in s.runbook_rules] or None
    if (service.runbook, service.runbook_path, service.runbook_rules) != (
        text,
        s.runbook,
        rules,
    ):
        service.runbook, service.runbook_path, service.runbook_rules = text, s.runbook, rules
        if not any(c == f"create service {s.slug}" for c in changes):
            changes.append(f"update service {s.slug} (runbook)")
    timeout = int(parse_duration(s.ack_timeout).total_seconds()) if s.ack_timeout else None
    if service.ack_timeout_seconds != timeout:
        service.ack_timeout_seconds = timeout
        if not any(c == f"create service {s.slug}" for c in changes):
            changes.append(f"update service {s.slug} (ack_timeout)")
    existing = {i.name for i in integrations.list_(session, service=s.slug)}
    for spec in s.integrations:
        name = spec.name or spec.type
        if name in existing:
            continue
        integration, key = integrations.create(
            session,
            service=s.slug,
            type=spec.type,
            name=name,
            interval=parse_duration(spec.interval) if spec.interval else None,
            now=now,
        )
        # The key is shown this once; only its hash is stored.
        changes.append(
            f"create integration {s.slug}/{integration.name} ({integration.type}) key={key}"
        )
    return changes
