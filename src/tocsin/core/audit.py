"""The audit log's pure parts: who acted, the before/after of a change, secrets masked.

An audit entry records one change to configuration or people (created, changed, deleted) or one
sign-in, with the fields that changed as `{field: [before, after]}`. A secret field (a password
hash, a token's or key's hash, a signing secret) shows only that it was set, changed or cleared:
its value never reaches the log.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

SECRET = "(secret)"


class Via(enum.StrEnum):
    """How a change reached Tocsin."""

    CLI = "cli"
    APPLY = "apply"
    API = "api"
    WEB = "web"
    CHAT = "chat"
    ENGINE = "engine"
    SYSTEM = "system"


class Action(enum.StrEnum):
    """What happened to the object."""

    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"
    SIGNED_IN = "signed in"
    SIGNED_OUT = "signed out"


@dataclass(frozen=True)
class Actor:
    """Who made a change: a user's handle (or the login name at the CLI), how, and with what.

    `detail` names the API token, or the config file and its SHA-256 for `tocsin apply`.
    """

    who: str
    via: Via
    detail: str = ""

    def text(self) -> str:
        """Return the actor as one line: `alice (api, token "deploy")`."""
        inner = f"{self.via}, {self.detail}" if self.detail else str(self.via)
        return f"{self.who} ({inner})"


SYSTEM = Actor("system", Via.SYSTEM)


def plain(value: Any) -> Any:
    """Return `value` as JSON can hold it: instants as ISO text, enums as their values."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def masked(value: Any) -> Any:
    """Return what the log shows of a secret: that it is set, never what it is."""
    return None if value in (None, "") else SECRET


def origin(value: Any) -> Any:
    """Return a URL as its scheme and host only: a webhook's path often is its password."""
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        return value
    scheme, _, rest = value.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/..." if "/" in rest or "@" in rest else value


def diff(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    secrets: Iterable[str] = (),
    urls: Iterable[str] = (),
) -> dict[str, list[Any]]:
    """Return `{field: [before, after]}` for every field whose value differs, secrets masked.

    A field missing on one side is None there (a created object has no before, a deleted one
    no after). A secret that changed shows `(secret)` on both sides when it was set on both; a
    URL in one of `urls` shows only its scheme and host (an incoming-webhook URL carries its
    token in the path), so its change shows as `(secret)` when the host stayed.
    """
    hidden, links = set(secrets), set(urls)
    changes: dict[str, list[Any]] = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = plain(before.get(name)), plain(after.get(name))
        if old == new:
            continue
        if name in hidden:
            changes[name] = [masked(old), masked(new)]
        elif name in links and (origin(old) != old or origin(new) != new):
            shown = [origin(old), origin(new)]
            changes[name] = shown if shown[0] != shown[1] else [SECRET, SECRET]
        else:
            changes[name] = [old, new]
    return changes


def describe(action: str, changes: Mapping[str, list[Any]], *, width: int = 40) -> str:
    """Return the changes as a short text for a table.

    A change lists each field `role: responder -> admin`; a created or deleted object only
    names its fields (the JSON output has their values).
    """
    if action == Action.CHANGED:
        return "; ".join(
            f"{name}: {_short(old, width)} -> {_short(new, width)}"
            for name, (old, new) in changes.items()
        )
    return ", ".join(changes)


def _short(value: Any, width: int) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def short_detail(detail: str) -> str:
    """Return `detail` with a SHA-256 cut to its first 12 digits, for a table."""
    return re.sub(r"(sha256:[0-9a-f]{12})[0-9a-f]{52}", r"\1", detail)
