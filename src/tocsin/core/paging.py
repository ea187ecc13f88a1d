"""How a page reaches one person: notification rules, business hours, throttling and bundling.

Each user has contact methods and rules like "webhook at once, email after 2 minutes if not
acknowledged". Low-urgency (SEV-4) pages wait for the next business morning in the user's zone.
Messages to one contact method are throttled; whatever piles up meanwhile goes out as one bundle.
Everything here is pure: `now` is always a parameter, and computed instants are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tocsin.core.timeutil import parse_duration
from tocsin.errors import InvalidInput

WEEKDAYS = frozenset({0, 1, 2, 3, 4})  # Monday..Friday, as datetime.weekday() counts
BUSINESS_START = time(9, 0)

_RULE_KEYS = ("after", "contact_method")
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Rule:
    """Notify by `contact_method` once a page has gone unacknowledged for `after`."""

    contact_method: str
    after: timedelta


def parse_rules(items: list[dict[str, Any]], methods: Set[str]) -> list[Rule]:
    """Return the rules from their config, or raise InvalidInput listing every problem."""
    problems: list[str] = []
    rules: list[Rule] = []
    seen: dict[tuple[str, timedelta], int] = {}
    valid = ", ".join(sorted(methods)) or "none; add a contact method first"
    for i, item in enumerate(items):
        path = f"rules[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{path}: expected a mapping like {{contact_method: email, after: 2m}}")
            continue
        found = len(problems)
        for key in sorted(set(item) - set(_RULE_KEYS), key=str):
            problems.append(f"{path}: unknown key {key!r}; valid keys: {', '.join(_RULE_KEYS)}")
        method = item.get("contact_method")
        if method is None or (isinstance(method, str) and not method.strip()):
            problems.append(f"{path}.contact_method: required; valid: {valid}")
        elif not isinstance(method, str) or method.strip() not in methods:
            problems.append(
                f"{path}.contact_method: unknown contact method {method!r}; valid: {valid}"
            )
        after = _parse_after(item.get("after"), f"{path}.after", problems)
        if len(problems) > found or after is None or not isinstance(method, str):
            continue
        rule = Rule(method.strip(), after)
        first = seen.setdefault((rule.contact_method, rule.after), i)
        if first != i:
            # Two identical rules send the same message twice at the same moment.
            problems.append(f"{path}: the same contact method and delay as rules[{first}]")
            continue
        rules.append(rule)
    if problems:
        raise InvalidInput.of(problems)
    return rules


# A rule fires within a day of the page: later than that, the page is long escalated or over.
MAX_AFTER = timedelta(days=1)


def _parse_after(raw: object, path: str, problems: list[str]) -> timedelta | None:
    if raw is None:
        return timedelta(0)  # no delay given: notify at once
    if isinstance(raw, timedelta):
        after = raw
    elif isinstance(raw, str):
        if raw.strip().startswith("-"):
            problems.append(f"{path}: {raw!r} is negative; a rule can only fire after the page")
            return None
        try:
            after = parse_duration(raw)
        except InvalidInput as exc:
            problems.append(f"{path}: {exc.message}")
            return None
    else:
        problems.append(f"{path}: {raw!r} is not a duration; write it like 0m, 2m or 1h")
        return None
    if after < timedelta(0):
        problems.append(f"{path}: {raw!r} is negative; a rule can only fire after the page")
        return None
    if after > MAX_AFTER:
        problems.append(f"{path}: {raw!r} is more than a day; a rule fires within 24h of the page")
        return None
    return after


def parse_after(raw: str, path: str = "after") -> timedelta:
    """Return one rule's delay after the page ("2m"), or raise InvalidInput."""
    problems: list[str] = []
    after = _parse_after(raw, path, problems)
    if after is None:
        raise InvalidInput.of(problems)
    return after


def schedule_notifications(rules: list[Rule], paged_at: datetime) -> list[tuple[str, datetime]]:
    """Return (contact method, due) for each rule, earliest first; ties keep the rules' order."""
    base = _utc(paged_at, "paged_at")
    return sorted(((r.contact_method, base + r.after) for r in rules), key=lambda pair: pair[1])


# --- business hours -------------------------------------------------------------------------------


def next_business_start(
    at: datetime,
    time_zone: str,
    *,
    start: time = BUSINESS_START,
    days: Set[int] = WEEKDAYS,
) -> datetime:
    """Return the first start of a business day at or after `at` in `time_zone`, in UTC.

    `start` is a local wall time on each of `days` (0 = Monday). A start that does not exist on
    some day (a spring-forward gap) is the first instant after the gap; an ambiguous one (a
    fall-back fold) is its first occurrence.
    """
    instant = _utc(at, "at")
    zone = _zone(time_zone)
    if start.tzinfo is not None:
        raise InvalidInput(f"business start {start.isoformat()} must be a local wall time")
    bad = sorted(d for d in days if not (isinstance(d, int) and 0 <= d <= 6))
    if not days or bad:
        raise InvalidInput(f"business days must be weekday numbers 0..6 (0 = Monday), not {bad}")
    today = instant.astimezone(zone).date()
    # Today's start may have passed; a week later is the same weekday again, so eight days are
    # enough to find the next start on any non-empty set of days.
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() in days:
            candidate = _localize(day, start, zone)
            if candidate >= instant:
                return candidate
    raise AssertionError("unreachable: some day of the week is a business day")  # pragma: no cover


def low_urgency_due(paged_at: datetime, time_zone: str) -> datetime:
    """Return when a low-urgency (SEV-4) page reaches a person: the next business start."""
    return next_business_start(paged_at, time_zone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}") from exc


def _localize(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of wall time `clock` on `day` in `zone`, under the gap/fold rules."""
    wall = datetime.combine(day, clock)
    before = zone.utcoffset(wall)  # fold=0: the offset in force before a transition
    after = zone.utcoffset(wall.replace(fold=1))
    if before is None or after is None:  # pragma: no cover - a ZoneInfo always has an offset
        raise ValueError(f"{zone} has no offset at {wall}")
    if before >= after:
        # An ordinary time, or a fold, where fold=0 already is the first occurrence.
        return (wall - before).replace(tzinfo=UTC)
    # A gap: the answer is the transition itself, which lies in (wall - after, wall - before].
    # zoneinfo lists no transitions, so bisect on whole seconds, their resolution.
    low, high = wall - after, wall - before
    while high - low > _SECOND:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if middle.replace(tzinfo=UTC).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(tzinfo=UTC)


# --- throttling and bundling ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    """One notification waiting to be sent; `line` describes it in one line."""

    key: str
    user: str
    method: str
    due: datetime
    line: str


@dataclass(frozen=True, slots=True)
class Bundle:
    """One message to `user` by `method` carrying every pending in `keys`, earliest first."""

    user: str
    method: str
    keys: tuple[str, ...]
    lines: tuple[str, ...]


def bundle(
    pending: list[Pending],
    now: datetime,
    last_sent: dict[tuple[str, str], datetime],
    min_interval: timedelta,
) -> tuple[list[Bundle], datetime | None]:
    """Return the bundles to send at `now` and when the next held pending becomes sendable.

    Per (user, method) at most one message goes out per `min_interval` (`last_sent` holds the
    previous one), and everything due for the pair goes out together: five alerts make one
    message listing five lines, not five messages. The time returned is the earliest at which a
    pending not sent now (throttled, or not due yet) may be sent; None when none is left.
    """
    instant = _utc(now, "now")
    if min_interval < timedelta(0):
        raise InvalidInput(f"min_interval must not be negative, not {min_interval}")
    groups: dict[tuple[str, str], list[tuple[datetime, Pending]]] = {}
    for item in pending:
        groups.setdefault((item.user, item.method), []).append(
            (_utc(item.due, f"due of {item.key!r}"), item)
        )
    bundles: list[Bundle] = []
    wake: datetime | None = None
    for pair in sorted(groups):
        # Stable on equal dues, so lines keep the order the caller gave.
        items = sorted(groups[pair], key=lambda entry: entry[0])
        previous = last_sent.get(pair)
        open_at = (
            _utc(previous, f"last_sent of {pair!r}") + min_interval
            if previous is not None
            else None
        )
        ready = [item for due, item in items if due <= instant]
        held = items
        if ready and (open_at is None or open_at <= instant):
            bundles.append(Bundle(*pair, tuple(p.key for p in ready), tuple(p.line for p in ready)))
            open_at = instant + min_interval
            held = [entry for entry in items if entry[0] > instant]
        if held:
            sendable = held[0][0] if open_at is None else max(held[0][0], open_at)
            wake = sendable if wake is None else min(wake, sendable)
    return bundles, wake


def cap_release(
    sent: Iterable[datetime], now: datetime, *, limit: int, window: timedelta
) -> datetime | None:
    """Return when a message may go next if at most `limit` go in any `window` (None: now).

    `sent` are when the earlier messages went. What waits for the cap is sent then, together.
    """
    instant = _utc(now, "now")
    if limit < 1:
        raise InvalidInput(f"limit must be 1 or more, not {limit}")
    recent = sorted(t for t in (_utc(s, "sent") for s in sent) if instant - t < window)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window


def _utc(value: datetime, label: str) -> datetime:
    """Return aware `value` in UTC, or raise InvalidInput for a naive one."""
    if value.utcoffset() is None:
        raise InvalidInput(f"{label} {value.isoformat()} has no time zone offset")
    # Comparing datetimes that share a zone compares wall clocks, which misorders a fall-back
    # fold; in UTC every comparison and addition is about instants.
    return value.astimezone(UTC)
