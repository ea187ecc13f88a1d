"""Tabletop drills: the scenario a team rehearses, and the score card that judges the response.

A scenario is data (YAML in the shell, plain values here): what breaks, on which service, at
which severity, and a script of steps at offsets from the start (`+0m`, `+15m`). Each step does
exactly one thing:

    alert:        an alert fires (or resolves), in Alertmanager's shape: labels, annotations
    resolve_alerts: every alert the scenario fired resolves (the fix took)
    acknowledge:  a paged responder acknowledges: `level:2`, or `user:HANDLE`
    ignore:       a paged responder does not answer (so the policy escalates)
    assign:       someone takes a role: who (`level:N`, `acknowledger`, `user:HANDLE`), role
    update:       a status update: message, visibility (internal/public), public status
    status:       the incident moves on: triaging or mitigating
    resolve:      the incident is resolved: message, root cause, resolution
    note:         a line on the incident's timeline

Assigning a commander, posting updates, changing the status and resolving are the incident
commander's decisions; in an interactive drill the person at the keyboard makes them instead.

The score compares the recorded milestones with targets: acknowledge and assign an IC within the
severity's response time (seed: SEV-1 5 min), a first public update within one update cadence of
detection and then no gap longer than the cadence (seed: SEV-1 every 15 min), and mitigation and
resolution within the scenario's own targets (the severity table has none for those).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tocsin.core.severity import Severity
from tocsin.errors import InvalidInput

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_OFFSET = re.compile(r"^\+?\s*((?:\d+\s*[hms]\s*)+)$", re.IGNORECASE)
_PART = re.compile(r"(\d+)\s*([hms])", re.IGNORECASE)
_UNITS = {"h": 3600, "m": 60, "s": 1}


class Kind(StrEnum):
    """What a step does (the step's key in the scenario file)."""

    ALERT = "alert"
    RESOLVE_ALERTS = "resolve_alerts"
    ACKNOWLEDGE = "acknowledge"
    IGNORE = "ignore"
    ASSIGN = "assign"
    UPDATE = "update"
    STATUS = "status"
    RESOLVE = "resolve"
    NOTE = "note"

    @property
    def is_decision(self) -> bool:
        """Return whether the incident commander makes this move (asked for when interactive)."""
        return self in _DECISIONS


_DECISIONS = frozenset({Kind.ASSIGN, Kind.UPDATE, Kind.STATUS, Kind.RESOLVE})
ROLES = ("commander", "responder", "scribe", "communications", "observer")
PUBLIC_STATUSES = ("investigating", "identified", "monitoring", "resolved")
STATUSES = ("triaging", "mitigating")
TARGET_NAMES = ("mitigate", "resolve")


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """One alert as Alertmanager sends it."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    firing: bool = True
    fingerprint: str | None = None

    @property
    def name(self) -> str:
        """Return the alert's `alertname` label."""
        return self.labels.get("alertname", "alert")


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted step; `path` is where it sits in the file (`steps[3]`)."""

    at: timedelta
    kind: Kind
    path: str
    say: str = ""
    alert: AlertSpec | None = None
    who: str = ""
    role: str = "commander"
    speciality: str | None = None
    message: str = ""
    visibility: str = "internal"
    public_status: str | None = None
    status: str = ""
    root_cause: str = ""
    resolution: str = ""

    @property
    def level(self) -> int | None:
        """Return N for a `level:N` responder, else None."""
        kind, _, value = self.who.partition(":")
        return int(value) if kind == "level" else None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A drill script."""

    name: str
    title: str
    service: str
    severity: str
    steps: tuple[Step, ...]
    description: str = ""
    targets: Mapping[str, timedelta] = field(default_factory=dict)

    @property
    def length(self) -> timedelta:
        """Return the offset of the last step."""
        return max((s.at for s in self.steps), default=timedelta(0))

    def mitigation_at(self) -> timedelta | None:
        """Return the offset at which the script starts mitigating, if it does."""
        return next(
            (s.at for s in self.steps if s.kind is Kind.STATUS and s.status == "mitigating"),
            None,
        )


def parse_offset(text: Any) -> timedelta:
    """Return the offset in "+0m", "+15m", "+1h30m" or "+90s"."""
    match = _OFFSET.match(str(text).strip()) if isinstance(text, str | int) else None
    if match is None or isinstance(text, bool):
        raise InvalidInput(f"{text!r} is not an offset; write it like +0m, +15m, +1h30m or +90s")
    seconds = sum(int(n) * _UNITS[u.lower()] for n, u in _PART.findall(match.group(1)))
    return timedelta(seconds=seconds)


def format_offset(delta: timedelta) -> str:
    """Return an offset as the scenario files write it: "+15m", "+1h05m", "+2m30s"."""
    return "+" + short(delta).replace(" ", "")


def short(delta: timedelta) -> str:
    """Return a duration compactly: "45s", "8m", "8m 30s", "1h 5m"."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-" + short(-delta)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}" if path else message)

    def text(self, data: Mapping[str, Any], key: str, path: str, *, required: bool) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.add(f"{path}.{key}" if path else key, "required")
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.add(f"{path}.{key}" if path else key, "must be text")
            return ""
        return str(value).strip()

    def mapping(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, "must be a mapping")
            return None
        return value

    def unknown(self, data: Mapping[str, Any], known: Sequence[str], path: str) -> None:
        for key in data:
            if key not in known:
                self.add(f"{path}.{key}" if path else str(key), "unknown key")


def parse_scenario(
    data: Any, *, severities: Sequence[str] | None = None, fallback_name: str = ""
) -> Scenario:
    """Return the scenario in `data` (a parsed YAML document), or raise InvalidInput.

    Every problem is reported at once, each with its path (`steps[2].alert.labels: ...`).
    `severities`, when given, are the valid severity names.
    """
    p = _Problems()
    if not isinstance(data, dict):
        raise InvalidInput("the scenario must be a mapping with name:, service:, steps: ...")
    p.unknown(data, ("name", "title", "description", "service", "severity", "targets", "steps"), "")
    name = p.text(data, "name", "", required=not fallback_name) or fallback_name
    if name and not _NAME.match(name):
        p.add("name", f"{name!r} must be lowercase words joined by hyphens, like database-failure")
    title = p.text(data, "title", "", required=True)
    service = p.text(data, "service", "", required=True)
    severity = p.text(data, "severity", "", required=True)
    if severity and severities is not None:
        wanted = _key(severity)
        match = next((s for s in severities if _key(s) == wanted), None)
        if match is None:
            p.add("severity", f"unknown severity {severity!r}; valid: {', '.join(severities)}")
        else:
            severity = match
    targets: dict[str, timedelta] = {}
    raw_targets = data.get("targets")
    if raw_targets is not None:
        found = p.mapping(raw_targets, "targets")
        for key, value in (found or {}).items():
            if key not in TARGET_NAMES:
                p.add(f"targets.{key}", f"unknown target; valid: {', '.join(TARGET_NAMES)}")
                continue
            try:
                targets[key] = parse_offset(value)
            except InvalidInput as exc:
                p.add(f"targets.{key}", exc.message)
    steps: list[Step] = []
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        p.add("steps", "required: a list of steps, each with at: and one action")
        raw_steps = []
    for i, raw in enumerate(raw_steps):
        step = _parse_step(raw, f"steps[{i}]", p)
        if step is not None:
            steps.append(step)
    _check_script(steps, p)
    if p.items:
        raise InvalidInput.of(p.items)
    return Scenario(
        name=name,
        title=title,
        service=service,
        severity=severity,
        description=str(data.get("description") or "").strip(),
        # stable: steps at the same offset keep the order they were written in
        steps=tuple(sorted(steps, key=lambda s: s.at)),
        targets=targets,
    )


def _key(name: str) -> str:
    return name.strip().upper().replace("-", "").replace("_", "").replace(" ", "")


_STEP_KEYS = ("at", "say", *(k.value for k in Kind))


def _parse_step(raw: Any, path: str, p: _Problems) -> Step | None:
    data = p.mapping(raw, path)
    if data is None:
        return None
    p.unknown(data, _STEP_KEYS, path)
    at = timedelta(0)
    if "at" not in data:
        p.add(f"{path}.at", "required, an offset like +5m")
    else:
        try:
            at = parse_offset(data["at"])
        except InvalidInput as exc:
            p.add(f"{path}.at", exc.message)
    actions = [k for k in Kind if k.value in data]
    if len(actions) != 1:
        valid = ", ".join(k.value for k in Kind)
        found = ", ".join(k.value for k in actions)
        p.add(path, f"needs exactly one action ({valid}); found {found or 'none'}")
        return None
    kind = actions[0]
    say = p.text(data, "say", path, required=False)
    body = data[kind.value]
    where = f"{path}.{kind.value}"
    if kind is Kind.ALERT:
        alert = _parse_alert(body, where, p)
        return Step(at, kind, path, say, alert=alert) if alert else None
    if kind is Kind.RESOLVE_ALERTS:
        if body not in (True, None):
            p.add(where, "write resolve_alerts: true")
        return Step(at, kind, path, say)
    if kind is Kind.NOTE:
        if not isinstance(body, str) or not body.strip():
            p.add(where, "must be the note's text")
            return None
        return Step(at, kind, path, say, message=body.strip())
    if kind in (Kind.ACKNOWLEDGE, Kind.IGNORE):
        who = body if isinstance(body, str) else None
        if isinstance(body, dict):
            p.unknown(body, ("who",), where)
            who = p.text(body, "who", where, required=True)
            where = f"{where}.who"
        if not who or not _valid_who(who, allow_acknowledger=False):
            p.add(where, "must be a paged responder: level:N or user:HANDLE")
            return None
        return Step(at, kind, path, say, who=who)
    fields = p.mapping(body, where)
    if fields is None:
        return None
    if kind is Kind.ASSIGN:
        p.unknown(fields, ("who", "role", "speciality"), where)
        who = p.text(fields, "who", where, required=True)
        if who and not _valid_who(who, allow_acknowledger=True):
            p.add(f"{where}.who", "must be level:N, acknowledger or user:HANDLE")
        role = p.text(fields, "role", where, required=False).lower() or "commander"
        if role not in ROLES:
            p.add(f"{where}.role", f"unknown role {role!r}; valid: {', '.join(ROLES)}")
        speciality = p.text(fields, "speciality", where, required=False) or None
        return Step(at, kind, path, say, who=who, role=role, speciality=speciality)
    if kind is Kind.UPDATE:
        p.unknown(fields, ("message", "visibility", "status"), where)
        message = p.text(fields, "message", where, required=True)
        visibility = p.text(fields, "visibility", where, required=False).lower() or "internal"
        if visibility not in ("internal", "public"):
            p.add(f"{where}.visibility", "must be internal or public")
        status = p.text(fields, "status", where, required=False).lower() or None
        if status is not None and status not in PUBLIC_STATUSES:
            p.add(f"{where}.status", f"unknown public status; valid: {', '.join(PUBLIC_STATUSES)}")
        if status is not None and visibility != "public":
            p.add(f"{where}.status", "only a public update has a status-page status")
        return Step(
            at, kind, path, say, message=message, visibility=visibility, public_status=status
        )
    if kind is Kind.STATUS:
        p.unknown(fields, ("to", "message"), where)
        to = p.text(fields, "to", where, required=True).lower()
        if to and to not in STATUSES:
            p.add(
                f"{where}.to",
                f"unknown status {to!r}; valid: {', '.join(STATUSES)} (use resolve: to resolve)",
            )
        message = p.text(fields, "message", where, required=False)
        return Step(at, kind, path, say, status=to, message=message)
    p.unknown(fields, ("message", "root_cause", "resolution"), where)
    return Step(
        at,
        kind,
        path,
        say,
        message=p.text(fields, "message", where, required=True),
        root_cause=p.text(fields, "root_cause", where, required=False),
        resolution=p.text(fields, "resolution", where, required=False),
    )


def _valid_who(who: str, *, allow_acknowledger: bool) -> bool:
    if allow_acknowledger and who == "acknowledger":
        return True
    kind, colon, value = who.partition(":")
    if not colon or not value.strip():
        return False
    if kind == "level":
        return value.isdigit() and int(value) >= 1
    return kind == "user"


def _parse_alert(body: Any, where: str, p: _Problems) -> AlertSpec | None:
    data = p.mapping(body, where)
    if data is None:
        return None
    p.unknown(data, ("status", "labels", "annotations", "fingerprint"), where)
    status = p.text(data, "status", where, required=False).lower() or "firing"
    if status not in ("firing", "resolved"):
        p.add(f"{where}.status", "must be firing or resolved")
    found: dict[str, dict[str, str]] = {}
    for part in ("labels", "annotations"):
        value = data.get(part, {})
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
        ):
            p.add(f"{where}.{part}", "must be a mapping of names to text")
            value = {}
        found[part] = {str(k): str(v) for k, v in value.items()}
    if "alertname" not in found["labels"]:
        p.add(f"{where}.labels.alertname", "required: every Alertmanager alert has one")
    fingerprint = p.text(data, "fingerprint", where, required=False) or None
    return AlertSpec(found["labels"], found["annotations"], status == "firing", fingerprint)


def _check_script(steps: Sequence[Step], p: _Problems) -> None:
    """Check the script as a whole: it must start with an alert and hold together."""
    ordered = sorted(steps, key=lambda s: s.at)
    alerts = [s for s in ordered if s.kind is Kind.ALERT and s.alert and s.alert.firing]
    if steps and not alerts:
        p.add("steps", "no alert fires: a drill starts with monitoring noticing something")
    elif alerts and ordered[0] is not alerts[0]:
        first = ordered[0]
        p.add(
            f"{first.path}",
            f"{first.kind.value} at {format_offset(first.at)} comes before "
            "the first alert fires; nothing has been noticed yet",
        )
    resolves = [s for s in ordered if s.kind is Kind.RESOLVE]
    if len(resolves) > 1:
        p.add(resolves[1].path, "the incident is resolved twice")
    if resolves:
        # A public "resolved" update may follow the resolve; taking a role or moving it may not.
        later = [
            s for s in ordered if s.at > resolves[0].at and s.kind in (Kind.ASSIGN, Kind.STATUS)
        ]
        for step in later:
            p.add(step.path, f"{step.kind.value} comes after the incident is resolved")


# --- scoring -------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """How one measure went."""

    MET = "met"
    MISSED = "missed"
    NEVER = "never"  # the milestone never happened
    UNTIMED = "no target"


@dataclass(frozen=True, slots=True)
class Page:
    """One page the escalation sent: to whom, at which level, when."""

    at: datetime
    user: str
    level: int


@dataclass(frozen=True, slots=True)
class Decision:
    """One choice the person playing the IC made in an interactive drill."""

    at: datetime
    choice: str
    asked_at: datetime


@dataclass(frozen=True, slots=True)
class Record:
    """What happened in a drill, as instants."""

    detected_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    commander_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    ended_at: datetime | None = None
    public_updates: tuple[datetime, ...] = ()
    pages: tuple[Page, ...] = ()
    decisions: tuple[Decision, ...] = ()
    severity: str = ""
    problems: tuple[str, ...] = ()  # what the shell saw go wrong: a step that could not be done


@dataclass(frozen=True, slots=True)
class Targets:
    """What each measure is judged against; None means no target."""

    acknowledge: timedelta | None
    commander: timedelta | None
    first_update: timedelta | None
    cadence: timedelta | None
    mitigate: timedelta | None
    resolve: timedelta | None


def targets_for(severity: Severity, scenario: Scenario) -> Targets:
    """Return the targets of a drill: the severity's response time and cadence, the scenario's."""
    return Targets(
        acknowledge=severity.response_time,
        # The seed: SEV-1 needs a response in 5 min and an IC around the clock; an IC is the
        # response, so the same target holds.
        commander=severity.response_time,
        # The first public update is due one cadence after detection, as the reminders have it.
        first_update=severity.update_cadence,
        cadence=severity.update_cadence,
        mitigate=scenario.targets.get("mitigate"),
        resolve=scenario.targets.get("resolve"),
    )


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One measure: how long it took, against what target."""

    label: str
    actual: timedelta | None
    target: timedelta | None
    verdict: Verdict

    def text(self) -> str:
        """Return the line as plain text: "Time to acknowledge  8m  target 5m  missed"."""
        actual = short(self.actual) if self.actual is not None else "never"
        target = f"target {short(self.target)}" if self.target is not None else "no target"
        verdict = "" if self.verdict in (Verdict.UNTIMED, Verdict.NEVER) else self.verdict.value
        return f"{self.label:<30}{actual:<9}{target:<14}{verdict}".rstrip()


@dataclass(frozen=True, slots=True)
class ScoreCard:
    """The drill's result."""

    lines: tuple[ScoreLine, ...]
    went_well: tuple[str, ...]
    went_wrong: tuple[str, ...]

    @property
    def met(self) -> int:
        """Return how many timed measures met their target."""
        return sum(1 for line in self.lines if line.verdict is Verdict.MET)

    @property
    def judged(self) -> int:
        """Return how many measures had a target."""
        return sum(1 for line in self.lines if line.target is not None)


_MEASURES = (
    ("Time to acknowledge", "acknowledged_at", "acknowledge", "acknowledged"),
    ("Time to assign an IC", "commander_at", "commander", "had an incident commander"),
    ("Time to first public update", "first_update_at", "first_update", "told the public"),
    ("Time to mitigate", "mitigated_at", "mitigate", "started mitigating"),
    ("Time to resolve", "resolved_at", "resolve", "resolved"),
)


def _judge(actual: timedelta | None, target: timedelta | None) -> Verdict:
    if target is None:
        return Verdict.UNTIMED if actual is not None else Verdict.NEVER
    if actual is None:
        return Verdict.MISSED
    return Verdict.MET if actual <= target else Verdict.MISSED


def longest_update_gap(record: Record) -> timedelta | None:
    """Return the longest stretch without a public update while the incident was open.

    Measured from detection, between updates, and from the last update to resolution (or the
    drill's end); None when there was no public update at all.
    """
    if not record.public_updates:
        return None
    end = record.resolved_at or record.ended_at or record.public_updates[-1]
    points = [record.detected_at, *sorted(record.public_updates)]
    if end > points[-1]:
        points.append(end)
    return max(b - a for a, b in itertools.pairwise(points))


def score(record: Record, targets: Targets, *, severity: str) -> ScoreCard:
    """Return the score card of a drill: one line per measure, what went well and wrong."""
    first_update = min(record.public_updates) if record.public_updates else None
    instants = {
        "acknowledged_at": record.acknowledged_at,
        "commander_at": record.commander_at,
        "first_update_at": first_update,
        "mitigated_at": record.mitigated_at,
        "resolved_at": record.resolved_at,
    }
    lines: list[ScoreLine] = []
    well: list[str] = []
    wrong: list[str] = []
    for label, attr, target_name, phrase in _MEASURES:
        at = instants[attr]
        actual = at - record.detected_at if at is not None else None
        target: timedelta | None = getattr(targets, target_name)
        verdict = _judge(actual, target)
        lines.append(ScoreLine(label, actual, target, verdict))
        whose = f"{severity}'s" if target_name in ("acknowledge", "commander") else "the"
        if verdict is Verdict.MET:
            assert actual is not None and target is not None
            well.append(
                f"{phrase.capitalize()} in {short(actual)}, within {whose} {short(target)} target"
            )
        elif verdict is Verdict.MISSED and actual is not None:
            assert target is not None
            wrong.append(
                f"{phrase.capitalize()} after {short(actual)}; {whose} target is {short(target)}"
            )
        elif actual is None:
            wrong.append(f"Never {phrase}")
    gap = longest_update_gap(record)
    if targets.cadence is not None:
        verdict = _judge(gap, targets.cadence) if gap is not None else Verdict.MISSED
        lines.append(ScoreLine("Longest gap between updates", gap, targets.cadence, verdict))
        if verdict is Verdict.MET and gap is not None:
            well.append(
                f"Public updates kept to {severity}'s cadence of every {short(targets.cadence)}"
            )
        elif gap is not None:
            wrong.append(
                f"{short(gap)} passed without a public update; {severity} asks for one "
                f"every {short(targets.cadence)}"
            )
    well_p, wrong_p = _paging_notes(record)
    well += well_p
    wrong += wrong_p
    well_d, wrong_d = _decision_notes(record)
    well += well_d
    wrong += wrong_d
    wrong += record.problems
    if record.severity and _key(record.severity) != _key(severity):
        wrong.append(
            f"The alert opened a {record.severity} incident; the scenario is {severity}: "
            "check the service's alert rules"
        )
    return ScoreCard(tuple(lines), tuple(well), tuple(wrong))


def _paging_notes(record: Record) -> tuple[list[str], list[str]]:
    well: list[str] = []
    wrong: list[str] = []
    if not record.pages:
        wrong.append("Nobody was paged: the service has no escalation policy, or nobody is on call")
        return well, wrong
    first = min(record.pages, key=lambda page: page.at)
    delay = first.at - record.detected_at
    when = f"{short(delay)} after detection" if delay else "as the incident was declared"
    well.append(f"The first page reached {first.user} {when}")
    levels = sorted({page.level for page in record.pages})
    if len(levels) > 1:
        later = [page for page in record.pages if page.level == levels[1]]
        at = min(page.at for page in later) - record.detected_at
        wrong.append(f"The level-{levels[0]} page went unanswered; the policy escalated")
        well.append(
            f"Escalation reached level {levels[1]} "
            f"({', '.join(sorted({p.user for p in later}))}) at {format_offset(at)}"
        )
    return well, wrong


def _decision_notes(record: Record) -> tuple[list[str], list[str]]:
    well: list[str] = []
    wrong: list[str] = []
    if not record.decisions:
        return well, wrong
    choices = [d.choice for d in record.decisions]
    first_real = next((c for c in choices if c != "wait"), None)
    if first_real == "assign":
        well.append("You took command before anything else: one person coordinates")
    elif first_real is not None and "assign" in choices:
        wrong.append(f"You chose {first_real} before anyone took command")
    if (
        "mitigate" in choices
        and "assign" in choices
        and choices.index("mitigate") < choices.index("assign")
    ):
        wrong.append("Mitigation began before an IC was assigned: fixes may conflict")
    waits = choices.count("wait")
    if waits:
        wrong.append(f"You waited {waits} time{'s' if waits != 1 else ''} while the clock ran")
    slow = max(record.decisions, key=lambda d: d.at - d.asked_at)
    if slow.at - slow.asked_at >= timedelta(minutes=1):
        wrong.append(f"Your slowest decision ({slow.choice}) took {short(slow.at - slow.asked_at)}")
    else:
        well.append("Every decision came within a minute")
    return well, wrong
