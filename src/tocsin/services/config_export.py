"""Export the configuration in the database as a `tocsin.yaml` that `apply` reads back.

What export writes, applied to the same database, changes nothing; exporting again gives the same
bytes. Defaults are left out, so the file reads like one a person wrote.

Not written, on purpose:
- integration keys: only their hashes are stored, and a fresh install gets fresh keys;
- webhook signing secrets, unless asked for: `apply` keeps a stored secret when the file names
  none, so the round trip holds on this database without the secret in the file;
- incidents, alerts, maintenance windows and overrides people added by hand: operational state,
  not configuration.
Slack incoming-webhook URLs are written: the URL is the method, there is nothing else to write.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from tocsin.core.severity import Severity
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
from tocsin.store.models import (
    ContactMethod,
    EscalationPolicy,
    Integration,
    Schedule,
    Service,
    StatusComponent,
    Team,
    User,
)

HEADER = """\
# Written by `tocsin export`; apply it with `tocsin apply -f`.
"""
RUNBOOK_HEADER = """\
# Runbook paths are as they were applied: relative to the folder of the file that named them.
"""
SECRETS_HEADER = """\
# This file contains secrets (webhook signing secrets, Slack URLs): keep it out of public places.
"""


def export(session: Session, *, include_secrets: bool = False) -> dict[str, Any]:
    """Return the stored configuration in the config file's shape."""
    policy_names = {p.id: p.name for p in policies.list_policies(session)}
    team_slugs = {t.id: t.slug for t in teams.list_(session)}
    component_slugs = {c.id: c.slug for c in components.list_(session)}
    data: dict[str, Any] = {
        "users": [_user(session, u, include_secrets) for u in users.list_(session)],
        "teams": [_team(t) for t in teams.list_(session)],
        "components": [_component(c) for c in components.list_(session)],
        "severities": [_severity(level) for level in severities.scale(session).levels],
        "schedules": [_schedule(s) for s in schedules.list_(session)],
        "escalation_policies": [_policy(p) for p in policies.list_policies(session)],
        "services": [
            _service(session, s, policy_names, team_slugs, component_slugs)
            for s in services.list_(session)
        ],
    }
    return {key: value for key, value in data.items() if value or key == "severities"}


def has_secrets(data: dict[str, Any]) -> bool:
    """Return whether exported `data` holds a secret (a webhook secret or a Slack URL)."""
    return any(
        method.get("secret") or method["type"] == "slack"
        for user in data.get("users", [])
        for method in user.get("contact_methods", [])
    )


def dump(data: dict[str, Any]) -> str:
    """Return exported `data` as the text of a config file, with its header."""
    header = HEADER
    if any("runbook" in service for service in data.get("services", [])):
        header += RUNBOOK_HEADER
    if has_secrets(data):
        header += SECRETS_HEADER
    # One section at a time, with a blank line between them, as people write the file.
    sections = [
        yaml.dump(
            {key: value},
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
        for key, value in data.items()
    ]
    return header + "\n".join(sections)


class _Dumper(yaml.SafeDumper):
    """YAML as people write the file: lists indented under their key, short plain mappings and
    lists on one line, multi-line text as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_CLOCK = re.compile(r"^\d{1,2}:\d{2}$")
_ONE_LINE = 80


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Clock times quoted always: a YAML 1.1 reader takes some of them for base-60 numbers.
    style = "|" if "\n" in value else '"' if _CLOCK.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _plain(values: list[Any]) -> bool:
    return all(not isinstance(v, dict | list) and "\n" not in str(v) for v in values)


def _mapping(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    short = len(", ".join(f"{k}: {v}" for k, v in value.items())) <= _ONE_LINE
    flow = _plain(list(value.values())) and short
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


def _sequence(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = _plain(value) and len(", ".join(map(str, value))) <= _ONE_LINE
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)


def duration(seconds: int) -> str:
    """Return seconds as the file's duration text: 26h, 1h30m, 2d, 45s, 0m."""
    if seconds == 0:
        return "0m"
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    text = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            text += f"{seconds // size}{unit}"
            seconds %= size
    return text


def _user(session: Session, user: User, include_secrets: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"handle": user.handle}
    if user.name != user.handle:
        found["name"] = user.name
    if user.email:
        found["email"] = user.email
    if user.time_zone != "UTC":
        found["time_zone"] = user.time_zone
    if user.role != "responder":
        found["role"] = user.role
    if user.stakeholder:
        found["stakeholder"] = True
    methods = contacts.methods_of(session, user)
    if methods:
        found["contact_methods"] = [_method(m, include_secrets) for m in methods]
        rules = contacts.rules_of(session, user)
        everything_at_once = sorted((m.name, 0) for m in methods)
        if sorted((m.name, after) for m, after in rules) != everything_at_once:
            found["notification_rules"] = [
                {"contact_method": m.name, "after": duration(after)} for m, after in rules
            ]
    return found


def _method(method: ContactMethod, include_secrets: bool) -> dict[str, Any]:
    found: dict[str, Any] = {"name": method.name, "type": method.type}
    if method.type == contacts.ContactType.EMAIL:
        found["address"] = method.target
    elif method.target:
        found["url"] = method.target
    if include_secrets and method.secret:
        found["secret"] = method.secret
    if method.throttle_seconds is not None:
        found["throttle"] = duration(method.throttle_seconds)
    return found


def _team(team: Team) -> dict[str, Any]:
    found: dict[str, Any] = {"slug": team.slug}
    if team.name != team.slug:
        found["name"] = team.name
    found["members"] = teams.member_handles(team)
    return found


def _component(component: StatusComponent) -> dict[str, Any]:
    found: dict[str, Any] = {"slug": component.slug}
    if component.name != component.slug:
        found["name"] = component.name
    if component.description:
        found["description"] = component.description
    return found


def _severity(level: Severity) -> dict[str, Any]:
    found: dict[str, Any] = {"name": level.name, "definition": level.definition}
    if level.business_hours or level.response_time is None:
        found["response_time"] = "next business day"
    else:
        found["response_time"] = duration(int(level.response_time.total_seconds()))
    if level.example:
        found["example"] = level.example
    if level.update_cadence is not None:
        found["update_cadence"] = duration(int(level.update_cadence.total_seconds()))
    if level.notify_executives:
        found["notify_executives"] = True
    return found


def _schedule(schedule: Schedule) -> dict[str, Any]:
    found: dict[str, Any] = {"name": schedule.name, "time_zone": schedule.time_zone}
    if schedule.description:
        found["description"] = schedule.description
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


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _policy(policy: EscalationPolicy) -> dict[str, Any]:
    found: dict[str, Any] = {"name": policy.name}
    if policy.repeat:
        found["repeat"] = policy.repeat
    found["levels"] = [dict(level) for level in policy.levels]
    return found


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
    if service.ack_timeout_seconds is not None:
        found["ack_timeout"] = duration(service.ack_timeout_seconds)
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
        found["interval"] = duration(integration.heartbeat_interval_seconds)
    return found
