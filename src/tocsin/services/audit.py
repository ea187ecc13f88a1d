"""Reading the audit log, from every interface: filters checked once, here.

Entries are written by the store as changes commit (`store.audit`); nothing here changes one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tocsin.core import pagination
from tocsin.core.timeutil import parse_instant
from tocsin.errors import InvalidInput
from tocsin.store import audit
from tocsin.store.models import AuditEntry

MAX_PAGE = 1000


def where(
    *,
    since: str | None = None,
    until: str | None = None,
    who: str | None = None,
    object: str | None = None,
    now: datetime,
) -> audit.Filter:
    """Return the filter these texts describe, or raise InvalidInput listing every problem.

    `since`/`until`: an instant (2026-11-01, 2026-11-01T09:00Z) or "7d ago"/"7d". `who`: a
    handle (or the login name a CLI change was made under). `object`: a kind ("service"), a
    kind and a name ("service:payments"), or a name alone ("payments") of any kind; a name
    also matches what belongs to it ("payments" matches "payments/alertmanager").
    """
    problems: list[str] = []
    start = _instant("since", since, now, problems)
    end = _instant("until", until, now, problems)
    kind, key = None, None
    if object is not None and object.strip():
        text = object.strip()
        head, sep, tail = text.partition(":")
        if sep:
            kind, key = head.strip().lower(), tail.strip() or None
        elif text.lower() in audit.kinds():
            kind = text.lower()
        else:
            key = text
        if kind is not None and kind not in audit.kinds():
            problems.append(f"object: unknown kind {kind!r}; kinds: {', '.join(audit.kinds())}")
    if start is not None and end is not None and end <= start:
        problems.append("until must be after since")
    if problems:
        raise InvalidInput.of(problems)
    return audit.Filter(start, end, (who or "").strip().lstrip("@") or None, kind, key)


def _instant(name: str, text: str | None, now: datetime, problems: list[str]) -> datetime | None:
    if text is None or not text.strip():
        return None
    value = text.strip()
    if value[-1:].isalpha() and value[:-1].isdigit():  # "7d": as "7d ago"
        value += " ago"
    try:
        return parse_instant(value, now=now)
    except InvalidInput as exc:
        problems.append(f"{name}: {exc}")
    except (OverflowError, ValueError):  # "999999999d": before the calendar starts
        problems.append(f"{name}: {text.strip()[:40]!r} is too far back")
    return None


def page(
    session: Session,
    filter: audit.Filter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> pagination.Page[AuditEntry]:
    """Return one page of entries, newest first; raise InvalidInput for a bad limit or cursor."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1-{MAX_PAGE}, not {limit}")
    return audit.page(session, filter, limit=limit, cursor=cursor)


class Retention:
    """The engine's work of deleting entries older than the retention setting.

    Due when the oldest entry has been kept `keep_days` days; so an engine with nothing to
    delete reads one index entry a pass and writes nothing.
    """

    __name__ = "audit retention"

    def __init__(self, keep_days: int) -> None:
        self.keep_days = keep_days

    def update_all(self, session: Session, *, now: datetime) -> int:
        """Delete what is due now (in batches of the store's size, one batch a pass)."""
        return audit.prune(session, before=now - timedelta(days=self.keep_days))

    def next_due(self, session: Session) -> datetime | None:
        """Return when the oldest entry outlives the retention (None: the log is empty)."""
        oldest = audit.oldest(session)
        return oldest + timedelta(days=self.keep_days) if oldest is not None else None


def retention_days(text: str) -> int:
    """Return the days TOCSIN_AUDIT_RETENTION_DAYS keeps (0: every entry, for ever)."""
    value = text.strip()
    if not value:
        return 0
    if not value.isdigit():
        raise InvalidInput(
            f"TOCSIN_AUDIT_RETENTION_DAYS {text!r} is not a whole number of days "
            "(empty or 0 keeps every entry)"
        )
    return int(value)
