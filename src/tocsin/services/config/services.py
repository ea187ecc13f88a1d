"""`services:`, what incidents are about: owner, team, routing, runbook and integrations.

A service that incidents name is never pruned: the incident history points at it (and the
foreign key says RESTRICT). A service without `integrations:` in the file keeps its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.config import Config, ConfigSpec, ServiceSpec
from tocsin.core.incident import incident_ref
from tocsin.core.matchers import LABEL_NAME, MatcherError, parse_matchers
from tocsin.core.routing import InhibitRule, inhibit_rule_of
from tocsin.core.timeutil import duration_text, parse_duration
from tocsin.errors import TocsinError
from tocsin.services import ingest
from tocsin.services.config.base import Change, Context, Reference, Section
from tocsin.store import components, integrations, policies, services, teams
from tocsin.store.integrations import IntegrationType
from tocsin.store.models import Alert, Incident, IncidentService, Integration, Service


class Services(Section[Service]):
    name = "services"
    kind = "service"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [s.slug for s in spec.services]

    def rows(self, session: Session) -> list[Service]:
        return services.list_(session)

    def key(self, row: Service) -> str:
        return row.slug

    def validate(self, context: Context) -> list[str]:
        return [
            problem
            for i, s in enumerate(context.spec.services)
            if not context.skips(self.name, s.slug)
            for problem in _service_problems(context, i, s)
        ] + _key_problems(context)

    team_owned = True

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        changes: list[Change] = []
        for s in context.spec.services:
            if context.skips(self.name, s.slug):
                continue
            changes += _apply_service(
                context.session, s, now=now, config=context.config, prune=context.prune
            )
        return changes

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        policy_names = {p.id: p.name for p in policies.list_policies(session)}
        team_slugs = {t.id: t.slug for t in teams.list_(session)}
        component_slugs = {c.id: c.slug for c in components.list_(session)}
        return [
            _service(session, s, policy_names, team_slugs, component_slugs)
            for s in self.rows(session)
        ]

    def refusals(self, context: Context, listed: set[str]) -> list[str]:
        """A service that incidents name stays: the incident history points at it."""
        rows = context.session.execute(
            select(Service.slug, Incident.number)
            .join(IncidentService, IncidentService.service_id == Service.id)
            .join(Incident, Incident.id == IncidentService.incident_id)
            .order_by(Service.slug, Incident.number)
        )
        named: dict[str, list[int]] = {}
        for slug, number in rows:
            if slug not in listed:
                named.setdefault(slug, []).append(number)
        problems = []
        for slug, numbers in named.items():
            refs = ", ".join(incident_ref(n) for n in numbers[:3])
            more = f" and {len(numbers) - 3} more" if len(numbers) > 3 else ""
            problems.append(
                context.problem(
                    self.name,
                    f"--prune cannot delete service {slug!r}: incidents name it ({refs}{more}); "
                    "keep it in the file",
                )
            )
        return problems

    def references(self, session: Session) -> Iterable[Reference]:
        policy_names = {p.id: p.name for p in policies.list_policies(session)}
        team_slugs = {t.id: t.slug for t in teams.list_(session)}
        component_slugs = {c.id: c.slug for c in components.list_(session)}
        for service in self.rows(session):
            holder = f"{self.kind} {service.slug}"
            for section, name in (
                ("escalation_policies", policy_names.get(service.escalation_policy_id or 0)),
                ("teams", team_slugs.get(service.team_id or 0)),
                ("components", component_slugs.get(service.component_id or 0)),
            ):
                if name is not None:
                    yield Reference(holder, section, name)
            kind, _, name = (service.incident_commander or "").partition(":")
            if kind == "schedule":
                yield Reference(holder, "schedules", name)
            if service.owner is not None:
                yield Reference(holder, "users", service.owner.handle)
            if kind == "user":
                yield Reference(holder, "users", name)
            for route in service.routes or []:
                if route.get("service"):
                    yield Reference(holder, "services", route["service"])
                if route.get("policy"):
                    yield Reference(holder, "escalation_policies", route["policy"])


def _service_problems(context: Context, i: int, s: ServiceSpec) -> list[str]:
    config = context.config
    problems = []
    if not services.SLUG.match(s.slug):
        problems.append(config.problem(f"services[{i}].slug", f"{s.slug!r} is not a valid slug"))
    if s.owner and s.owner.lstrip("@") not in context.known("users"):
        problems.append(config.problem(f"services[{i}].owner", f"unknown user {s.owner!r}"))
    if s.team and s.team not in context.known("teams"):
        problems.append(config.problem(f"services[{i}].team", f"unknown team {s.team!r}"))
    if s.component and s.component not in context.known("components"):
        problems.append(
            config.problem(f"services[{i}].component", f"unknown component {s.component!r}")
        )
    rules = [r.model_dump() for r in s.alert_rules] if s.alert_rules is not None else None
    for problem in services.validate_routing(
        context.session,
        alert_rules=rules,
        incident_commander=s.incident_commander,
        known_users=context.known("users"),
        known_schedules=context.known("schedules"),
    ):
        field_name, _, message = problem.partition(": ")
        problems.append(config.problem(f"services[{i}].{field_name}", message))
    problems += _integration_problems(config, i, s)
    problems += _route_problems(context, i, s)
    problems += _inhibit_problems(config, i, s)
    problems += _grouping_problems(config, i, s)
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
    if s.escalation_policy and s.escalation_policy not in context.known("escalation_policies"):
        problems.append(
            config.problem(
                f"services[{i}].escalation_policy",
                f"unknown escalation policy {s.escalation_policy!r}",
            )
        )
    scale = context.scale
    for sev in s.severity_definitions:
        if sev not in scale.names:
            problems.append(
                config.problem(
                    f"services[{i}].severity_definitions.{sev}",
                    f"unknown severity {sev!r}; valid: {', '.join(scale.names)}",
                )
            )
    return problems


def _route_problems(context: Context, i: int, s: ServiceSpec) -> list[str]:
    config = context.config
    problems = []
    for j, r in enumerate(s.routes):
        where = f"services[{i}].routes[{j}]"
        try:
            parse_matchers(r.match)
        except MatcherError as exc:
            problems += [config.problem(f"{where}.match", line) for line in str(exc).splitlines()]
        if r.service and r.service not in context.known("services"):
            problems.append(config.problem(f"{where}.service", f"unknown service {r.service!r}"))
        if r.severity and r.severity not in context.scale.names:
            problems.append(
                config.problem(
                    f"{where}.severity",
                    f"unknown severity {r.severity!r}; valid: {', '.join(context.scale.names)}",
                )
            )
        if r.policy and r.policy not in context.known("escalation_policies"):
            problems.append(
                config.problem(f"{where}.policy", f"unknown escalation policy {r.policy!r}")
            )
        if r.drop and (r.service or r.severity or r.policy):
            problems.append(
                config.problem(
                    where, "a dropped alert goes nowhere: drop takes no service, severity or policy"
                )
            )
    return problems


def _inhibit_problems(config: Config, i: int, s: ServiceSpec) -> list[str]:
    problems = []
    seen: dict[InhibitRule, int] = {}
    for j, rule in enumerate(s.inhibit_rules):
        where = f"services[{i}].inhibit_rules[{j}]"
        for side in ("source", "target"):
            try:
                parse_matchers(getattr(rule, side))
            except MatcherError as exc:
                problems += [
                    config.problem(f"{where}.{side}", line) for line in str(exc).splitlines()
                ]
        problems += [
            config.problem(f"{where}.equal", f"{name!r} is not a label name")
            for name in rule.equal
            if not LABEL_NAME.fullmatch(name)
        ]
        try:
            parsed = inhibit_rule_of(rule.model_dump())
        except MatcherError:
            continue  # reported above
        if parsed in seen:
            problems.append(
                config.problem(
                    where, f"the same rule as inhibit_rules[{seen[parsed]}]; write it once"
                )
            )
        seen.setdefault(parsed, j)
    return problems


def _grouping_problems(config: Config, i: int, s: ServiceSpec) -> list[str]:
    """Return the problems of `group_by`, `group_window`, `open_after` and `flap_window`."""
    where = f"services[{i}]"
    problems = [
        config.problem(f"{where}.group_by[{j}]", f"{name!r} is not a label name")
        for j, name in enumerate(s.group_by)
        if not LABEL_NAME.fullmatch(name)
    ]
    problems += [
        config.problem(f"{where}.group_by", f"{name!r} is listed twice")
        for name, n in Counter(s.group_by).items()
        if n > 1
    ]
    durations = [("group_window", s.group_window), ("flap_window", s.flap_window)]
    if s.open_after is not None:
        durations.append(("open_after.within", s.open_after.within))
        if s.open_after.count < 1:
            problems.append(
                config.problem(
                    f"{where}.open_after.count",
                    f"{s.open_after.count} alerts can never be reached; write 1 or more",
                )
            )
    elif s.flap_window is not None:
        problems.append(
            config.problem(
                f"{where}.flap_window",
                "a flap window only counts firings for open_after; set open_after too",
            )
        )
    for name, text in durations:
        if text is None:
            continue
        try:
            if parse_duration(text) <= timedelta(0):
                problems.append(
                    config.problem(f"{where}.{name}", f"{text!r} must be longer than 0")
                )
        except TocsinError as exc:
            problems.append(config.problem(f"{where}.{name}", exc.message))
    return problems


def _seconds(text: str | None) -> int | None:
    return int(parse_duration(text).total_seconds()) if text else None


def _stored_inhibit_rules(s: ServiceSpec) -> list[dict[str, Any]] | None:
    """Return the inhibit rules as stored: matchers in their canonical form."""
    return [
        {
            "source": [str(m) for m in parse_matchers(rule.source)],
            "target": [str(m) for m in parse_matchers(rule.target)],
            "equal": list(rule.equal),
        }
        for rule in s.inhibit_rules
    ] or None


def _stored_routes(s: ServiceSpec) -> list[dict[str, Any]] | None:
    """Return the routes as stored: matchers in their canonical form, every field named."""
    return [
        {
            "match": [str(m) for m in parse_matchers(r.match)],
            "service": r.service,
            "severity": r.severity,
            "policy": r.policy,
            "drop": r.drop,
            "continue": r.continue_,
        }
        for r in s.routes
    ] or None


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


def _key_problems(context: Context) -> list[str]:
    """Return the problems of the keys file: each key names an integration of the config file,
    and is not the key of another integration already."""
    keys = context.config.keys
    if not keys:
        return []
    listed = {f"{s.slug}/{x.name or x.type}" for s in context.spec.services for x in s.integrations}
    problems = []
    where = context.config.keys_path or "the keys file"
    for name, key in keys.items():
        if name not in listed:
            problems.append(f"{where}: {name} is not an integration of {context.config.path}")
            continue
        holder = integrations.find_by_key(context.session, key)
        if holder is not None and f"{holder.service.slug}/{holder.name}" != name:
            problems.append(
                f"{where}: the key of {name} is the key of {holder.service.slug}/{holder.name}"
                " already; a key names one integration"
            )
    return problems


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
    routes = _stored_routes(s)
    if service.routes != routes:
        service.routes = routes
        fields.append("routes")
    inhibit_rules = _stored_inhibit_rules(s)
    if service.inhibit_rules != inhibit_rules:
        service.inhibit_rules = inhibit_rules
        fields.append("inhibit_rules")
        # Alerts firing now quiet the ones that arrive next under the new rules.
        ingest.flag_inhibiting(session, service)
    timeout = _seconds(s.ack_timeout)
    if service.ack_timeout_seconds != timeout:
        service.ack_timeout_seconds = timeout
        fields.append("ack_timeout")
    grouping = (list(s.group_by) or None, _seconds(s.group_window))
    if (service.group_by, service.group_window_seconds) != grouping:
        service.group_by, service.group_window_seconds = grouping
        fields.append("grouping")
    open_after = (
        (s.open_after.count, _seconds(s.open_after.within)) if s.open_after else (None, None)
    )
    flapping = (*open_after, _seconds(s.flap_window))
    if (
        service.open_after_count,
        service.open_after_seconds,
        service.flap_window_seconds,
    ) != flapping:
        (
            service.open_after_count,
            service.open_after_seconds,
            service.flap_window_seconds,
        ) = flapping
        fields.append("open_after")
    if service.auto_resolve != s.auto_resolve:
        service.auto_resolve = s.auto_resolve
        fields.append("auto_resolve")
    if found is not None and fields:
        changes.append(Change("update", "service", s.slug, tuple(fields)))
    changes += _apply_integrations(session, s, now=now, prune=prune, keys=config.keys)
    session.flush()
    return changes


def _apply_integrations(
    session: Session,
    s: ServiceSpec,
    *,
    now: datetime,
    prune: bool,
    keys: dict[str, str] | None = None,
) -> list[Change]:
    changes: list[Change] = []
    existing = {i.name: i for i in integrations.list_(session, service=s.slug)}
    for spec in s.integrations:
        name = spec.name or spec.type
        interval = parse_duration(spec.interval) if spec.interval else None
        seconds = int(interval.total_seconds()) if interval else None
        current = existing.get(name)
        kept = (keys or {}).get(f"{s.slug}/{name}")
        if current is None:
            integration, key = integrations.create(
                session,
                service=s.slug,
                type=spec.type,
                name=name,
                interval=interval,
                now=now,
                key=kept,
            )
            # A new key is shown this once; only its hash is stored. A kept one is not shown:
            # it is in the keys file already.
            changes.append(
                Change(
                    "create",
                    "integration",
                    f"{s.slug}/{integration.name}",
                    (integration.type, "kept key") if kept else (integration.type,),
                    secret=None if kept else key,
                )
            )
            continue
        fields = []
        if kept is not None and current.key_hash != integrations.hash_key(kept):
            integrations.set_key(current, kept)
            fields.append("key")
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


def _service(
    session: Session,
    service: Service,
    policies: dict[int, str],
    team_slugs: dict[int, str],
    component_slugs: dict[int, str],
) -> dict[str, Any]:
    found: dict[str, Any] = {"slug": service.slug}
    if service.name != service.slug:
        found["name"] = service.name
    if service.description:
        found["description"] = service.description
    if service.owner is not None:
        found["owner"] = service.owner.handle
    if service.team_id is not None:
        found["team"] = team_slugs[service.team_id]
    if service.component_id is not None:
        found["component"] = component_slugs[service.component_id]
    if service.escalation_policy_id is not None:
        found["escalation_policy"] = policies[service.escalation_policy_id]
    if service.incident_commander:
        found["incident_commander"] = service.incident_commander
    if service.severity_label != "severity":
        found["severity_label"] = service.severity_label
    if service.severity_definitions:
        found["severity_definitions"] = {
            name: text["definition"] if set(text) == {"definition"} else dict(text)
            for name, text in service.severity_definitions.items()
        }
    if service.alert_rules is not None:
        found["alert_rules"] = [
            {key: value for key, value in rule.items() if value is not None}
            for rule in service.alert_rules
        ]
    if service.routes:
        found["routes"] = [
            {key: value for key, value in route.items() if value not in (None, False)}
            for route in service.routes
        ]
    if service.inhibit_rules:
        found["inhibit_rules"] = [
            {key: value for key, value in rule.items() if value} for rule in service.inhibit_rules
        ]
    if service.group_by:
        found["group_by"] = list(service.group_by)
    if service.group_window_seconds is not None:
        found["group_window"] = duration_text(service.group_window_seconds)
    if service.open_after_count is not None and service.open_after_seconds is not None:
        found["open_after"] = {
            "count": service.open_after_count,
            "within": duration_text(service.open_after_seconds),
        }
    if service.flap_window_seconds is not None:
        found["flap_window"] = duration_text(service.flap_window_seconds)
    if service.ack_timeout_seconds is not None:
        found["ack_timeout"] = duration_text(service.ack_timeout_seconds)
    if service.auto_resolve:
        found["auto_resolve"] = True
    if service.runbook_path:
        found["runbook"] = service.runbook_path
    if service.runbook_rules:
        found["runbook_rules"] = [dict(rule) for rule in service.runbook_rules]
    listed = [_integration(i) for i in integrations.list_(session, service=service.slug)]
    if listed:
        found["integrations"] = listed
    return found


def _integration(integration: Integration) -> dict[str, Any]:
    found: dict[str, Any] = {"type": integration.type}
    if integration.name != integration.type:
        found["name"] = integration.name
    if integration.heartbeat_interval_seconds is not None:
        found["interval"] = duration_text(integration.heartbeat_interval_seconds)
    return found
