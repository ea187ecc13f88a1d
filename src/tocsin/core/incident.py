"""The incident lifecycle: statuses, transitions, milestones, roles and timeline wording.

The seed's five stages (detection, triage, mitigation, resolution, postmortem) plus `closed`:

    detected -> triaging -> mitigating -> resolved -> postmortem -> closed
                                ^            |
                                +------------+   reopen

Any forward jump is allowed; the stages it jumps over are recorded as skipped. The only way back
is `resolved -> mitigating` (a reopen). Everything here is pure: `now` is always a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from tocsin.errors import Conflict, InvalidInput


class IncidentStatus(StrEnum):
    """Where an incident is in its lifecycle; the values are what the database and API hold."""

    DETECTED = "detected"
    TRIAGING = "triaging"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """Return True while the incident still affects users (before resolution)."""
        return self in _OPEN


_ORDER: tuple[IncidentStatus, ...] = tuple(IncidentStatus)
_OPEN = frozenset({IncidentStatus.DETECTED, IncidentStatus.TRIAGING, IncidentStatus.MITIGATING})


class Role(StrEnum):
    """A part someone plays in the response. There is exactly one commander at a time."""

    COMMANDER = "commander"
    SCRIBE = "scribe"
    COMMUNICATIONS = "communications"
    RESPONDER = "responder"
    EXECUTIVE = "executive"
    OBSERVER = "observer"


class EventKind(StrEnum):
    """The kind of a timeline event."""

    DECLARED = "declared"
    STATUS_CHANGED = "status_changed"
    MILESTONE_SKIPPED = "milestone_skipped"
    REOPENED = "reopened"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_REMOVED = "role_removed"
    SEVERITY_CHANGED = "severity_changed"
    ACKNOWLEDGED = "acknowledged"
    STATUS_UPDATE = "status_update"
    NOTE = "note"
    EDITED = "edited"
    ALERT_ATTACHED = "alert_attached"
    ALERT_REPEATED = "alert_repeated"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ALERT_RESOLVED = "alert_resolved"
    ALERTS_RESOLVED = "alerts_resolved"
    NOTIFIED = "notified"
    ESCALATION = "escalation"
    REMINDER = "reminder"


class Visibility(StrEnum):
    """Who may read a status update."""

    INTERNAL = "internal"
    PUBLIC = "public"


class PublicStatus(StrEnum):
    """The status-page statuses of a public update (Statuspage's incident states)."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


# The milestone that entering each status stamps (when not stamped already).
MILESTONE_OF: dict[IncidentStatus, str] = {
    IncidentStatus.DETECTED: "detected_at",
    IncidentStatus.TRIAGING: "acknowledged_at",
    IncidentStatus.MITIGATING: "mitigated_at",
    IncidentStatus.RESOLVED: "resolved_at",
    IncidentStatus.CLOSED: "closed_at",
}

_E = TypeVar("_E", bound=StrEnum)

_INCIDENT_REF = re.compile(r"^(?:INC-?)?(\d{1,9})$", re.IGNORECASE)


def parse_choice(enum: type[_E], value: str, what: str, plural: str) -> _E:
    """Return the member of `enum` named `value`, or raise InvalidInput listing the valid ones."""
    try:
        return enum(value.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in enum)
        raise InvalidInput(f"unknown {what} {value!r}; valid {plural}: {valid}") from None


def parse_status(value: str) -> IncidentStatus:
    """Return the status called `value`, or raise InvalidInput listing the valid ones."""
    return parse_choice(IncidentStatus, value, "status", "statuses")


def parse_role(value: str) -> Role:
    """Return the role called `value`, or raise InvalidInput listing the valid ones."""
    return parse_choice(Role, value, "role", "roles")


def parse_public_status(value: str) -> PublicStatus:
    """Return the public status called `value`, or raise InvalidInput listing the valid ones."""
    return parse_choice(PublicStatus, value, "public status", "public statuses")


def parse_visibility(value: str) -> Visibility:
    """Return the visibility called `value`, or raise InvalidInput listing the valid ones."""
    return parse_choice(Visibility, value, "visibility", "visibilities")


def parse_incident_ref(ref: str | int) -> int:
    """Return the incident number in "INC-42", "inc42" or "42"."""
    match = _INCIDENT_REF.match(str(ref).strip())
    if not match:
        raise InvalidInput(f"{ref!r} is not an incident reference; write it like INC-42")
    return int(match.group(1))


def incident_ref(number: int) -> str:
    """Return the human reference of incident `number` ("INC-42")."""
    return f"INC-{number}"


def channel_name(number: int, service_slugs: list[str] | tuple[str, ...]) -> str:
    """Return the incident channel: `#incident-<service>` after the first affected service."""
    if service_slugs:
        return f"#incident-{service_slugs[0]}"
    return f"#incident-inc-{number}"


@dataclass(frozen=True, slots=True)
class Transition:
    """The effect of moving an incident from one status to another."""

    source: IncidentStatus
    target: IncidentStatus
    skipped: tuple[IncidentStatus, ...] = ()
    reopen: bool = False
    stamps: tuple[str, ...] = ()
    clears: tuple[str, ...] = ()


def plan_transition(ref: str, source: IncidentStatus, target: IncidentStatus) -> Transition:
    """Return what moving `ref` from `source` to `target` does, or raise Conflict if not allowed."""
    if source is target:
        raise Conflict(f"{ref} is already {target.value}")
    if source is IncidentStatus.CLOSED:
        raise Conflict(f"{ref} is closed and cannot be reopened; declare a new incident instead")
    si, ti = _ORDER.index(source), _ORDER.index(target)
    if ti < si:
        if source is IncidentStatus.RESOLVED and target is IncidentStatus.MITIGATING:
            return Transition(source, target, reopen=True, clears=("resolved_at",))
        raise Conflict(
            f"{ref} cannot go back from {source.value} to {target.value}; "
            "only a resolved incident can be reopened, to mitigating"
        )
    skipped = _ORDER[si + 1 : ti]
    stamps: list[str] = []
    if source is IncidentStatus.DETECTED:
        # Any move out of `detected` means a human is on it: that is the acknowledgement at the
        # latest (an explicit ack may have stamped it earlier; stamps never overwrite).
        stamps.append("acknowledged_at")
    milestone = MILESTONE_OF.get(target)
    if milestone and milestone not in stamps:
        stamps.append(milestone)
    return Transition(source, target, skipped=skipped, stamps=tuple(stamps))


def valid_next(source: IncidentStatus) -> list[IncidentStatus]:
    """Return the statuses an incident in `source` may move to."""
    if source is IncidentStatus.CLOSED:
        return []
    nexts = list(_ORDER[_ORDER.index(source) + 1 :])
    if source is IncidentStatus.RESOLVED:
        nexts.insert(0, IncidentStatus.MITIGATING)
    return nexts


def default_public_status(status: IncidentStatus) -> PublicStatus:
    """Return the public status a public update gets when none is given."""
    if status in (IncidentStatus.DETECTED, IncidentStatus.TRIAGING):
        return PublicStatus.INVESTIGATING
    if status is IncidentStatus.MITIGATING:
        return PublicStatus.IDENTIFIED
    return PublicStatus.RESOLVED


# --- timeline wording: the seed's phrases, so `show` reads like the seed's summary() -------------


def status_message(target: IncidentStatus, message: str | None) -> str:
    """Return the seed's `[STATUS] message` line."""
    text = (message or "").strip()
    return f"[{target.value.upper()}] {text}" if text else f"[{target.value.upper()}]"


def role_message(role: Role, name: str, speciality: str | None = None) -> str:
    """Return the timeline line for a role assignment ("IC assigned: Alice")."""
    if role is Role.COMMANDER:
        return f"IC assigned: {name}"
    if role is Role.RESPONDER:
        return (
            f"Responder added: {name} ({speciality})" if speciality else f"Responder added: {name}"
        )
    return f"{role.value.capitalize()} assigned: {name}"


def severity_message(old: str, new: str, upgrade: bool, reason: str) -> str:
    """Return the timeline line for a severity change."""
    verb = "upgraded" if upgrade else "downgraded"
    return f"Severity {verb} from {old} to {new}: {reason}"


def update_message(visibility: Visibility, public_status: PublicStatus | None, text: str) -> str:
    """Return the timeline line for a status update."""
    if visibility is Visibility.PUBLIC and public_status is not None:
        return f"Public update ({public_status.value}): {text}"
    return f"Internal update: {text}"


def commander_warning(name: str) -> str:
    """Return the warning given when the commander also takes a hands-on role."""
    return (
        f"{name} is the incident commander; the IC coordinates and does not debug. "
        "Hand the hands-on work to another responder or hand over the IC role."
    )


def require_text(value: str | None, what: str) -> str:
    """Return `value` stripped, or raise InvalidInput if it is empty."""
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{what} must not be empty")
    return text


# --- a plain view of a stored incident, for templates, summaries and (later) postmortems ---------


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone holding a role in an incident."""

    handle: str
    name: str
    role: Role
    speciality: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One timeline event as shown to people."""

    at: datetime
    kind: str
    actor: str
    message: str


@dataclass(frozen=True, slots=True)
class IncidentView:
    """A stored incident as plain values."""

    number: int
    title: str
    severity: str
    status: IncidentStatus
    services: tuple[str, ...]
    channel: str
    started_at: datetime
    detected_at: datetime
    impact: str = ""
    summary: str = ""
    detection: str = ""
    root_cause: str = ""
    resolution: str = ""
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    skipped: tuple[str, ...] = ()
    participants: tuple[Participant, ...] = ()
    timeline: tuple[TimelineEntry, ...] = field(default=())

    @property
    def ref(self) -> str:
        """Return "INC-<number>"."""
        return incident_ref(self.number)

    @property
    def commander(self) -> Participant | None:
        """Return the incident commander, if one is assigned."""
        return next((p for p in self.participants if p.role is Role.COMMANDER), None)

    @property
    def responders(self) -> tuple[Participant, ...]:
        """Return the responders, in the order they joined."""
        return tuple(p for p in self.participants if p.role is Role.RESPONDER)
