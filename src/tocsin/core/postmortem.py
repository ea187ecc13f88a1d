"""Postmortems: the seed's blameless template, drafted from what the incident recorded.

The draft takes its facts from the incident (date, duration, severity, services, the timeline
in UTC, detection and resolution times from the milestones) and leaves the judgement (root
cause unless known, what went well, what went wrong) for people to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tocsin.core import comms
from tocsin.core.incident import IncidentView
from tocsin.errors import Conflict, InvalidInput

# Timeline kinds that say nothing a reader of the postmortem needs.
_QUIET = frozenset({"alert_repeated", "notified", "reminder"})


class PostmortemStatus(StrEnum):
    """Where a postmortem is: written, reviewed, then published."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"


class ActionStatus(StrEnum):
    """Where an action item is."""

    OPEN = "open"
    DONE = "done"
    WONT_DO = "wont_do"


PRIORITIES = ("P0", "P1", "P2", "P3")
_NEXT: dict[PostmortemStatus, tuple[PostmortemStatus, ...]] = {
    PostmortemStatus.DRAFT: (PostmortemStatus.IN_REVIEW,),
    PostmortemStatus.IN_REVIEW: (PostmortemStatus.DRAFT, PostmortemStatus.PUBLISHED),
    PostmortemStatus.PUBLISHED: (),
}


def next_statuses(status: str) -> tuple[PostmortemStatus, ...]:
    """Return the statuses a postmortem in `status` may move to."""
    return _NEXT[PostmortemStatus(status)]


@dataclass(frozen=True, slots=True)
class ActionLine:
    """An action item as the postmortem lists it."""

    action: str
    owner: str
    priority: str


def parse_priority(value: str) -> str:
    """Return "P0".."P3", or raise InvalidInput listing the valid ones."""
    text = value.strip().upper()
    if text not in PRIORITIES:
        raise InvalidInput(f"unknown priority {value!r}; valid priorities: {', '.join(PRIORITIES)}")
    return text


def parse_action_status(value: str) -> ActionStatus:
    """Return an action status ("won't do" reads as wont_do), or raise InvalidInput."""
    text = value.strip().lower().replace("'", "").replace(" ", "_").replace("-", "_")
    try:
        return ActionStatus(text)
    except ValueError:
        raise InvalidInput(f"unknown action status {value!r}; valid: open, done, wont_do") from None


def move(ref: str, current: PostmortemStatus, target: PostmortemStatus) -> PostmortemStatus:
    """Return `target` if a postmortem may go there from `current`, or raise Conflict."""
    if target not in _NEXT[current]:
        allowed = ", ".join(s.value for s in _NEXT[current]) or "nothing: it is published"
        raise Conflict(f"the postmortem of {ref} is {current.value}; it can go to {allowed}")
    return target


def draft_context(view: IncidentView, actions: list[ActionLine]) -> dict[str, Any]:
    """Return what the draft template shows, from the incident's facts."""
    ttr = comms.time_to_resolution(view)
    timeline = [
        f"{entry.at:%H:%M} UTC - {entry.message}"
        + (f" ({entry.at:%Y-%m-%d})" if entry.at.date() != view.detected_at.date() else "")
        for entry in view.timeline
        if entry.kind not in _QUIET
    ]
    return {
        "ref": view.ref,
        "title": view.title,
        "date": f"{view.detected_at:%Y-%m-%d}",
        "duration": comms.format_duration(ttr) if ttr is not None else "(not resolved yet)",
        "severity": view.severity,
        "services": ", ".join(view.services) or "(none)",
        "time_to_detection": comms.format_duration(comms.time_to_detection(view)),
        "time_to_resolution": comms.format_duration(ttr) if ttr is not None else "(not resolved)",
        "timeline": timeline,
        "root_cause": view.root_cause or "(to be written: what in the system let this happen?)",
        "actions": [
            {"action": a.action, "owner": f"@{a.owner}" if a.owner else "-", "priority": a.priority}
            for a in actions
        ],
    }
