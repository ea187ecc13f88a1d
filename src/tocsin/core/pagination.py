"""Pages of long lists: opaque keyset cursors, and versions of what a live part shows.

A cursor names the last row of a page by its sort key and id, so the next page starts right
after it with an index range, however deep it is, and rows added meanwhile never shift it.
To a client a cursor is an opaque string: base64url of `[list, instant, id]`. A cursor of
another list, a tampered or truncated one, is refused with InvalidInput naming the parameter.

A version is a short digest of a few cheap values (a maximum id, a count, a time bucket) that
change whenever what a live part shows changes; it is the part's ETag, so a poll that brings
the version it has gets 304 without anything being loaded or rendered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from tocsin.errors import InvalidInput

T = TypeVar("T")

# Ids are INTEGER columns: PostgreSQL refuses anything above 2**31 - 1 with an error.
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and the cursor of the next one (None on the last page)."""

    items: list[T]
    next_cursor: str | None = None
    total: int | None = None


def encode(list_name: str, at: datetime, row_id: int) -> str:
    """Return the cursor of the row (`at`, `row_id`) in list `list_name`."""
    raw = json.dumps([list_name, at.astimezone(UTC).isoformat(), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(list_name: str, cursor: str, *, parameter: str = "cursor") -> tuple[datetime, int]:
    """Return the (instant, id) in `cursor`, or raise InvalidInput if it is not one of ours."""
    problem = InvalidInput(
        f"{parameter}: {cursor[:80]!r} is not a cursor of this list; pass the next cursor of an "
        "earlier answer unchanged, or none for the first page"
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise problem from None
    if not (
        isinstance(value, list)
        and len(value) == 3
        and value[0] == list_name
        and isinstance(value[1], str)
        and type(value[2]) is int
        and 0 < value[2] <= MAX_ID
    ):
        raise problem
    try:
        at = datetime.fromisoformat(value[1])
    except ValueError:
        raise problem from None
    if at.tzinfo is None or not datetime(1900, 1, 1, tzinfo=UTC) <= at <= datetime(
        9999, 1, 1, tzinfo=UTC
    ):
        raise problem
    return at.astimezone(UTC), value[2]


def version(*parts: object) -> str:
    """Return a strong ETag (quoted) for a live part whose content depends only on `parts`."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Return True if an If-None-Match header names `etag` (weakly compared, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def age_bucket(now: datetime, newest: Sequence[datetime | None]) -> str:
    """Return the instant a live part's ages are shown to, as a version part.

    Ages read in whole minutes once a minute old ("3 minutes"), in seconds before that: so the
    part changes every minute, and every second while anything in it is under a minute old.
    """
    recent = any(t is not None and now - t < timedelta(minutes=1) for t in newest)
    return now.strftime("%Y-%m-%dT%H:%M:%S" if recent else "%Y-%m-%dT%H:%M")
