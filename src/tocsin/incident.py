"""The seed's in-memory `Incident`, for scripts and tabletop notes; same interface, same output.

It checks what the seed's class took on trust: the severity must be on the scale and the status
must be one of the lifecycle's (an unknown one raises `InvalidInput` listing the valid ones).
"""

from __future__ import annotations

from typing import TypedDict

from tocsin.core.incident import (
    IncidentStatus,
    Role,
    parse_status,
    role_message,
    status_message,
)
from tocsin.core.severity import SeverityScale

_SCALE = SeverityScale()


class Responder(TypedDict):
    """A responder as the seed stores one."""

    name: str
    role: str


class Incident:
    """An incident kept in memory, with the seed's `incident_commander.py` interface."""

    def __init__(self, severity: str, service: str, description: str) -> None:
        self.severity = _SCALE.get(severity).name
        self.service = service
        self.description = description
        self.timeline: list[str] = []
        self.ic: str | None = None
        self.responders: list[Responder] = []
        self.status = IncidentStatus.DETECTED.value

    def assign_ic(self, name: str) -> None:
        """Make `name` the incident commander."""
        self.ic = name
        self.timeline.append(role_message(Role.COMMANDER, name))

    def add_responder(self, name: str, role: str) -> None:
        """Add `name` as a responder with speciality `role`."""
        self.responders.append({"name": name, "role": role})
        self.timeline.append(role_message(Role.RESPONDER, name, role))

    def update_status(self, status: str, message: str) -> None:
        """Move to `status` and log `message` on the timeline."""
        target = parse_status(status)
        self.status = target.value
        self.timeline.append(status_message(target, message))

    def summary(self) -> None:
        """Print the seed's incident summary."""
        print(self.summary_text(), end="")

    def summary_text(self) -> str:
        """Return what `summary()` prints."""
        lines = [
            "=== Incident Summary ===",
            f"Severity: {self.severity}",
            f"Service: {self.service}",
            f"Description: {self.description}",
            f"IC: {self.ic}",
            f"Status: {self.status}",
        ]
        lines += [f" {entry}" for entry in self.timeline]
        return "\n".join(lines) + "\n"
