"""Durations and instants as people type them: "15m", "1h30m", "2024-06-20T10:30Z", "10m ago"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tocsin.errors import InvalidInput

_PART = re.compile(r"(\d+)\s*(d|h|m|s)", re.IGNORECASE)
_WHOLE = re.compile(r"^(?:\s*\d+\s*[dhms]\s*)+$", re.IGNORECASE)
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_AGO = re.compile(r"^(.+?)\s+ago$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """Return the duration in "30s", "15m", "1h", "1h30m" or "2d"."""
    value = text.strip()
    if not _WHOLE.match(value):
        raise InvalidInput(f"{text!r} is not a duration; write it like 30s, 15m, 1h, 1h30m or 2d")
    seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(value))
    return timedelta(seconds=seconds)


def parse_instant(text: str, *, now: datetime, zone: str = "UTC") -> datetime:
    """Return the aware UTC instant in `text`.

    Accepts ISO-8601 with an offset or `Z` (absolute), ISO-8601 without one (local to `zone`),
    "now", and "<duration> ago" relative to `now`.
    """
    value = text.strip()
    if value.lower() == "now":
        return now.astimezone(UTC)
    ago = _AGO.match(value)
    if ago:
        return (now - parse_duration(ago.group(1))).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a time; write it like 2024-06-20T10:30Z, "
            "2024-06-20T10:30+02:00 or '10m ago'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


def duration_text(seconds: int) -> str:
    """Return seconds as the file's duration text: 26h, 1h30m, 2d, 45s, 0m."""
    if seconds == 0:
        return "0m"
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    text = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            text += f"{seconds // size}{unit}"
            seconds %= size
    return text
