"""What a section of the config file is to the applier: validated, applied, exported, pruned.

A section is one top-level key of `tocsin.yaml` (`users:`, `services:` ...). The applier applies
the sections in dependency order and prunes them in the reverse order, so that what a section
names exists before it and is deleted after it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from sqlalchemy.orm import Session

from tocsin.config import Config, ConfigSpec
from tocsin.core.severity import SeverityScale
from tocsin.errors import TocsinError
from tocsin.store import severities


@dataclass(frozen=True)
class Change:
    """One object the file creates, updates or deletes, printed as one line of the plan.

    `details` are the fields an update changes, or a short note (the type of what is created).
    `secret` is an integration key: shown by the apply that creates it, never by a dry run.
    """

    action: str
    kind: str
    name: str
    details: tuple[str, ...] = ()
    secret: str | None = field(default=None, repr=False, compare=False)

    def line(self, *, show_secret: bool = False) -> str:
        """Return the plan's line: `update service web (name, team)`."""
        if self.kind == "notification rules":
            text = f"{self.action} notification rules of {self.name}"
        else:
            text = f"{self.action} {self.kind} {self.name}"
        if self.details:
            text += f" ({', '.join(self.details)})"
        if show_secret and self.secret:
            text += f" key={self.secret}"
        return text

    def __str__(self) -> str:
        return self.line()


@dataclass
class Plan:
    """What an apply did (or a dry run would do), and what it chose not to do."""

    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # What the file describes but the principal applying it may not change (a team token).
    refused: list[str] = field(default_factory=list)


_LINE = re.compile(r"^(create|update|delete) (.+?) (\S+)(?: \(([^()]*)\))?$")


def parsed(line: str) -> Change:
    """Return the change a store function described as a line (`update schedule x (layers)`)."""
    found = _LINE.match(line)
    if found is None:
        raise ValueError(f"not a change line: {line!r}")
    action, kind, name, details = found.groups()
    if kind == "notification rules of":
        kind = "notification rules"
    return Change(action, kind, name, tuple(details.split(", ")) if details else ())


class Owners(NamedTuple):
    """The team owning each entry of a section: as the file says, and as stored."""

    in_file: dict[str, str | None]
    in_store: dict[str, str | None]


class Reference(NamedTuple):
    """A stored row naming a row of another section: `service web` names team `platform`."""

    holder: str
    section: str
    name: str


@dataclass
class Context:
    """One apply (or validation) of one file: what every section may ask about the others."""

    session: Session
    config: Config
    sections: Sequence[Section[Any]]
    prune: bool = False
    actor: str = "config"
    # Beyond the principal's reach, by section: the file's entries left out of the apply, and
    # stored rows --prune must keep (the principal may not delete them).
    skipped: dict[str, set[str]] = field(default_factory=dict)
    kept: dict[str, set[str]] = field(default_factory=dict)
    left_out: set[str] = field(default_factory=set)  # sections skipped whole
    _known: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def skips(self, section: str, name: str) -> bool:
        """Return whether the entry `name` of `section` is left out (beyond reach)."""
        return name in self.skipped.get(section, ())

    def keeps(self, section: str) -> set[str]:
        """Return the stored names of `section` that --prune must keep."""
        return self.kept.get(section, set())

    @property
    def spec(self) -> ConfigSpec:
        """The file's content."""
        return self.config.spec

    def problem(self, path: str, message: str) -> str:
        """Return a problem line naming the file, the line and `path`."""
        return self.config.problem(path, message)

    def section(self, name: str) -> Section[Any]:
        """Return the section written under key `name`."""
        return next(s for s in self.sections if s.name == name)

    def written(self, name: str) -> bool:
        """Return whether the file writes section `name` (even as an empty list)."""
        return name in self.spec.model_fields_set

    def known(self, name: str) -> set[str]:
        """Return the names section `name` will have once the file is applied.

        Under --prune the file is the whole truth for the sections it writes: what it refers to
        must be in it, since what is not will be deleted.
        """
        if name not in self._known:
            section = self.section(name)
            names = set(section.listed(self.spec)) - self.skipped.get(name, set())
            if not (self.prune and self.written(name)):
                names |= set(section.stored(self.session))
            self._known[name] = names | self.keeps(name)
        return self._known[name]

    @cached_property
    def scale(self) -> SeverityScale:
        """The severity scale services are checked against: the file's, if it has a valid one."""
        levels = self.config.severity_levels()
        if levels is not None:
            try:
                return SeverityScale(tuple(levels))
            except TocsinError:
                pass  # the severities section reports it
        return severities.scale(self.session)


Row = TypeVar("Row")


class Section(ABC, Generic[Row]):
    """One top-level key of the file. `kind` names one entry in plan lines and problems."""

    name: ClassVar[str]
    kind: ClassVar[str]
    # A row something still names is kept (with a warning), not refused: see the users section.
    kept_when_named: ClassVar[bool] = False

    @abstractmethod
    def listed(self, spec: ConfigSpec) -> list[str]:
        """Return the names the file gives this section's entries, in the file's order."""

    @abstractmethod
    def rows(self, session: Session) -> Sequence[Row]:
        """Return the stored rows of this section."""

    @abstractmethod
    def key(self, row: Row) -> str:
        """Return a stored row's name, as the file writes it."""

    @abstractmethod
    def validate(self, context: Context) -> list[str]:
        """Return every problem of this section's entries (duplicate names are checked apart)."""

    @abstractmethod
    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        """Create or update what this section of the file describes."""

    @abstractmethod
    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        """Return the stored rows in the file's shape."""

    # Whether a team may own this section's rows (`team:` on each entry, a `team` on each row);
    # the rows of the other sections are changed by administrators only.
    team_owned: ClassVar[bool] = False

    def owners(self, context: Context) -> Owners | None:
        """Return the owner team of the file's entries and of the stored rows, by name; None
        for a section no team owns."""
        if not self.team_owned:
            return None
        entries = getattr(context.spec, self.name)
        in_file = dict(zip(self.listed(context.spec), (e.team for e in entries), strict=True))
        in_store = {}
        for row in self.rows(context.session):
            team = getattr(row, "team", None)
            in_store[self.key(row)] = team.slug if team is not None else None
        return Owners(in_file, in_store)

    def finish(self, context: Context, done: list[Change]) -> list[Change]:
        """Set what names a section applied after this one, once every section is applied
        (`done`: the changes so far)."""
        return []

    def stored(self, session: Session) -> list[str]:
        """Return the names of the stored rows."""
        return [self.key(row) for row in self.rows(session)]

    def duplicates(self, context: Context) -> list[str]:
        """Return a problem for each name the file lists more than once."""
        counts = Counter(self.listed(context.spec))
        return [
            context.problem(self.name, f"{name!r} is listed {n} times")
            for name, n in counts.items()
            if n > 1
        ]

    def refusals(self, context: Context, listed: set[str]) -> list[str]:
        """Return why --prune must not delete some unlisted row (validated before anything)."""
        return []

    def references(self, session: Session) -> Iterable[Reference]:
        """Return what the stored rows name in other sections."""
        return ()

    def prune(self, context: Context, listed: set[str], plan: Plan) -> None:
        """Delete the stored rows the file does not list."""
        for row in self.rows(context.session):
            name = self.key(row)
            if name not in listed:
                context.session.delete(row)
                plan.changes.append(Change("delete", self.kind, name))
