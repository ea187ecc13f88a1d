"""Moving in from another paging tool: its objects, mapped to a `tocsin.yaml`, with a report.

Each source (`pagerduty`, ...) turns the JSON its REST API answers into the data of a config
file that `tocsin apply` accepts, the integration keys to keep, and one report line for every
object it read: imported as it was, changed (and how), or skipped (and why). Nothing here
reads the network or the clock: the caller fetches, and says what "now" is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.errors import InvalidInput

IMPORTED, CHANGED, SKIPPED = "imported", "changed", "skipped"


@dataclass(frozen=True, slots=True)
class Line:
    """What became of one object of the source."""

    kind: str  # user, contact method, schedule, layer, escalation policy, service, ...
    name: str
    outcome: str  # IMPORTED, CHANGED or SKIPPED
    why: str = ""


@dataclass
class Migration:
    """A source's objects as a config file's data, the keys to keep, and the report."""

    source: str
    config: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    report: list[Line] = field(default_factory=list)
    # The source's ids of users and schedules -> their handles and names here.
    users: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, str] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # a source schedule's several
    checks: list[str] = field(default_factory=list)  # schedule differences, when verified

    def note(self, kind: str, name: str, outcome: str, why: str = "") -> None:
        self.report.append(Line(kind, name, outcome, why))

    def named(self, kind: str, title: str, name: str) -> None:
        """Note an object imported under `name`: as it was, or renamed from `title`."""
        if name == title:
            self.note(kind, title, IMPORTED)
        else:
            self.note(kind, title, CHANGED, f"named {name}")

    def person(
        self, email: str, name: str, zone: str, role: str, taken: set[str], kind: str
    ) -> tuple[str, dict[str, Any]]:
        """Return a user's new handle (from the email's local part, made unique among `taken`)
        and spec, and note them: imported, or changed when the handle is not that local part.
        A time zone that does not exist is refused, naming the user (`kind`)."""
        who = handle(email, name, taken)
        spec: dict[str, Any] = {"handle": who, "name": name}
        if "@" in email:
            spec["email"] = email
        known_zone(zone, kind)
        if zone != "UTC":
            spec["time_zone"] = zone
        if role != "responder":
            spec["role"] = role
        if who == email.split("@", 1)[0]:
            self.note("user", who, IMPORTED)
        else:
            self.note("user", who, CHANGED, f"handle {who} (from {email or name})")
        return who, spec

    def team(
        self,
        found: dict[str, dict[str, Any]],
        tid: str,
        name: str,
        members: list[str],
        taken: set[str],
    ) -> None:
        """Add a team of the source (its id, name and members' handles) to `found`."""
        found[tid] = {"slug": slug(name, taken), "name": name, "members": members}
        self.note("team", name, IMPORTED)

    def assemble(self, **sections: list[dict[str, Any]]) -> None:
        """Set the config file's data to the sections that have something, in the given order."""
        self.config = {key: found for key, found in sections.items() if found}

    def counts(self) -> dict[str, int]:
        """Return how many objects were imported, changed and skipped."""
        found = {IMPORTED: 0, CHANGED: 0, SKIPPED: 0}
        for line in self.report:
            found[line.outcome] += 1
        return found

    def markdown(self) -> str:
        """Return the report as Markdown: a summary, then one table row per object."""
        counts = self.counts()
        rows = [
            f"# Migration report: {self.source}",
            "",
            f"{counts[IMPORTED]} imported, {counts[CHANGED]} changed, {counts[SKIPPED]} skipped.",
            "",
            "| Kind | Name | Outcome | Why |",
            "|---|---|---|---|",
        ]
        for line in self.report:
            cells = (line.kind, line.name, line.outcome, line.why)
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        if self.checks:
            rows += ["", "## Schedules that differ", "", *(f"- {line}" for line in self.checks)]
        return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_HANDLE = re.compile(r"[^a-z0-9._-]+")


def slug(text: str, taken: set[str], *, limit: int = 63, fallback: str = "item") -> str:
    """Return a new slug for `text` (lowercase letters, digits and '-'), unique among `taken`
    (which it joins)."""
    base = _NOT_SLUG.sub("-", text.lower()).strip("-")[:limit].strip("-") or fallback
    return _unique(base, taken, limit)


def handle(email: str | None, name: str, taken: set[str]) -> str:
    """Return a new user handle: the email's local part, else the name, made valid and unique."""
    source = (email or "").split("@", 1)[0] or name
    base = _NOT_HANDLE.sub("-", source.lower()).strip("-._")[:40].strip("-._") or "user"
    return _unique(base, taken, 40)


def _unique(base: str, taken: set[str], limit: int) -> str:
    found, n = base, 2
    while found in taken:
        suffix = f"-{n}"
        found = base[: limit - len(suffix)] + suffix
        n += 1
    taken.add(found)
    return found


def need(value: Any, kind: str, what: str) -> Any:
    """Return `value`, or raise InvalidInput naming the object when the source left it out."""
    if value is None or value == "" or value == []:
        raise InvalidInput(f"{kind} has no {what}: the source's answer is not in its shape")
    return value


def known_zone(name: object, kind: str) -> ZoneInfo:
    """Return the time zone a source names, or raise InvalidInput naming the object."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{kind}: time zone {name!r} does not exist") from None


def instant(text: object, kind: str) -> datetime:
    """Return an instant a source gives in ISO 8601 with an offset (or Z)."""
    try:
        found = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{kind}: {text!r} is not a date and time") from None
    if found.utcoffset() is None:
        raise InvalidInput(f"{kind}: {text!r} has no offset")
    return found
