"""Severity levels: the seed's SEV-1..SEV-4 table, ordered, with SEV-1 the highest."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from tocsin.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Severity:
    """One severity level.

    `rank` orders levels: 1 is the highest (most urgent). `response_time` is how soon a responder
    must engage; `None` with `business_hours=True` means "next business day" (the seed's SEV-4).
    `update_cadence` is how often stakeholders expect a status update while the incident is open;
    `None` means no cadence is enforced.
    """

    name: str
    rank: int
    definition: str
    response_time: timedelta | None
    example: str = ""
    update_cadence: timedelta | None = None
    business_hours: bool = False
    notify_executives: bool = False

    @property
    def response_time_label(self) -> str:
        """Return the response time as the seed's table writes it ("5 min", "1 hour")."""
        if self.response_time is None:
            return "Next business day" if self.business_hours else "None"
        return format_duration_short(self.response_time)


def format_duration_short(delta: timedelta) -> str:
    """Return "5 min", "1 hour", "2 hours", "1 day" for whole units, else minutes."""
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" if days == 1 else f"{days} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


DEFAULT_SEVERITIES: tuple[Severity, ...] = (
    Severity(
        name="SEV-1",
        rank=1,
        definition="Complete outage, all users affected",
        response_time=timedelta(minutes=5),
        example="Database primary down",
        update_cadence=timedelta(minutes=15),
        notify_executives=True,
    ),
    Severity(
        name="SEV-2",
        rank=2,
        definition="Major feature degraded, partial outage",
        response_time=timedelta(minutes=15),
        example="API latency > 5s",
        update_cadence=timedelta(minutes=30),
    ),
    Severity(
        name="SEV-3",
        rank=3,
        definition="Minor issue, workaround available",
        response_time=timedelta(hours=1),
        example="UI display bug",
        update_cadence=timedelta(hours=2),
    ),
    Severity(
        name="SEV-4",
        rank=4,
        definition="Cosmetic, no user impact",
        response_time=None,
        example="Documentation error",
        business_hours=True,
    ),
)


@dataclass(frozen=True, slots=True)
class SeverityScale:
    """An ordered set of severities; lookups are case-insensitive ("sev-1", "SEV1", "1")."""

    levels: tuple[Severity, ...] = DEFAULT_SEVERITIES
    _by_key: Mapping[str, Severity] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = validate_levels(self.levels)
        if problems:
            raise InvalidInput.of(problems)
        ordered = tuple(sorted(self.levels, key=lambda s: s.rank))
        object.__setattr__(self, "levels", ordered)
        object.__setattr__(self, "_by_key", {_key(s.name): s for s in ordered})

    @property
    def names(self) -> list[str]:
        """Return the level names, highest first."""
        return [s.name for s in self.levels]

    def get(self, name: str) -> Severity:
        """Return the level called `name`, or raise InvalidInput listing the valid ones."""
        level = self._by_key.get(_key(name))
        if level is None and name.strip().isdigit():
            level = next((s for s in self.levels if s.rank == int(name)), None)
        if level is None:
            raise InvalidInput(
                f"unknown severity {name!r}; valid severities: {', '.join(self.names)}"
            )
        return level

    def compare(self, a: str, b: str) -> int:
        """Return <0 if `a` is more severe than `b`, 0 if equal, >0 if less severe."""
        return self.get(a).rank - self.get(b).rank

    def with_definitions(self, overrides: Mapping[str, Mapping[str, str]]) -> SeverityScale:
        """Return the scale with per-service definition and example texts applied."""
        levels = []
        for level in self.levels:
            text = overrides.get(level.name, {})
            levels.append(
                replace(
                    level,
                    definition=text.get("definition", level.definition),
                    example=text.get("example", level.example),
                )
            )
        return SeverityScale(tuple(levels))


def validate_levels(levels: Iterable[Severity]) -> list[str]:
    """Return every problem with a list of severity levels (empty when valid)."""
    problems: list[str] = []
    items = list(levels)
    if not items:
        problems.append("at least one severity level is required")
    seen_names: set[str] = set()
    seen_ranks: set[int] = set()
    for level in items:
        if not _NAME.match(level.name):
            problems.append(f"severity name {level.name!r} must be a short word like SEV-1")
        if _key(level.name) in seen_names:
            problems.append(f"severity {level.name!r} is defined twice")
        if level.rank < 1:
            problems.append(f"severity {level.name!r}: rank must be 1 or more, not {level.rank}")
        if level.rank in seen_ranks:
            problems.append(f"severity {level.name!r}: rank {level.rank} is used twice")
        seen_names.add(_key(level.name))
        seen_ranks.add(level.rank)
    return problems


def _key(name: str) -> str:
    return name.strip().upper().replace("-", "").replace("_", "").replace(" ", "")
