"""Config as code: `tocsin.yaml` read into validated models, every problem with file and line.

    users:      [{handle, name, email, time_zone, role, stakeholder, contact_methods,
                  notification_rules}]
    teams:      [{slug, name, members: [handle, ...], admins: [handle, ...], schedule}]
    components: [{slug, name, description}]   status-page components, in display order
    services:   [{slug, name, owner, team, component, description, severity_definitions,
                  alert_rules, escalation_policy, runbook, runbook_rules, integrations, ...}]
    severities: [{name, definition, response_time, example, update_cadence, notify_executives}]
    schedules:  [{name, time_zone, team, layers: [{name, rotation, start, participants,
                  restrictions, time_zone}], overrides: [{user, from, to}]}]
    escalation_policies: [{name, team, repeat, levels: [{targets, delay}]}]
    webhooks:   [{name, url, secret, timeout}]   what `webhook:NAME` escalation targets call

Problems are reported all at once, as `tocsin.yaml:12: services[2].owner: unknown user "zed"`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.core import schedule as sched
from tocsin.core.severity import Severity
from tocsin.core.timeutil import parse_duration
from tocsin.errors import InvalidInput, TocsinError


class Spec(BaseModel):
    """Base of every section: unknown keys are an error (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserSpec(Spec):
    handle: str
    name: str | None = None
    email: str | None = None
    time_zone: str = "UTC"
    role: str = "responder"


class ContactMethodSpec(Spec):
    name: str
    type: str = Field(
        description="email, slack, webhook, sms, voice, teams, telegram, ntfy, webpush or console."
    )
    address: str | None = Field(None, description="email: the address.")
    number: str | None = Field(
        None, description="sms and voice: the phone number in E.164 form, like +4915112345678."
    )
    url: str | None = Field(
        None,
        description="slack: the incoming-webhook URL; teams: the Workflows webhook URL;"
        " ntfy: the topic's URL, like https://ntfy.sh/oncall-alice; webpush: the browser"
        " subscription's endpoint (the profile page makes these); webhook: the URL.",
    )
    slack_user: str | None = Field(
        None,
        description="slack: the Slack user id (U0123ABCD) the app's bot sends pages to, with"
        " buttons; instead of url (an incoming webhook, links only).",
    )
    chat_id: str | None = Field(
        None,
        description="telegram: the chat the bot writes to; linking from the profile page sets it.",
    )
    secret: str | None = Field(
        None,
        description="webhook: the HMAC-SHA256 signing secret; ntfy: an access token for a"
        " protected topic; webpush: the subscription's keys as JSON.",
    )
    throttle: str | None = Field(
        None, description="At most one message per this long; what waits goes out bundled: 1m."
    )


class NotificationRuleSpec(Spec):
    contact_method: str
    after: str = Field("0m", description="How long after a page, unless acknowledged: 2m.")


class UserConfigSpec(UserSpec):
    stakeholder: bool = Field(False, description="Told about every SEV-1.")
    contact_methods: list[ContactMethodSpec] = Field(default_factory=list)
    notification_rules: list[NotificationRuleSpec] | None = None


class EscalationLevelSpec(Spec):
    targets: list[str] = Field(
        description="user:HANDLE, schedule:NAME, team:SLUG (the team's schedule's on-call, else"
        " every member) or webhook:NAME (a signed POST to a webhook of `webhooks:`)."
    )
    delay: str | None = Field(None, description="Wait before the next level: 15m.")


class EscalationPolicySpec(Spec):
    name: str
    team: str | None = Field(None, description="The slug of the team that owns the policy.")
    repeat: int = Field(0, description="Run the levels this many more times after the last.")
    levels: list[EscalationLevelSpec] = Field(default_factory=list)


class AlertRuleSpec(Spec):
    severity: str | None = Field(None, description="Sender severity to match; none = any.")
    sev: str | None = Field(None, description="The incident severity, like SEV-2.")
    action: str = Field("incident", description="incident, attach or alert.")


class IntegrationSpec(Spec):
    type: str = Field(description="alertmanager, pagerduty, opsgenie, generic or heartbeat.")
    name: str | None = None
    interval: str | None = Field(None, description="Heartbeats only: like 5m.")


class RunbookRuleSpec(Spec):
    match: dict[str, str] = Field(
        description="Alert fields to match: labels, annotations, details, summary, source."
    )
    scenario: str = Field(description="The runbook scenario's slug, like all-502-errors.")


class TeamSpec(Spec):
    slug: str
    name: str | None = None
    members: list[str] = Field(default_factory=list, description="User handles, in order.")
    admins: list[str] = Field(
        default_factory=list,
        description="Members who administer the team: they manage its services, schedules and"
        " escalation policies. The other members are its responders.",
    )
    schedule: str | None = Field(
        None,
        description="The schedule whose on-call a team:SLUG escalation target pages; without"
        " one, every member is paged.",
    )


class WebhookSpec(Spec):
    name: str = Field(description="What escalation targets call it by: webhook:NAME.")
    url: str = Field(description="Where Tocsin POSTs the signed JSON: an http(s) URL.")
    secret: str | None = Field(
        None,
        description="The HMAC-SHA256 signing secret (X-Tocsin-Signature). Required for a new"
        " webhook; left out, an existing webhook keeps its stored one.",
    )
    timeout: str | None = Field(
        None, description="How long to wait for the receiver's answer: 10s (default 5s)."
    )


class ComponentSpec(Spec):
    slug: str
    name: str | None = None
    description: str = ""


class RouteSpec(Spec):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    match: str | list[str] = Field(
        default_factory=list,
        description='Alertmanager matchers on the alert\'s labels: {team="db", env=~"prod|eu"}'
        " or a list of single matchers; none matches every alert.",
    )
    service: str | None = Field(
        None, description="Send the alert to this service: its open incident, policy and rules."
    )
    severity: str | None = Field(None, description="Open or attach at this severity: SEV-1.")
    policy: str | None = Field(
        None, description="The escalation policy of the incidents this route opens."
    )
    drop: bool = Field(False, description="Record the alert and page nobody.")
    continue_: bool = Field(
        False,
        alias="continue",
        description="Let later routes match too, as in Alertmanager; what this one set stays.",
    )


class InhibitRuleSpec(Spec):
    source: str | list[str] = Field(
        description='Matchers of the alert that inhibits, while it fires: {alertname="NodeDown"}.'
    )
    target: str | list[str] = Field(
        description='Matchers of the alerts it quiets: {severity=~"warning|info"}.'
    )
    equal: list[str] = Field(
        default_factory=list, description="Labels whose values both alerts must share: [instance]."
    )


class OpenAfterSpec(Spec):
    count: int = Field(
        description="How many alerts of a group must fire before it opens an incident."
    )
    within: str = Field(description="Within this time, like 5m.")


class ServiceSpec(Spec):
    slug: str
    name: str | None = None
    owner: str | None = None
    team: str | None = Field(None, description="The slug of the team that owns the service.")
    component: str | None = Field(
        None, description="The slug of the status-page component the service belongs to."
    )
    description: str = ""
    severity_definitions: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    severity_label: str = "severity"
    alert_rules: list[AlertRuleSpec] | None = None
    routes: list[RouteSpec] = Field(
        default_factory=list,
        description="Label routing of this service's integrations' alerts; the first match wins.",
    )
    inhibit_rules: list[InhibitRuleSpec] = Field(
        default_factory=list,
        description="While one of this service's alerts matches a source, its alerts matching"
        " the target are recorded and attached but page nobody, as in Alertmanager.",
    )
    group_by: list[str] = Field(
        default_factory=list,
        description="Alerts with equal values of these labels share an incident; none: the"
        " service's one open incident takes every alert.",
    )
    group_window: str | None = Field(
        None,
        description="An alert joins its group's open incident only if the group's newest alert"
        " is at most this old (it rolls with each alert), like 10m; past it, a new incident.",
    )
    open_after: OpenAfterSpec | None = Field(
        None,
        description="Flap suppression: record a group's alerts but open no incident until"
        " `count` of them fired `within` the time.",
    )
    flap_window: str | None = Field(
        None,
        description="With open_after: an alert that resolves and fires again within this time"
        " counts once.",
    )
    incident_commander: str | None = Field(None, description="user:HANDLE or schedule:NAME.")
    escalation_policy: str | None = None
    runbook: str | None = Field(
        None, description="Path to the service's Markdown runbook, relative to this file."
    )
    runbook_rules: list[RunbookRuleSpec] = Field(default_factory=list)
    ack_timeout: str | None = Field(
        None, description="An acknowledged incident still open after this pages again: 30m."
    )
    auto_resolve: bool = Field(
        False,
        description="When the sender resolves the last open alert of an incident, resolve the"
        " incident too. Off: the incident stays open until a person resolves it.",
    )
    integrations: list[IntegrationSpec] = Field(default_factory=list)


class SeveritySpec(Spec):
    name: str
    definition: str
    response_time: str = Field(description="Like 5m or 1h, or 'next business day'.")
    example: str = ""
    update_cadence: str | None = None
    notify_executives: bool = False


class RestrictionSpec(Spec):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    days: list[str] | None = None
    from_: str = Field(alias="from", description="Local clock time HH:MM, inclusive.")
    to: str = Field(description="Local clock time HH:MM, exclusive; <= from runs overnight.")


class LayerSpec(Spec):
    name: str
    rotation: str = Field(description="N hours | days | weeks | months, like '1 week'.")
    start: str = Field(description="The first handoff, local wall-clock time: 2020-03-06T02:30.")
    participants: list[str] = Field(
        description='User handles taking turns in order; "-" is a turn with nobody on call.'
    )
    restrictions: list[RestrictionSpec] = Field(default_factory=list)
    time_zone: str | None = None


class OverrideSpec(Spec):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    user: str
    from_: str = Field(alias="from", description="Without an offset: the schedule's zone.")
    to: str
    note: str = ""


class ScheduleSpec(Spec):
    name: str
    time_zone: str
    team: str | None = Field(None, description="The slug of the team that owns the schedule.")
    description: str = ""
    slack_user_group: str | None = Field(
        None,
        description="A Slack user group (S0123ABCD) whose members follow who is on call, set"
        " at each shift boundary by the Slack app.",
    )
    layers: list[LayerSpec] = Field(default_factory=list)
    overrides: list[OverrideSpec] = Field(default_factory=list)


class ConfigSpec(Spec):
    users: list[UserConfigSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    components: list[ComponentSpec] = Field(
        default_factory=list, description="Status-page components, in display order."
    )
    services: list[ServiceSpec] = Field(default_factory=list)
    severities: list[SeveritySpec] | None = None
    schedules: list[ScheduleSpec] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicySpec] = Field(default_factory=list)
    webhooks: list[WebhookSpec] = Field(
        default_factory=list, description="Outgoing signed webhooks that escalation levels call."
    )


Problem = Callable[[str, str], str]
_T = TypeVar("_T")


def _plain_problem(path: str, message: str) -> str:
    return f"{path}: {message}" if path else message


def build_schedule(
    spec: ScheduleSpec,
    *,
    known_users: set[str] | None = None,
    path: str = "",
    problem: Problem = _plain_problem,
) -> tuple[sched.Schedule | None, list[str]]:
    """Return the core schedule `spec` describes and every problem found (all of them).

    Each problem names the path, the schedule and the offending value, such as
    `schedules[0].layers[1].rotation: schedule 'primary': rotation '3 fortnights' ...`.
    """
    problems: list[str] = []
    here = f"schedule {spec.name!r}"

    def bad(where: str, message: str) -> None:
        full = f"{path}{where}" if path else where.lstrip(".")
        problems.append(problem(full, f"{here}: {message}"))

    if not spec.name.strip():
        bad(".name", "the name must not be empty")
    zone_ok = _zone_known(spec.time_zone)
    if not zone_ok:
        bad(".time_zone", f"unknown time zone {spec.time_zone!r}")
    layers: list[sched.Layer] = []
    for i, layer in enumerate(spec.layers):
        at = f".layers[{i}]"
        rotation = _attempt(partial(sched.parse_rotation, layer.rotation), at + ".rotation", bad)
        start = _attempt(partial(_wall_clock, layer.start), at + ".start", bad)
        if layer.time_zone is not None and not _zone_known(layer.time_zone):
            bad(at + ".time_zone", f"unknown time zone {layer.time_zone!r}")
        if not layer.participants:
            bad(at + ".participants", f"layer {layer.name!r} has no participants")
        for j, user in enumerate(layer.participants):
            if user == sched.GAP:
                continue  # a turn with nobody on call
            if known_users is not None and user.lstrip("@") not in known_users:
                bad(f"{at}.participants[{j}]", f"unknown user {user!r}")
        restrictions: list[sched.Restriction] = []
        for j, r in enumerate(layer.restrictions):
            parsed = _attempt(
                partial(sched.parse_restriction, r.days, r.from_, r.to),
                f"{at}.restrictions[{j}]",
                bad,
            )
            if parsed is not None:
                restrictions.append(parsed)
        if rotation is not None and start is not None:
            layers.append(
                sched.Layer(
                    name=layer.name,
                    participants=tuple(u.lstrip("@") for u in layer.participants),
                    rotation=rotation,
                    start=start,
                    restrictions=tuple(restrictions),
                    time_zone=layer.time_zone,
                )
            )
    overrides: list[sched.Override] = []
    for i, o in enumerate(spec.overrides):
        at = f".overrides[{i}]"
        if known_users is not None and o.user.lstrip("@") not in known_users:
            bad(at + ".user", f"unknown user {o.user!r}")
        if not zone_ok:
            continue
        begin = _attempt(partial(sched.parse_time, o.from_, spec.time_zone), at + ".from", bad)
        end = _attempt(partial(sched.parse_time, o.to, spec.time_zone), at + ".to", bad)
        if begin is not None and end is not None:
            if end <= begin:
                bad(at + ".to", f"override for {o.user!r} ends at {o.to!r}, not after {o.from_!r}")
            else:
                overrides.append(sched.Override(o.user.lstrip("@"), begin, end))
    if problems:
        return None, problems
    built = sched.Schedule(spec.name, spec.time_zone, tuple(layers), tuple(overrides))
    try:
        sched.validate_schedule(built)
    except TocsinError as exc:
        return None, [problem(path, f"{here}: {p}") for p in exc.problems]
    return built, []


def _attempt(make: Callable[[], _T], where: str, bad: Callable[[str, str], None]) -> _T | None:
    try:
        return make()
    except TocsinError as exc:
        for p in exc.problems:
            bad(where, p)
        return None


def _wall_clock(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"start {text!r} is not a local date and time like 2020-03-06T02:30"
        ) from None
    if value.utcoffset() is not None:
        raise InvalidInput(
            f"start {text!r} must be local wall-clock time without an offset "
            "(the layer's or the schedule's time zone applies)"
        )
    return value


def _zone_known(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
        return False
    return True


@dataclass
class Config:
    """A loaded config file and where each of its paths sits in the file.

    `keys` are integration keys to keep ("service/integration" -> key), from a separate keys
    file (`load_keys`): the senders already use them, so only their URL changes.
    """

    spec: ConfigSpec
    path: str = "<config>"
    lines: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    keys_path: str = ""
    sha256: str = ""  # of the file's text, for the audit log

    def resolve(self, relative: str) -> Path:
        """Return a path the file names, relative to the file's own folder."""
        return Path(self.path).parent / relative

    def where(self, path: str) -> str:
        """Return "file:line" for a path like services[2].owner (the nearest known line)."""
        return locate(self.lines, self.path, path)

    def problem(self, path: str, message: str) -> str:
        """Return a problem line that names the file, the line and the path."""
        return f"{self.where(path)}: {path}: {message}" if path else f"{self.path}: {message}"

    def severity_levels(self) -> list[Severity] | None:
        """Return the file's severity scale, ranked in the order written, or None."""
        if self.spec.severities is None:
            return None
        return [
            Severity(
                name=s.name,
                rank=i + 1,
                definition=s.definition,
                example=s.example,
                response_time=_response_time(s.response_time),
                business_hours=_is_business_day(s.response_time),
                update_cadence=parse_duration(s.update_cadence) if s.update_cadence else None,
                notify_executives=s.notify_executives,
            )
            for i, s in enumerate(self.spec.severities)
        ]


def _is_business_day(text: str) -> bool:
    return text.strip().lower() in {"next business day", "business day"}


def _response_time(text: str) -> timedelta | None:
    return None if _is_business_day(text) else parse_duration(text)


def locate(lines: dict[str, int], source: str, path: str) -> str:
    """Return "file:line" of `path`, or of its nearest enclosing path with a known line."""
    probe = path
    while probe:
        if probe in lines:
            return f"{source}:{lines[probe]}"
        probe = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
    return source


def line_map(root: yaml.Node | None) -> dict[str, int]:
    """Return the line of every path ("services[2].slug") of a composed YAML document."""
    lines: dict[str, int] = {}
    if root is not None:
        _line_map(root, "", lines)
    return lines


def _line_map(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    if path:
        lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            lines[child] = key.start_mark.line + 1
            _line_map(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, f"{path}[{i}]", lines)


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Loader(yaml.SafeLoader):
    """YAML without the YAML 1.1 surprises: 17:00 stays text (not the base-60 number 1020), and
    2020-03-08T08:30:00 stays text (not a datetime with its offset silently applied)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
    ),
    list("-+0123456789"),
)


def parse(text: str, path: str = "<config>") -> Config:
    """Return the config in YAML `text`, or raise InvalidInput listing every problem."""
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{where}: not valid YAML: {reason}") from exc
    lines = line_map(root)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: the top level must be a mapping with users:, services: ...")
    config = Config(ConfigSpec(), path=path, lines=lines)
    try:
        config.spec = ConfigSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _dotted(tuple(err["loc"]))
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(config.problem(where, message))
        raise InvalidInput.of(problems) from None
    problems = []
    for i, s in enumerate(config.spec.severities or []):
        for name in ("response_time", "update_cadence"):
            value = getattr(s, name)
            if value is None or (name == "response_time" and _is_business_day(value)):
                continue
            try:
                parse_duration(value)
            except TocsinError as exc:
                problems.append(config.problem(f"severities[{i}].{name}", exc.message))
    if problems:
        raise InvalidInput.of(problems)
    return config


def load(path: Path | str) -> Config:
    """Return the config in file `path`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
    loaded = parse(text, str(file))
    loaded.sha256 = hashlib.sha256(text.encode()).hexdigest()
    return loaded


# A kept key: long enough not to be guessed, visible ASCII as a header or URL carries it.
KEY_PATTERN = re.compile(r"[!-~]{20,200}")


def load_keys(path: Path | str) -> dict[str, str]:
    """Return the integration keys of a keys file, or raise InvalidInput listing every problem.

    The file is YAML: `integrations:` mapping "service/integration" to its key. It holds
    secrets, so it is kept apart from the config file (which is committed) and readable by its
    owner only: a file others may read is refused.
    """
    file = Path(path)
    try:
        mode = file.stat().st_mode
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
    if mode & 0o077:
        raise InvalidInput(
            f"{file}: holds integration keys but others may read it; chmod 600 {file}"
        )
    try:
        data = yaml.load(text, Loader=_Loader) or {}
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file}: not valid YAML") from exc  # no excerpt: it is secret
    lines = line_map(root) if root is not None else {}
    found = data.get("integrations") if isinstance(data, dict) else None
    if not isinstance(found, dict) or set(data) - {"integrations"}:
        raise InvalidInput(f"{file}: expected `integrations:` mapping service/name to its key")
    problems = []
    seen: dict[str, str] = {}
    for name, key in found.items():
        where = f"{file}:{lines.get(f'integrations.{name}', lines.get('integrations', 1))}"
        if not isinstance(name, str) or name.count("/") != 1:
            problems.append(f"{where}: {name!r} is not service/integration")
        elif not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            problems.append(
                f"{where}: the key of {name} must be 20 to 200 visible characters (not shown)"
            )
        elif len(set(key)) < 8:
            problems.append(f"{where}: the key of {name} is too easy to guess (not shown)")
        elif key in seen:
            problems.append(f"{where}: {name} reuses the key of {seen[key]}")
        else:
            seen[key] = name
    if problems:
        raise InvalidInput.of(problems)
    return {str(name): str(key) for name, key in found.items()}


def dump(data: dict[str, Any]) -> str:
    """Return `data` as YAML in the file's layout (keys in the order given)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of `tocsin.yaml`, for editors that validate YAML as you type."""
    schema = ConfigSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tocsin.yaml"
    schema["description"] = "Tocsin configuration as code, applied with `tocsin apply -f`."
    return schema
