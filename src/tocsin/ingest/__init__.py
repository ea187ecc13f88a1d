"""Sender formats turned into `AlertEvent`s: Alertmanager, PagerDuty, Opsgenie, generic JSON.

Each parser takes the decoded JSON body and returns events, or raises `InvalidInput` listing
every problem in the body (nothing is stored for a body with any problem).
"""

from __future__ import annotations

from typing import Any

from tocsin.core.alerts import Link

MAX_BODY = 512 * 1024  # PagerDuty's limit on an event; the other formats get the same


def text(value: Any) -> str:
    """Return `value` as text for summaries and details (None becomes empty)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def links_from(items: Any, where: str, problems: list[str]) -> tuple[Link, ...]:
    """Return links from [{"href", "text"}], recording malformed ones in `problems`."""
    if items is None:
        return ()
    if not isinstance(items, list):
        problems.append(f"{where} must be a list of {{href, text}} objects")
        return ()
    found = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("href"), str):
            problems.append(f"{where}[{i}] must be an object with an 'href' text")
            continue
        found.append(Link(item["href"], text(item.get("text"))))
    return tuple(found)
