"""Label matchers in Alertmanager's syntax, and the labels an alert event offers them.

A matcher is `name op value`: `severity="critical"`, `team!=db`, `instance=~"web-[0-9]+"`,
`env!~"dev|test"`. The value is bare or double-quoted, with Go's escapes as Alertmanager reads
them (`\\"`, `\\\\`, `\\n`...), so a regex's backslash is `\\\\` inside quotes.
Regular expressions are anchored at both ends, as Alertmanager anchors them: `web-.*` matches
`web-1`, not `old-web-1`. A label the alert does not have matches as the empty string, so
`team=""` selects alerts without a team and `team!=""` those with one.

Regular expressions are Python's, which read RE2's common syntax the same way; Python's own
extensions (lookarounds, backreferences) are refused so a rule means what Alertmanager would
make of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tocsin.core.alerts import AlertAction, AlertEvent, AlertSeverity


class MatcherError(ValueError):
    """A matcher that does not parse, or whose regular expression does not compile."""


class Op(StrEnum):
    """How a matcher compares a label with its value."""

    EQUAL = "="
    NOT_EQUAL = "!="
    MATCHES = "=~"
    NOT_MATCHES = "!~"

    @property
    def is_regex(self) -> bool:
        return self in (Op.MATCHES, Op.NOT_MATCHES)

    @property
    def is_negative(self) -> bool:
        return self in (Op.NOT_EQUAL, Op.NOT_MATCHES)


LABEL_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Alertmanager's classic matcher: a label name, an operator, then the rest is the value.
_MATCHER = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)
_NOT_RE2 = re.compile(r"\(\?[=!<]|\(\?P=|\\[1-9]")
# The escapes of a double-quoted value, as Go's strconv.Unquote reads them in Alertmanager.
_ESCAPE = re.compile(
    r"\\(?:([abfnrtv\\'\"])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{3}))|\\|\""
)
_SIMPLE = dict(zip("abfnrtv\\'\"", "\a\b\f\n\r\t\v\\'\"", strict=True))


@dataclass(frozen=True)
class Matcher:
    """One `name op value` test on an alert's labels."""

    name: str
    op: Op
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _negative: bool = field(default=False, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Read on every test of every alert: worked out once.
        object.__setattr__(self, "_negative", self.op.is_negative)

    @classmethod
    def of(cls, name: str, op: Op | str, value: str) -> Matcher:
        """Return the matcher, its regular expression compiled; MatcherError if it cannot be."""
        op = Op(op)
        pattern = None
        if op.is_regex:
            if _NOT_RE2.search(value):
                raise MatcherError(
                    f"{name}{op}{_quote(value)}: lookarounds and backreferences are not"
                    " Alertmanager regular expressions"
                )
            try:
                # Matched with fullmatch: anchored at both ends, alternations included.
                pattern = re.compile(value, re.DOTALL)
            except re.error as exc:
                raise MatcherError(
                    f"{name}{op}{_quote(value)}: bad regular expression: {exc}"
                ) from None
        return cls(name, op, value, pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Return whether `labels` pass; a missing label is the empty string."""
        actual = labels.get(self.name, "")
        if self._pattern is not None:
            found = self._pattern.fullmatch(actual) is not None
        else:
            found = actual == self.value
        return found != self._negative

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _unquote(text: str, whole: str) -> str:
    """Return a double-quoted value's text; a bare value is returned as it is."""
    if not text.startswith('"'):
        if '"' in text:
            raise MatcherError(f"{whole!r}: a value with a double quote must be quoted whole")
        return text
    if len(text) < 2 or not text.endswith('"'):
        raise MatcherError(f"{whole!r}: the value's closing double quote is missing")

    def escape(found: re.Match[str]) -> str:
        simple, *codes = found.groups()
        if simple:
            return _SIMPLE[simple]
        for code, base in zip(codes, (16, 16, 16, 8), strict=True):
            if code:
                return chr(int(code, base))
        if found.group() == '"':
            raise MatcherError(f"{whole!r}: a double quote inside the value must be escaped")
        raise MatcherError(
            f"{whole!r}: unknown escape in the value (a regex's backslash is written \\\\)"
        )

    return _ESCAPE.sub(escape, text[1:-1])


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher (`severity="critical"`); MatcherError says what is wrong."""
    text = text.strip()
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise MatcherError(
            f"{text!r} is not a matcher: write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
        )
    name, op, raw = found.groups()
    return Matcher.of(name, op, _unquote(raw, text))


def _split(text: str) -> list[str]:
    """Split `a="x,y", b=z` at the commas outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_matchers(spec: str | Iterable[str]) -> list[Matcher]:
    """Parse `{a="b", c=~"d.*"}` (braces optional) or a list of single matchers.

    Every problem is reported at once, one line each, in one MatcherError.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        items = [part for part in _split(text) if part.strip()]
    else:
        items = list(spec)
    matchers: list[Matcher] = []
    problems: list[str] = []
    for item in items:
        try:
            matchers.append(parse_matcher(item))
        except MatcherError as exc:
            problems.append(str(exc))
    if problems:
        raise MatcherError("\n".join(problems))
    return matchers


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Return whether every matcher passes (no matchers: every alert)."""
    for matcher in matchers:  # noqa: SIM110 - a plain loop: it runs for each rule of each alert
        if not matcher.matches(labels):
            return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def event_labels(event: AlertEvent) -> dict[str, str]:
    """Return the flat labels an event offers matchers, whichever sender it came from.

    - Alertmanager: its labels, and its annotations where no label has the name.
    - PagerDuty: `custom_details` (nested values as compact JSON), `component`, `group`, `class`.
    - Opsgenie: `details`, `entity`, and `tags` as one comma-joined label (`tags=~".*payments.*"`).
    - Every event: `severity` (the sender's own word, unless a label says it), `source`, `summary`.
    """
    labels: dict[str, str] = {
        "severity": event.raw_severity or event.severity.value,
        "source": event.source,
        "summary": event.summary,
    }
    details = event.details
    for key in ("component", "group", "class", "entity"):
        if key in details:
            labels[key] = _text(details[key])
    for nested in ("custom_details", "details"):
        found = details.get(nested)
        if isinstance(found, Mapping):
            labels.update({str(k): _text(v) for k, v in found.items()})
    tags = details.get("tags")
    if isinstance(tags, list):
        labels["tags"] = ",".join(_text(tag) for tag in tags)
    annotations = details.get("annotations")
    if isinstance(annotations, Mapping):
        labels.update({str(k): _text(v) for k, v in annotations.items()})
    alert_labels = details.get("labels")
    if isinstance(alert_labels, Mapping):
        labels.update({str(k): _text(v) for k, v in alert_labels.items()})
    return labels


def stored_labels(row: Any) -> dict[str, str]:
    """Return the labels of a stored alert as `event_labels` gives them for the event that
    opened it; `row` has the alert's dedup_key, summary, severity, raw_severity, source and
    details (a database row)."""
    return event_labels(
        AlertEvent(
            AlertAction.TRIGGER,
            row.dedup_key,
            summary=row.summary,
            severity=AlertSeverity(row.severity),
            raw_severity=row.raw_severity or "",
            source=row.source or "",
            details=row.details or {},
        )
    )
