"""Label routing, pure: the rule an alert matches, its group, and what inhibits it.

- Rules are tried in order and the first match wins; a matching rule with `continue` lets the
  later rules go on matching, as in Alertmanager. What a rule sets (service, severity, policy)
  is kept; a later matching rule only fills in what is still unset. A matching `drop` ends it:
  the alert is recorded and pages nobody.
- Grouping: alerts whose `group_by` labels are equal share a group key; without `group_by` every
  alert of the service shares one group (one open incident per service, as before). With a
  `group_window`, a new alert joins its group's open incident only while the group's newest
  alert is at most that old, a window that rolls with every alert that joins (as PagerDuty's
  content-based grouping counts it); past it, the alert opens an incident of its own.
- Flap suppression: with `open_after` (count, within), a group opens no incident until `count`
  alerts fired within the time; with a `flap_window`, an alert that resolves and fires again
  within it is the same firing, so one flapping check never reaches the count alone.
- Inhibition, as Alertmanager's `inhibit_rules`: an alert matching a rule's target matchers is
  inhibited while another firing alert matches its source matchers and has equal values of
  every `equal` label. An alert never inhibits itself, and, as in Alertmanager, an alert that
  matches both sides of a rule is not inhibited by another that also matches both.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from tocsin.core.alerts import AlertEvent, Route, RouteAction, Rule
from tocsin.core.alerts import route as by_severity
from tocsin.core.matchers import Matcher, Op, matches_all, parse_matchers


@dataclass(frozen=True, slots=True)
class RouteRule:
    """When every matcher passes: send to `service`, at `severity`, through `policy`, or drop."""

    matchers: tuple[Matcher, ...] = ()
    service: str | None = None
    severity: str | None = None
    policy: str | None = None
    drop: bool = False
    keep_going: bool = False  # `continue: true` in the file


@dataclass(frozen=True, slots=True)
class Routed:
    """Where an alert goes; `matched` are the indexes of the rules that matched, in order."""

    service: str | None = None
    severity: str | None = None
    policy: str | None = None
    dropped: bool = False
    matched: tuple[int, ...] = ()


class RouteTable:
    """Routes made ready for many alerts: each rule filed under one of its `name="value"`
    matchers, so an alert is tested only against the rules that can match it (with 50 routes
    on a `team` label, one), in the rules' order."""

    def __init__(self, rules: Iterable[RouteRule]) -> None:
        self.rules = tuple(rules)
        always: list[int] = []
        keyed: dict[str, dict[str, list[int]]] = {}
        for index, rule in enumerate(self.rules):
            key = next((m for m in rule.matchers if m.op is Op.EQUAL), None)
            if key is None:
                always.append(index)
            else:
                keyed.setdefault(key.name, {}).setdefault(key.value, []).append(index)
        self._always = tuple(always)
        self._keyed = {name: {v: tuple(i) for v, i in by.items()} for name, by in keyed.items()}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def candidates(self, labels: Mapping[str, str]) -> list[int]:
        """Return the indexes of the rules that may match `labels`, in order."""
        found = list(self._always)
        for name, by_value in self._keyed.items():
            found += by_value.get(labels.get(name, ""), ())
        return sorted(found)


def route(rules: Sequence[RouteRule] | RouteTable, labels: Mapping[str, str]) -> Routed:
    """Return where the rules send an alert with `labels` (nothing matched: all None)."""
    table = rules if isinstance(rules, RouteTable) else RouteTable(rules)
    service = severity = policy = None
    matched: list[int] = []
    for index in table.candidates(labels):
        rule = table.rules[index]
        if not matches_all(rule.matchers, labels):
            continue
        matched.append(index)
        service = service or rule.service
        severity = severity or rule.severity
        policy = policy or rule.policy
        if rule.drop:
            return Routed(service, severity, policy, True, tuple(matched))
        if not rule.keep_going:
            break
    return Routed(service, severity, policy, False, tuple(matched))


def rule_of(spec: Mapping[str, Any]) -> RouteRule:
    """Return a route as the file and the database write it (`match`, `service`, `severity`,
    `policy`, `drop`, `continue`); MatcherError if its matchers do not parse."""
    return RouteRule(
        tuple(parse_matchers(spec.get("match") or [])),
        service=spec.get("service"),
        severity=spec.get("severity"),
        policy=spec.get("policy"),
        drop=bool(spec.get("drop")),
        keep_going=bool(spec.get("continue")),
    )


def decide(routed: Routed, event: AlertEvent, rules: Sequence[Rule]) -> Route:
    """Return what the alert does: dropped, at the route's severity, or by the `rules` of the
    service it went to (its severity rules)."""
    if routed.dropped:
        return Route(RouteAction.ALERT, None)
    if routed.severity is not None:
        return Route(RouteAction.INCIDENT, routed.severity)
    return by_severity(event.severity, event.raw_severity, rules)


GROUP_KEY_LENGTH = 512  # as stored; a longer key keeps its start and ends in a digest


def group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    """Return the alert's group: its `group_by` labels as `{a="x",b="y"}` (none: `{}`).

    A missing label groups as the empty string, as Alertmanager groups it. A key longer than
    GROUP_KEY_LENGTH keeps its readable start and ends in a digest of the whole, so two groups
    that differ only past the cut still differ.
    """
    parts = [str(Matcher(name, Op.EQUAL, labels.get(name, ""))) for name in group_by]
    key = "{" + ",".join(parts) + "}"
    if len(key) <= GROUP_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: GROUP_KEY_LENGTH - len(digest) - 4]}...#{digest}"


def joins_group(newest: datetime | None, now: datetime, window: timedelta | None) -> bool:
    """Whether a new alert joins the group's open incident whose newest alert came at `newest`.

    Without a window the open incident takes every alert of its group, as long as it is open.
    """
    return window is None or newest is None or now - newest <= window


@dataclass(frozen=True, slots=True)
class OpenAfter:
    """Open an incident only once `count` alerts of a group fired within `within`; firings of
    one alert less than `flap_window` apart (resolved, then firing again) count once."""

    count: int
    within: timedelta
    flap_window: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """One alert firing: its key (integration and dedup key), when, and when it resolved."""

    key: str
    fired_at: datetime
    resolved_at: datetime | None = None


def firings_counted(rule: OpenAfter, firings: Iterable[Firing], now: datetime) -> int:
    """Return how many firings within `rule.within` before `now` count towards `rule.count`.

    Each alert's firings are taken in time order; with a flap window, a firing that comes at
    most that long after the alert's previous firing resolved is the same one (a previous
    firing with no resolve time resolved in between, so it is the same one too).
    """
    since = now - rule.within
    by_key: dict[str, list[Firing]] = {}
    for firing in firings:
        if firing.fired_at >= since:
            by_key.setdefault(firing.key, []).append(firing)
    counted = 0
    for own in by_key.values():
        own.sort(key=lambda f: f.fired_at)
        counted += 1
        for before, after in pairwise(own):
            if rule.flap_window is None or (
                before.resolved_at is not None
                and after.fired_at - before.resolved_at > rule.flap_window
            ):
                counted += 1
    return counted


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While an alert matching `source` fires, alerts matching `target` with `equal` labels
    equal to its own page nobody."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    # A digest of the rule, the start of every inhibit key filed under it (see inhibit_key).
    digest: bytes = field(default=b"", init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        text = json.dumps(
            [[str(m) for m in self.source], [str(m) for m in self.target], list(self.equal)],
            ensure_ascii=False,
        )
        object.__setattr__(self, "digest", hashlib.sha256(text.encode()).digest())


def inhibit_rule_of(spec: Mapping[str, Any]) -> InhibitRule:
    """Return an inhibit rule as stored (`source`, `target`, `equal`)."""
    return InhibitRule(
        tuple(parse_matchers(spec.get("source") or [])),
        tuple(parse_matchers(spec.get("target") or [])),
        tuple(spec.get("equal") or ()),
    )


def _equal_values(rule: InhibitRule, labels: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in rule.equal)


def inhibit_key(rule: InhibitRule, labels: Mapping[str, str]) -> str:
    """Return the key that files an alert under `rule`: the rule and the alert's values of its
    `equal` labels, hashed. A source and a target with equal values have the same key."""
    return _key_of(rule.digest, _equal_values(rule, labels))


@functools.lru_cache(maxsize=65536)
def _key_of(rule: bytes, values: tuple[str, ...]) -> str:
    # Kept: many alerts share their values of a rule's `equal` labels (a cluster, a team).
    digest = hashlib.blake2b(rule, digest_size=24)
    for value in values:
        digest.update(f"{len(value)}:{value}".encode())
    return digest.hexdigest()


def source_keys(rules: Iterable[InhibitRule], labels: Mapping[str, str]) -> list[tuple[str, bool]]:
    """Return the keys an alert with `labels` inhibits under, one for each rule whose source it
    matches, each with whether it matches that rule's target too."""
    found = {
        inhibit_key(rule, labels): matches_all(rule.target, labels)
        for rule in rules
        if matches_all(rule.source, labels)
    }
    return list(found.items())  # two rules alike file an alert once


def target_keys(rules: Iterable[InhibitRule], labels: Mapping[str, str]) -> list[tuple[str, bool]]:
    """Return the keys under which a firing alert would inhibit an alert with `labels`, one for
    each rule whose target it matches, each with whether it matches that rule's source too."""
    found = {
        inhibit_key(rule, labels): matches_all(rule.source, labels)
        for rule in rules
        if matches_all(rule.target, labels)
    }
    return list(found.items())


@dataclass(frozen=True, slots=True)
class Source:
    """A firing alert filed under an inhibit key."""

    key: str  # the alert's own key
    matches_target: bool
    summary: str = ""


def inhibitor(
    wanted: Iterable[tuple[str, bool]],
    sources: Callable[[str], Iterable[Source]],
    *,
    key: str | None = None,
) -> Source | None:
    """Return a firing source that inhibits the alert whose `target_keys` are `wanted`, else
    None. `sources` gives the firing alerts filed under an inhibit key; the alert's own `key`
    is skipped, and one that matches both sides of a rule is not inhibited by another that
    does too."""
    for inhibit, both in wanted:
        for source in sources(inhibit):
            if source.key == key or (both and source.matches_target):
                continue
            return source
    return None


def inhibited_by(
    rules: Iterable[InhibitRule],
    labels: Mapping[str, str],
    firing: Iterable[tuple[str, Mapping[str, str]]],
    *,
    key: str | None = None,
) -> str | None:
    """Return the key of a firing alert that inhibits the alert with `labels`, else None.

    `firing` is every other open alert as (key, labels); the alert's own `key` is skipped.
    """
    rules = list(rules)
    sources: dict[str, list[Source]] = {}
    for other_key, other in firing:
        for inhibit, matches_target in source_keys(rules, other):
            sources.setdefault(inhibit, []).append(Source(other_key, matches_target))
    found = inhibitor(target_keys(rules, labels), lambda k: sources.get(k, ()), key=key)
    return found.key if found is not None else None
