"""An incident's own chat channel: its name, its topic, and what of the timeline is said there.

Pure rules for `engine.channels`: a channel is named after the incident (`inc-42-api-502s`),
its topic says severity, status and commander at a glance, and the changes responders must not
miss (status, severity, roles, acknowledgement, status updates) are posted as they happen. The
rest of the timeline (notifications, alerts, notes) stays in Tocsin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tocsin.core.incident import EventKind, IncidentStatus

# Slack's rules for a channel name: lower case letters, digits, hyphens and underscores, at
# most 80 characters.
MAX_NAME = 80
MAX_TOPIC = 250
_NOT_NAME = re.compile(r"[^a-z0-9_]+")
_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")

# What each posted change looks like in the channel.
_MARKS = {
    EventKind.STATUS_CHANGED: ":arrows_counterclockwise:",
    EventKind.REOPENED: ":leftwards_arrow_with_hook:",
    EventKind.SEVERITY_CHANGED: ":rotating_light:",
    EventKind.ROLE_ASSIGNED: ":bust_in_silhouette:",
    EventKind.ROLE_REMOVED: ":bust_in_silhouette:",
    EventKind.ACKNOWLEDGED: ":white_check_mark:",
    EventKind.STATUS_UPDATE: ":mega:",
}
# Changes after which the topic (severity, status, commander) is written again.
TOPIC_KINDS = frozenset(
    {
        EventKind.STATUS_CHANGED,
        EventKind.REOPENED,
        EventKind.SEVERITY_CHANGED,
        EventKind.ROLE_ASSIGNED,
        EventKind.ROLE_REMOVED,
    }
)


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """Which incidents get a channel, what it is called, and when it is archived.

    `severities` lists the levels that get one (empty: none do); `archive_after_seconds` is how
    long after resolution the channel stays open for the wrap-up talk; `pin_emoji` is the
    reaction that makes a message a timeline note.
    """

    prefix: str = "inc"
    severities: tuple[str, ...] = ("SEV-1", "SEV-2")
    archive_after_seconds: int = 24 * 3600
    pin_emoji: str = "pushpin"

    def wants(self, severity: str) -> bool:
        """Return whether an incident of `severity` gets its own channel."""
        return severity in self.severities


def valid_prefix(prefix: str) -> bool:
    """Return whether `prefix` can start a channel name (lower case, at most 20 characters)."""
    return _PREFIX.fullmatch(prefix) is not None


def channel_name(prefix: str, number: int, title: str) -> str:
    """Return the channel's name: `inc-42-api-502s` for INC-42 "API 502s"."""
    words = _NOT_NAME.sub("-", title.lower()).strip("-")
    name = f"{prefix}-{number}" + (f"-{words}" if words else "")
    return name[:MAX_NAME].rstrip("-_")


def topic(severity: str, status: str, commander: str | None) -> str:
    """Return the channel's topic: "SEV-1 | Mitigating | IC @alice"."""
    who = f"IC @{commander}" if commander else "no IC yet"
    return f"{severity} | {status.capitalize()} | {who}"[:MAX_TOPIC]


def post_text(kind: str, actor: str, message: str) -> str | None:
    """Return what to post in the channel for a timeline entry, or None to leave it out."""
    try:
        mark = _MARKS.get(EventKind(kind))
    except ValueError:
        return None
    if mark is None:
        return None
    by = "" if actor in ("", "tocsin") else f" (by {actor})"
    return f"{mark} {message}{by}"


def resolves(kind: str, source: object, target: object) -> bool:
    """Return whether a status change from `source` to `target` ended the incident (an open
    status to resolved or closed; resolved to closed ended nothing new)."""
    if kind != EventKind.STATUS_CHANGED:
        return False
    try:
        return IncidentStatus(str(source)).is_open and not IncidentStatus(str(target)).is_open
    except ValueError:
        return False
