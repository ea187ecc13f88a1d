"""Sender formats turned into `AlertEvent`s: Alertmanager, PagerDuty, Opsgenie, generic JSON.

Each parser takes the decoded JSON body and returns events, or raises `InvalidInput` listing
every problem in the body (nothing is stored for a body with any problem).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from tocsin.core.alerts import Link
from tocsin.errors import InvalidInput

# Deeper JSON than any sender's format needs; it also keeps json.loads and json.dumps, which
# recurse once per level, far from Python's recursion limit.
MAX_DEPTH = 64

# PostgreSQL refuses NUL in text ("text fields cannot contain NUL (0x00) bytes"), and neither
# database can encode a lone UTF-16 surrogate, which json.loads lets through from "\ud800".
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Integers past 64 bits (19 digits and more): orjson would read them as floats.
_LONG_DIGITS = re.compile(rb"\d{19}")


def decode(raw: bytes) -> Any:
    """Return the JSON document in `raw`, or raise InvalidInput saying why it cannot be read."""
    too_deep = InvalidInput(f"malformed JSON body: nested deeper than {MAX_DEPTH} levels")
    # orjson reads strict JSON several times faster. What it refuses (NaN, a lone surrogate,
    # UTF-16, deep nesting) the standard module reads or explains, so that the checks below
    # name the field as they always did; and a long run of digits may be an integer orjson
    # would read as a float, losing digits, so such a body goes the standard way too.
    body = _fast(raw) if not _LONG_DIGITS.search(raw) else _UNREAD
    if body is _UNREAD:
        try:
            body = json.loads(raw)
        except RecursionError as exc:
            raise too_deep from exc
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
            raise InvalidInput(f"malformed JSON body: {exc}") from exc
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return body  # too few openers to nest that deep: no need to walk it
    level: list[Any] = [body]
    for _depth in range(MAX_DEPTH):
        level = [
            item
            for value in level
            if isinstance(value, dict | list)
            for item in (value.values() if isinstance(value, dict) else value)
        ]
        if not level:
            return body
    if any(isinstance(value, dict | list) for value in level):
        raise too_deep
    return body


_UNREAD = object()


def _fast(raw: bytes) -> Any:
    """Return the document orjson reads in `raw`, or `_UNREAD` where it reads none."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _UNREAD


def unstorable(body: Any, where: str = "") -> list[tuple[str, str]]:
    """Return (where, problem) for every value in `body` that cannot be stored.

    That is a text (or an object's key) with a NUL character or a lone surrogate, a number
    that is not finite (JSON has no NaN), and nesting deeper than `MAX_DEPTH`. `where` is
    the value's path below `where`, like `alerts[0].labels.job`.
    """
    if _storable(body):
        return []
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(body, where, 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                found.append((where, problem))
        elif isinstance(value, float):
            if not math.isfinite(value):
                found.append((where, f"{value} is not a finite number (JSON has no NaN)"))
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                found.append((where, f"nested deeper than {MAX_DEPTH} levels"))
                continue
            if isinstance(value, list):
                items = [(f"{where}[{i}]", item) for i, item in enumerate(value)]
            else:
                items = []
                for key, item in value.items():
                    path = where + _segment(key)
                    problem = _text_problem(key)
                    if problem:
                        found.append((path, f"the key {problem}"))
                    items.append((path, item))
            stack.extend((item, path, depth + 1) for path, item in reversed(items))
    return found


def _storable(body: Any) -> bool:
    """Return True if `unstorable(body)` would find nothing: its fast path, without paths."""
    texts: list[str] = []
    level = [body]
    for _depth in range(MAX_DEPTH + 1):
        deeper: list[Any] = []
        for value in level:
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, dict):
                texts.extend(value)
                deeper.extend(value.values())
            elif isinstance(value, list):
                deeper.extend(value)
            elif isinstance(value, float) and not math.isfinite(value):
                return False
        if not deeper:
            return _UNSTORABLE.search("\x01".join(texts)) is None
        level = deeper
    return False  # nested deeper than MAX_DEPTH


def storage_problems(body: Any, where: str = "", *, quoted: bool = False) -> list[str]:
    """Return `unstorable(body, where)` as texts: `where: problem`, or `'where' problem`."""
    found = []
    for path, problem in unstorable(body, where):
        name = path.removeprefix(".") or "body"
        found.append(f"'{name}' {problem}" if quoted else f"{name}: {problem}")
    return found


def _text_problem(value: str) -> str | None:
    bad = _UNSTORABLE.search(value)
    if bad is None:
        return None
    if bad.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return (
        f"contains a lone surrogate (\\u{ord(bad.group()):04x}), which is not a Unicode "
        "character; encode text as UTF-8 or use a surrogate pair"
    )


def _segment(key: str) -> str:
    if key.isidentifier():
        return f".{key}"
    return f"[{json.dumps(key)}]"


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
