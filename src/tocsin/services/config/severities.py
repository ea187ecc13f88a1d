"""`severities:`, the deployment's scale, most severe first: the file's list replaces it whole."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.config import ConfigSpec
from tocsin.core.severity import Severity, SeverityScale
from tocsin.core.timeutil import duration_text
from tocsin.errors import TocsinError
from tocsin.services.config.base import Change, Context, Plan, Section, parsed
from tocsin.store import severities


class Severities(Section[Severity]):
    name = "severities"
    kind = "severity"

    def listed(self, spec: ConfigSpec) -> list[str]:
        return [s.name for s in spec.severities or []]

    def rows(self, session: Session) -> list[Severity]:
        return list(severities.scale(session).levels)

    def key(self, row: Severity) -> str:
        return row.name

    def duplicates(self, context: Context) -> list[str]:
        """None here: the scale's own check names a severity defined twice."""
        return []

    def validate(self, context: Context) -> list[str]:
        levels = context.config.severity_levels()
        if levels is None:
            return []
        try:
            SeverityScale(tuple(levels))
        except TocsinError as exc:
            return [context.problem("severities", p) for p in exc.problems]
        return []

    def apply(self, context: Context, *, now: datetime) -> list[Change]:
        levels = context.config.severity_levels()
        if levels is None:
            return []
        return list(map(parsed, severities.replace_all(context.session, levels)))

    def export(self, session: Session, *, include_secrets: bool) -> list[dict[str, Any]]:
        return [_severity(level) for level in self.rows(session)]

    def prune(self, context: Context, listed: set[str], plan: Plan) -> None:
        """Nothing to do: applying the section already made the stored scale the file's."""


def _severity(level: Severity) -> dict[str, Any]:
    found: dict[str, Any] = {"name": level.name, "definition": level.definition}
    if level.business_hours or level.response_time is None:
        found["response_time"] = "next business day"
    else:
        found["response_time"] = duration_text(int(level.response_time.total_seconds()))
    if level.example:
        found["example"] = level.example
    if level.update_cadence is not None:
        found["update_cadence"] = duration_text(int(level.update_cadence.total_seconds()))
    if level.notify_executives:
        found["notify_executives"] = True
    return found
