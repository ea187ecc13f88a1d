"""The one exception tree of Tocsin.

    TocsinError                 base; never raised itself
    ├── InvalidInput            the request is malformed or names a value that is not allowed
    │                           (HTTP 400 / 422, CLI exit 2); `problems` lists every problem found
    ├── NotFound                a referenced object does not exist (HTTP 404, CLI exit 3)
    ├── Conflict                the request is valid but clashes with the current state, such
    │                           as a second commander or reopening a closed incident
    │                           (HTTP 409, CLI exit 4)
    ├── Unauthenticated         no credentials, or unknown ones (HTTP 401, CLI exit 5)
    └── PermissionDenied        the credentials lack the scope or role (HTTP 403, CLI exit 5)

Foreign errors (SQLAlchemy, YAML, zoneinfo...) are translated at the boundary with
``raise InvalidInput(...) from exc``; the HTTP status and the CLI exit code are chosen in exactly
one place each (``tocsin.http.errors`` and ``tocsin.cli.main``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self


class TocsinError(Exception):
    """Base of every error Tocsin raises on purpose."""

    def __init__(self, message: str, *, problems: Iterable[str] = ()) -> None:
        self.problems: list[str] = list(problems) or [message]
        super().__init__(message)

    @property
    def message(self) -> str:
        """Return the one-line message."""
        return str(self)

    @classmethod
    def of(cls, problems: Iterable[str]) -> Self:
        """Return one error carrying every problem; its message joins them with '; '."""
        found = list(problems)
        return cls("; ".join(found), problems=found)


class InvalidInput(TocsinError):
    """The input is malformed or names a value that is not allowed."""


class NotFound(TocsinError):
    """A referenced object does not exist."""


class Conflict(TocsinError):
    """The request clashes with the current state."""


class Unauthenticated(TocsinError):
    """No credentials, or credentials that match nothing."""


class NotMigrated(TocsinError):
    """The database schema is missing or older than this version of Tocsin (HTTP 503, exit 6)."""


class PermissionDenied(TocsinError):
    """The credentials are valid but lack the needed scope or role."""
