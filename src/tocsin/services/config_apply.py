"""Apply a config file: validate everything, then create, update (and prune) in one transaction.

The applier returns one `Change` per object it creates, updates or deletes. A dry run is the same
apply inside a savepoint that is rolled back, so what it prints is exactly what the real apply
would print, minus the integration keys (a key exists only once the apply that creates it
commits, and only that apply shows it).

With `prune`, what the file does not list is deleted, but only in the sections (and the lists of
a service or a schedule) the file writes: a file without `teams:` leaves every team alone, a
service without `integrations:` keeps its integrations, a schedule without `overrides:` keeps
the overrides people added by hand. Some things are never pruned silently:

- a service that incidents name (the incident history points at it, and the foreign key says
  RESTRICT), an escalation policy still escalating an open incident, and anything that
  configuration in a section the file does not write still names: these are problems, and
  nothing is applied;
- a user with history (incident roles, notifications, action items, API tokens, a password),
  or one that configuration outside the file still names: the row is kept, since history,
  logins and pages hang off it, and the apply warns instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.config import (
    ComponentSpec,
    Config,
    ConfigSpec,
    ContactMethodSpec,
    EscalationPolicySpec,
    NotificationRuleSpec,
    ServiceSpec,
    TeamSpec,
    UserConfigSpec,
    build_schedule,
)
from tocsin.core import escalation as escalation_core
from tocsin.core import paging
from tocsin.core.incident import incident_ref
from tocsin.core.severity import SeverityScale
from tocsin.core.timeutil import parse_duration
from tocsin.errors import InvalidInput, TocsinError
from tocsin.services import schedules as schedule_specs
from tocsin.store import (
    components,
    contacts,
    integrations,
    policies,
    schedules,
    services,
    severities,
    teams,
    users,
)
from tocsin.store.contacts import ContactType, Method
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import (
    ActionItem,
    Alert,
    ApiToken,
    Escalation,
    EscalationPolicy,
    Incident,
    IncidentRole,
    IncidentService,
    Notification,
    Service,
    User,
)
from tocsin.store.users import check_time_zone


@dataclass(frozen=True)
class Change:
    """One object the file creates, updates or deletes, printed as one line of the plan.

    `details` are the fields an update changes, or a short note (the type of what is created).
    `secret` is an integration key: shown by the apply that creates it, never by a dry run.
    """

    action: str
    kind: str
    name: str
    details: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False, compare=False)

    def line(self, *, show_secret: bool = False) -> str:
        """Return the plan's line: `update service web (name, team)`."""
        if self.kind == "notification rules":
            text = f"{self.action} notification rules of {self.name}"
        else:
            text = f"{self.action} {self.kind} {self.name}"
        if self.details:
            text += f" ({', '.join(self.details)})"
        if show_secret and self.secret:
            text += f" key={self.secret}"
        return text

    def __str__(self) -> str:
        return self.line()


@dataclass
class Plan:
    """What an apply did (or a dry run would do), and what it chose not to do."""

    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_LINE = re.compile(r"^(create|update|delete) (.+?) (\S+)(?: \(([^()]*)\))?$")


def _parsed(line: str) -> Change:
    # The schedule, policy, severity and contact stores describe their changes as lines.
    found = _LINE.match(line)
    if found is None:
        raise ValueError(f"not a change line: {line!r}")
    action, kind, name, details = found.groups()
    if kind == "notification rules of":
        kind = "notification rules"
    return Change(action, kind, name, tuple(details.split(", ")) if details else ())


def _managed(spec: ConfigSpec, section: str, prune: bool) -> bool:
    return prune and section in spec.model_fields_set


def _known(file_names: Iterable[str], stored: Iterable[str], *, managed: bool) -> set[str]:
    # Under --prune the file is the whole truth for the sections it writes: what it refers to
    # must be in it, since what is not will be deleted.
    return set(file_names) | (set() if managed else set(stored))


def validate(session: Session, config: Config, *, prune: bool = False) -> list[str]:
    """Return every problem the file has against itself and the database."""
    spec = config.spec
    problems: list[str] = []
    for name, counts in (
        ("users", Counter(u.handle for u in spec.users)),
        ("teams", Counter(t.slug for t in spec.teams)),
        ("components", Counter(c.slug for c in spec.components)),
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
            for problem in method_problems(method):
                field_name, _, message = problem.partition(": ")
                problems.append(config.problem(f"{where}.{field_name}", message))
        if u.notification_rules is not None:
            try:
                paging.parse_rules(
                    [r.model_dump(exclude_none=True) for r in u.notification_rules], set(names)
                )
            except TocsinError as exc:
                for problem in exc.problems:
                    field_name, _, message = problem.partition(": ")
                    problems.append(
                        config.problem(f"users[{i}].notification_{field_name}", message)
                    )
    known_users = _known(
        (u.handle for u in spec.users),
        (u.handle for u in users.list_(session)),
        managed=_managed(spec, "users", prune),
    )
    known_schedules = _known(
        (s.name for s in spec.schedules),
        (s.name for s in schedules.list_(session)),
        managed=_managed(spec, "schedules", prune),
    )
    known_policies = _known(
        (p.name for p in spec.escalation_policies),
        (p.name for p in policies.list_policies(session)),
        managed=_managed(spec, "escalation_policies", prune),
    )
    known_teams = _known(
        (t.slug for t in spec.teams),
        (t.slug for t in teams.list_(session)),
        managed=_managed(spec, "teams", prune),
    )
    known_components = _known(
        (c.slug for c in spec.components),
        (c.slug for c in components.list_(session)),
        managed=_managed(spec, "components", prune),
    )
    for i, team in enumerate(spec.teams):
        if not services.SLUG.match(team.slug):
            problems.append(
                config.problem(f"teams[{i}].slug", f"{team.slug!r} is not a valid slug")
            )
        if team.name is not None and not team.name:
            problems.append(config.problem(f"teams[{i}].name", "the name must not be empty"))
        seen: set[str] = set()
        for j, member in enumerate(team.members):
            handle = member.lstrip("@")
            if handle not in known_users:
                problems.append(
                    config.problem(f"teams[{i}].members[{j}]", f"unknown user {member!r}")
                )
            elif handle in seen:
                problems.append(
                    config.problem(f"teams[{i}].members[{j}]", f"{member!r} is listed twice")
                )
            seen.add(handle)
    for i, component in enumerate(spec.components):
        if not services.SLUG.match(component.slug):
            problems.append(
                config.problem(f"components[{i}].slug", f"{component.slug!r} is not a valid slug")
            )
        if component.name is not None and not component.name:
            problems.append(config.problem(f"components[{i}].name", "the name must not be empty"))
    for name, count in Counter(p.name for p in spec.escalation_policies).items():
        if count > 1:
            problems.append(
                config.problem("escalation_policies", f"{name!r} is listed {count} times")
            )
    for i, policy in enumerate(spec.escalation_policies):
        for problem in policy_problems(
            policy, known_users=known_users, known_schedules=known_schedules
        ):
            field_name, _, message = problem.partition(": ")
            problems.append(config.problem(f"escalation_policies[{i}].{field_name}", message))
    for i, s in enumerate(spec.services):
        if not services.SLUG.match(s.slug):
            problems.append(
                config.problem(f"services[{i}].slug", f"{s.slug!r} is not a valid slug")
            )
        if s.owner and s.owner.lstrip("@") not in known_users:
            problems.append(config.problem(f"services[{i}].owner", f"unknown user {s.owner!r}"))
        if s.team and s.team not in known_teams:
            problems.append(config.problem(f"services[{i}].team", f"unknown team {s.team!r}"))
        if s.component and s.component not in known_components:
            problems.append(
                config.problem(f"services[{i}].component", f"unknown component {s.component!r}")
            )
        rules = [r.model_dump() for r in s.alert_rules] if s.alert_rules is not None else None
        for problem in services.validate_routing(
            session,
            alert_rules=rules,
            incident_commander=s.incident_commander,
            known_users=known_users,
            known_schedules=known_schedules,
        ):
            field_name, _, message = problem.partition(": ")
            problems.append(config.problem(f"services[{i}].{field_name}", message))
        problems += _integration_problems(config, i, s)
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
    if prune:
        problems += _prune_problems(session, config)
    return problems


def _integration_problems(config: Config, i: int, s: ServiceSpec) -> list[str]:
    problems = []
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
    return problems


def _prune_problems(session: Session, config: Config) -> list[str]:
    """Return what --prune would have to delete but must not."""
    spec = config.spec
    problems = []
    if "services" in spec.model_fields_set:
        listed = {s.slug for s in spec.services}
        rows = session.execute(
            select(Service.slug, Incident.number)
            .join(IncidentService, IncidentService.service_id == Service.id)
            .join(Incident, Incident.id == IncidentService.incident_id)
            .order_by(Service.slug, Incident.number)
        )
        named: dict[str, list[int]] = {}
        for slug, number in rows:
            if slug not in listed:
                named.setdefault(slug, []).append(number)
        for slug, numbers in named.items():
            refs = ", ".join(incident_ref(n) for n in numbers[:3])
            more = f" and {len(numbers) - 3} more" if len(numbers) > 3 else ""
            problems.append(
                config.problem(
                    "services",
                    f"--prune cannot delete service {slug!r}: incidents name it ({refs}{more}); "
                    "keep it in the file",
                )
            )
    if "escalation_policies" in spec.model_fields_set:
        listed = {p.name for p in spec.escalation_policies}
        rows = session.execute(
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
        for name, numbers in escalating.items():
            refs = ", ".join(incident_ref(n) for n in numbers)
            problems.append(
                config.problem(
                    "escalation_policies",
                    f"--prune cannot delete escalation policy {name!r}: it is escalating {refs}; "
                    "keep it in the file until they are resolved",
                )
            )
    return problems + _dangling_problems(session, config)


def _dangling_problems(session: Session, config: Config) -> list[str]:
    """Return the deletions that would leave configuration the file does not write dangling.

    A file that writes `escalation_policies:` but not `services:` must not take a policy away
    from a service it does not describe (the foreign key would quietly set it to none).
    """
    spec = config.spec
    written = spec.model_fields_set
    policy_names = {p.id: p.name for p in policies.list_policies(session)}
    team_slugs = {t.id: t.slug for t in teams.list_(session)}
    component_slugs = {c.id: c.slug for c in components.list_(session)}
    listed = {
        "schedules": {s.name for s in spec.schedules},
        "escalation_policies": {p.name for p in spec.escalation_policies},
        "teams": {t.slug for t in spec.teams},
        "components": {c.slug for c in spec.components},
    }
    stored = {
        "schedules": {s.name for s in schedules.list_(session)},
        "escalation_policies": set(policy_names.values()),
        "teams": set(team_slugs.values()),
        "components": set(component_slugs.values()),
    }
    gone = {
        section: stored[section] - names if section in written else set()
        for section, names in listed.items()
    }
    problems = []

    def dangling(section: str, kind: str, name: str, holder: str) -> None:
        problems.append(
            config.problem(
                section,
                f"--prune cannot delete {kind} {name!r}: {holder}, which the file does not "
                "describe, still names it",
            )
        )

    if "services" not in written:
        for service in services.list_(session):
            holder = f"service {service.slug}"
            for section, kind, name in (
                (
                    "escalation_policies",
                    "escalation policy",
                    policy_names.get(service.escalation_policy_id or 0),
                ),
                ("teams", "team", team_slugs.get(service.team_id or 0)),
                ("components", "component", component_slugs.get(service.component_id or 0)),
                ("schedules", "schedule", _schedule_target(service.incident_commander)),
            ):
                if name is not None and name in gone[section]:
                    dangling(section, kind, name, holder)
    if "escalation_policies" not in written:
        for policy in policies.list_policies(session):
            for level in policy.levels:
                for target in level.get("targets", []):
                    name = _schedule_target(str(target))
                    if name is not None and name in gone["schedules"]:
                        dangling("schedules", "schedule", name, f"escalation policy {policy.name}")
    return problems


def _schedule_target(target: str | None) -> str | None:
    kind, _, name = (target or "").partition(":")
    return name if kind == "schedule" else None


def apply(
    session: Session,
    config: Config,
    *,
    actor: str = "config",
    now: datetime,
    prune: bool = False,
) -> Plan:
    """Create or update what the file describes (and with `prune`, delete what it does not)."""
    problems = validate(session, config, prune=prune)
    if problems:
        raise InvalidInput.of(problems)
    spec = config.spec
    plan = Plan()
    changes = plan.changes
    levels = config.severity_levels()
    if levels is not None:
        changes += map(_parsed, severities.replace_all(session, levels))
    for u in spec.users:
        changes += _apply_user(session, u, now=now)
    for position, component in enumerate(spec.components):
        changes += _apply_component(session, component, position, now=now)
    for team in spec.teams:
        changes += _apply_team(session, team, now=now)
    for schedule in spec.schedules:
        change = schedule_specs.put(session, schedule, actor=actor, now=now)
        if change:
            changes.append(_parsed(change))
        if prune and "overrides" in schedule.model_fields_set:
            changes += _prune_manual_overrides(session, schedule.name)
    for policy in spec.escalation_policies:
        change = put_policy(session, policy, now=now)
        if change:
            changes.append(_parsed(change))
    for s in spec.services:
        changes += _apply_service(session, s, now=now, config=config, prune=prune)
    if prune:
        _prune(session, spec, plan)
    session.flush()
    return plan


def dry_run(session: Session, config: Config, *, now: datetime, prune: bool = False) -> Plan:
    """Return what `apply` would do, and do nothing: the same code, rolled back."""
    savepoint = session.begin_nested()
    try:
        plan = apply(session, config, now=now, prune=prune)
    finally:
        savepoint.rollback()
    # The keys of the rolled-back integrations never existed; do not let them out.
    plan.changes = [replace(change, secret=None) for change in plan.changes]
    return plan


def _apply_user(session: Session, u: UserConfigSpec, *, now: datetime) -> list[Change]:
    changes: list[Change] = []
    existing = users.find(session, u.handle)
    fields: list[str] = []
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
        changes.append(Change("create", "user", u.handle))
    else:
        fields = users.update(
            session,
            existing,
            name=u.name or u.handle,
            email=u.email,
            time_zone=u.time_zone,
            role=u.role,
        )
    person = users.get_by_handle(session, u.handle)
    if person.stakeholder != u.stakeholder:
        person.stakeholder = u.stakeholder
        if existing is not None:
            fields.append("stakeholder")
    if fields:
        changes.append(Change("update", "user", u.handle, tuple(fields)))
    if "contact_methods" in u.model_fields_set or "notification_rules" in u.model_fields_set:
        lines = contacts.put(
            session,
            person,
            [_method_values(m) for m in u.contact_methods],
            _rule_values(u.contact_methods, u.notification_rules),
            now=now,
        )
        changes += map(_parsed, lines)
    return changes


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def method_problems(spec: ContactMethodSpec) -> list[str]:
    """Return every problem with one contact method (paths relative to it)."""
    problems: list[str] = []
    try:
        kind = ContactType(spec.type)
    except ValueError:
        return [
            f"type: unknown contact method type {spec.type!r}; valid: " + ", ".join(ContactType)
        ]
    if kind is ContactType.EMAIL and not (spec.address and EMAIL.match(spec.address)):
        problems.append(f"address: an email method needs an email address (got {spec.address!r})")
    if kind in (ContactType.SLACK, ContactType.WEBHOOK) and not (
        spec.url and spec.url.startswith(("http://", "https://"))
    ):
        problems.append(f"url: a {kind.value} method needs an http(s) URL (got {spec.url!r})")
    if spec.secret is not None and kind is not ContactType.WEBHOOK:
        problems.append("secret: only a webhook method signs its requests")
    if spec.throttle is not None:
        try:
            parse_duration(spec.throttle)
        except TocsinError as exc:
            problems.append(f"throttle: {exc.message}")
    return problems


def _method_values(spec: ContactMethodSpec) -> Method:
    target = spec.address if spec.type == ContactType.EMAIL else spec.url
    return Method(
        name=spec.name,
        type=spec.type,
        target=target or "",
        secret=spec.secret,
        throttle_seconds=(
            int(parse_duration(spec.throttle).total_seconds()) if spec.throttle else None
        ),
    )


def _rule_values(
    methods: list[ContactMethodSpec], rules: list[NotificationRuleSpec] | None
) -> list[tuple[str, int]]:
    """Return (method, seconds after the page); without rules, every method at once."""
    specs = (
        rules
        if rules is not None
        else [NotificationRuleSpec(contact_method=m.name, after="0m") for m in methods]
    )
    parsed_rules = paging.parse_rules([r.model_dump() for r in specs], {m.name for m in methods})
    return [(r.contact_method, int(r.after.total_seconds())) for r in parsed_rules]


def _apply_component(
    session: Session, spec: ComponentSpec, position: int, *, now: datetime
) -> list[Change]:
    found = components.find(session, spec.slug)
    if found is None:
        components.create(
            session,
            slug=spec.slug,
            name=spec.name,
            description=spec.description,
            position=position,
            now=now,
        )
        return [Change("create", "component", spec.slug)]
    changed = components.update(
        session,
        found,
        name=spec.name or spec.slug,
        description=spec.description,
        position=position,
    )
    return [Change("update", "component", spec.slug, tuple(changed))] if changed else []


def _apply_team(session: Session, spec: TeamSpec, *, now: datetime) -> list[Change]:
    members = [m.lstrip("@") for m in spec.members]
    found = teams.find(session, spec.slug)
    if found is None:
        teams.create(session, slug=spec.slug, name=spec.name, members=members, now=now)
        return [Change("create", "team", spec.slug)]
    changed = teams.update(session, found, name=spec.name or spec.slug, members=members)
    return [Change("update", "team", spec.slug, tuple(changed))] if changed else []


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


def _apply_service(
    session: Session, s: ServiceSpec, *, now: datetime, config: Config, prune: bool
) -> list[Change]:
    changes: list[Change] = []
    rules = [r.model_dump() for r in s.alert_rules] if s.alert_rules is not None else None
    found = services.find(session, s.slug)
    fields: list[str] = []
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
        changes.append(Change("create", "service", s.slug))
    else:
        fields = services.update(
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
    service = services.get_by_slug(session, s.slug)
    team_id = teams.get_by_slug(session, s.team).id if s.team else None
    if service.team_id != team_id:
        service.team_id = team_id
        fields.append("team")
    component_id = components.get_by_slug(session, s.component).id if s.component else None
    if service.component_id != component_id:
        service.component_id = component_id
        fields.append("component")
    text = config.resolve(s.runbook).read_text(encoding="utf-8") if s.runbook else None
    runbook_rules = [r.model_dump() for r in s.runbook_rules] or None
    if (service.runbook, service.runbook_path, service.runbook_rules) != (
        text,
        s.runbook,
        runbook_rules,
    ):
        service.runbook, service.runbook_path = text, s.runbook
        service.runbook_rules = runbook_rules
        fields.append("runbook")
    timeout = int(parse_duration(s.ack_timeout).total_seconds()) if s.ack_timeout else None
    if service.ack_timeout_seconds != timeout:
        service.ack_timeout_seconds = timeout
        fields.append("ack_timeout")
    if found is not None and fields:
        changes.append(Change("update", "service", s.slug, tuple(fields)))
    changes += _apply_integrations(session, s, now=now, prune=prune)
    session.flush()
    return changes


def _apply_integrations(
    session: Session, s: ServiceSpec, *, now: datetime, prune: bool
) -> list[Change]:
    changes: list[Change] = []
    existing = {i.name: i for i in integrations.list_(session, service=s.slug)}
    for spec in s.integrations:
        name = spec.name or spec.type
        interval = parse_duration(spec.interval) if spec.interval else None
        seconds = int(interval.total_seconds()) if interval else None
        current = existing.get(name)
        if current is None:
            integration, key = integrations.create(
                session, service=s.slug, type=spec.type, name=name, interval=interval, now=now
            )
            # The key is shown this once; only its hash is stored.
            changes.append(
                Change(
                    "create",
                    "integration",
                    f"{s.slug}/{integration.name}",
                    (integration.type,),
                    secret=key,
                )
            )
            continue
        fields = []
        if current.type != spec.type:
            current.type = spec.type
            fields.append("type")
        if current.heartbeat_interval_seconds != seconds:
            current.heartbeat_interval_seconds = seconds
            current.heartbeat_deadline_at = now + interval if interval else None
            fields.append("interval")
        if fields:
            changes.append(Change("update", "integration", f"{s.slug}/{name}", tuple(fields)))
    if prune and "integrations" in s.model_fields_set:
        listed = {spec.name or spec.type for spec in s.integrations}
        for name, integration in existing.items():
            if name in listed:
                continue
            alerts = session.scalar(
                select(func.count())
                .select_from(Alert)
                .where(Alert.integration_id == integration.id)
            )
            details = [integration.type] + ([f"and its {alerts} alert(s)"] if alerts else [])
            session.delete(integration)
            changes.append(Change("delete", "integration", f"{s.slug}/{name}", tuple(details)))
    return changes


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
            (f"{_instant(o.start)}..{_instant(o.end)}",),
        )
        for o in gone
    ]


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="minutes").replace("+00:00", "Z")


def _prune(session: Session, spec: ConfigSpec, plan: Plan) -> None:
    """Delete what the sections the file writes do not list (validated as deletable)."""
    if "services" in spec.model_fields_set:
        listed = {s.slug for s in spec.services}
        for service in services.list_(session):
            if service.slug not in listed:
                session.delete(service)
                plan.changes.append(Change("delete", "service", service.slug))
        session.flush()
    if "escalation_policies" in spec.model_fields_set:
        listed = {p.name for p in spec.escalation_policies}
        for policy in policies.list_policies(session):
            if policy.name not in listed:
                session.delete(policy)
                plan.changes.append(Change("delete", "escalation policy", policy.name))
    if "schedules" in spec.model_fields_set:
        listed = {s.name for s in spec.schedules}
        for schedule in schedules.list_(session):
            if schedule.name not in listed:
                session.delete(schedule)
                plan.changes.append(Change("delete", "schedule", schedule.name))
    if "teams" in spec.model_fields_set:
        listed = {t.slug for t in spec.teams}
        for team in teams.list_(session):
            if team.slug not in listed:
                session.delete(team)
                plan.changes.append(Change("delete", "team", team.slug))
    if "components" in spec.model_fields_set:
        listed = {c.slug for c in spec.components}
        for component in components.list_(session):
            if component.slug not in listed:
                session.delete(component)
                plan.changes.append(Change("delete", "component", component.slug))
    session.flush()
    if "users" in spec.model_fields_set:
        listed = {u.handle for u in spec.users}
        for user in users.list_(session):
            if user.handle in listed:
                continue
            holders = _history(session, user) + _references(session, user)
            if holders:
                plan.warnings.append(
                    f"kept user {user.handle}, who is not in the file: still referred to by "
                    + ", ".join(holders)
                )
                continue
            session.delete(user)
            plan.changes.append(Change("delete", "user", user.handle))
    session.flush()


def _history(session: Session, user: User) -> list[str]:
    """Return what refers to `user` that a config file cannot describe."""
    found = []
    for label, column in (
        ("incident roles", IncidentRole.user_id),
        ("notifications", Notification.user_id),
        ("action items", ActionItem.owner_id),
        ("API tokens", ApiToken.user_id),
    ):
        if session.scalar(select(column).where(column == user.id).limit(1)) is not None:
            found.append(f"their {label}")
    if user.password_hash:
        found.append("their web login")
    return found


def _references(session: Session, user: User) -> list[str]:
    """Return the configuration that still names `user` (sections the file does not write)."""
    target = f"user:{user.handle}"
    found = [
        f"schedule {s.name}"
        for s in schedules.list_(session)
        if any(user.handle in layer.participants for layer in s.layers)
        or any(o.user_id == user.id for o in s.overrides)
    ]
    found += [
        f"escalation policy {p.name}"
        for p in policies.list_policies(session)
        if any(target in level.get("targets", []) for level in p.levels)
    ]
    found += [
        f"service {s.slug}"
        for s in services.list_(session)
        if s.owner_id == user.id or s.incident_commander == target
    ]
    found += [
        f"team {t.slug}" for t in teams.list_(session) if user.handle in teams.member_handles(t)
    ]
    return found


# --- escalation policies -------------------------------------------------------------------


def policy_problems(
    spec: EscalationPolicySpec, *, known_users: set[str], known_schedules: set[str]
) -> list[str]:
    """Return every problem of a policy from the config file (paths relative to it)."""
    try:
        policy = escalation_core.parse_policy(
            spec.name, [_level_dict(level) for level in spec.levels], spec.repeat
        )
    except InvalidInput as exc:
        return exc.problems
    problems = []
    for i, level in enumerate(policy.levels):
        for j, target in enumerate(level.targets):
            known = (
                known_users if target.kind is escalation_core.TargetKind.USER else known_schedules
            )
            if target.name not in known:
                problems.append(
                    f"levels[{i}].targets[{j}]: unknown {target.kind.value} {target.name!r}"
                )
    return problems


def _level_dict(level: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"targets": list(level.targets)}
    if level.delay is not None:
        found["delay"] = level.delay
    return found


def put_policy(session: Session, spec: EscalationPolicySpec, *, now: datetime) -> str | None:
    """Create or update a policy from the config file; return the change, or None."""
    levels = [_level_dict(level) for level in spec.levels]
    escalation_core.parse_policy(
        spec.name, levels, spec.repeat
    )  # validated already; cheap to be sure
    found = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == spec.name))
    if found is None:
        session.add(
            EscalationPolicy(
                name=spec.name, repeat=spec.repeat, levels=levels, created_at=now, updated_at=now
            )
        )
        session.flush()
        return f"create escalation policy {spec.name}"
    if (found.repeat, found.levels) == (spec.repeat, levels):
        return None
    found.repeat, found.levels, found.updated_at = spec.repeat, levels, now
    session.flush()
    return f"update escalation policy {spec.name}"
