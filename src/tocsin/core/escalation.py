"""Escalation: who is paged, level after level, until someone acknowledges.

A policy has ordered levels. Each level pages its targets (users, whoever is on call on its
schedules, the people of its teams) and calls its webhooks, then waits its `delay` before the next
level; after the last level the whole policy runs
`repeat` more times. The seed's policy:

    level 1  schedule:db-primary     15m
    level 2  schedule:db-secondary   15m
    level 3  user:erin               (its delay is used only before a repeat)

The escalation of one incident is a `State`. `start`, `due`, `acknowledge`, `unacknowledge` and
`resolve` return the next state plus the `Action`s to perform, so the engine stores the state and
performs the actions in one transaction. Everything here is pure: `now` and the on-call lookup are
parameters. Level and loop numbers in states and actions count from 0; reasons count from 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tocsin.core.timeutil import parse_duration
from tocsin.errors import InvalidInput

MIN_DELAY = timedelta(minutes=1)
# The last level's delay matters only before a repeat, so it may be left out.
DEFAULT_LAST_DELAY = timedelta(minutes=15)
MAX_REPEAT = 10

_LEVEL_KEYS = ("delay", "targets")
_DURATION_HINT = "write it like 30s, 15m, 1h, 1h30m or 2d"


class TargetKind(StrEnum):
    """What a level pages: one user, whoever is on call on a schedule, a team, or a webhook."""

    USER = "user"
    SCHEDULE = "schedule"
    TEAM = "team"
    WEBHOOK = "webhook"


_TARGET_HINT = "user:NAME, schedule:NAME, team:SLUG or webhook:NAME"


@dataclass(frozen=True, slots=True)
class Target:
    """One target of a level; `str()` gives its config spelling, like "schedule:db-primary"."""

    kind: TargetKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"


@dataclass(frozen=True, slots=True)
class Level:
    """Targets paged together, and how long to wait before the next level."""

    targets: tuple[Target, ...]
    delay: timedelta


@dataclass(frozen=True, slots=True)
class Policy:
    """Ordered levels, run once and then `repeat` more times while nobody acknowledges."""

    name: str
    levels: tuple[Level, ...]
    repeat: int = 0


def parse_target(text: str) -> Target:
    """Return the target in "user:erin", "schedule:db-primary", "team:dba" or "webhook:chatops"."""
    kind, colon, name = text.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if not colon or not name or kind not in {k.value for k in TargetKind}:
        raise InvalidInput(f"{text!r} is not {_TARGET_HINT}")
    return Target(TargetKind(kind), name)


def parse_policy(name: str, levels: list[dict[str, Any]], repeat: int = 0) -> Policy:
    """Return the policy from its config, or raise InvalidInput listing every problem."""
    problems: list[str] = []
    if not name.strip():
        problems.append("name: must not be empty")
    # bool is an int to Python, but `repeat: true` in YAML is a mistake, not a 1.
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
        problems.append(f"repeat: must be 0..{MAX_REPEAT}, not {repeat!r}")
    parsed: list[Level] = []
    if not isinstance(levels, list | tuple) or not levels:
        problems.append("levels: at least one level")
    else:
        for i, item in enumerate(levels):
            level = _parse_level(item, f"levels[{i}]", i == len(levels) - 1, problems)
            if level is not None:
                parsed.append(level)
    if problems:
        raise InvalidInput.of(problems)
    return Policy(name.strip(), tuple(parsed), repeat)


def _parse_level(item: object, path: str, last: bool, problems: list[str]) -> Level | None:
    """Return one level, or None after appending its problems."""
    if not isinstance(item, Mapping):
        problems.append(f"{path}: expected a mapping with targets and delay, not {item!r}")
        return None
    found = len(problems)
    for key in sorted(set(item) - set(_LEVEL_KEYS), key=str):
        problems.append(f"{path}: unknown key {key!r}; valid keys: {', '.join(_LEVEL_KEYS)}")
    targets = _parse_targets(item.get("targets"), f"{path}.targets", problems)
    delay = _parse_delay(item.get("delay"), f"{path}.delay", last, problems)
    if len(problems) > found or delay is None:
        return None
    return Level(targets, delay)


def _parse_targets(raw: object, path: str, problems: list[str]) -> tuple[Target, ...]:
    if raw is None or (isinstance(raw, list | tuple) and not raw):
        problems.append(f"{path}: at least one target")
        return ()
    if not isinstance(raw, list | tuple):
        problems.append(f"{path}: expected a list like ['schedule:db-primary'], not {raw!r}")
        return ()
    targets: list[Target] = []
    for j, text in enumerate(raw):
        if not isinstance(text, str):
            problems.append(f"{path}[{j}]: {text!r} is not {_TARGET_HINT}")
            continue
        try:
            targets.append(parse_target(text))
        except InvalidInput as exc:
            problems.append(f"{path}[{j}]: {exc.message}")
    return tuple(targets)


def _parse_delay(raw: object, path: str, last: bool, problems: list[str]) -> timedelta | None:
    if raw is None:
        if last:
            return DEFAULT_LAST_DELAY
        problems.append(f"{path}: required on every level but the last; {_DURATION_HINT}")
        return None
    if isinstance(raw, timedelta):
        delay = raw
    elif isinstance(raw, str):
        try:
            delay = parse_duration(raw)
        except InvalidInput as exc:
            problems.append(f"{path}: {exc.message}")
            return None
    else:
        problems.append(f"{path}: {raw!r} is not a duration; {_DURATION_HINT}")
        return None
    if delay < MIN_DELAY:
        # A shorter wait pages the next level before anyone could possibly react.
        problems.append(f"{path}: {raw!r} is shorter than the minimum of 1 minute")
        return None
    return delay


# --- the state machine of one incident's escalation ---------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    """Where one incident's escalation is; the engine stores it in a row."""

    level: int  # index of the level last fired (paged or skipped); -1 before the first
    loop: int  # 0 on the first pass, 1.. on repeats
    next_at: datetime | None  # when the next level fires; None: nothing more will fire
    acknowledged: bool = False
    resolved: bool = False
    paged: frozenset[str] = frozenset()  # every user paged so far, for the resolve notice


@dataclass(frozen=True, slots=True)
class Page:
    """Page `users` and call `webhooks` now: level `level` of pass `loop` fired.

    A webhook is not a person: it is called on the step only, is not among the `paged` of the
    state and gets no resolve notice (as Grafana OnCall's trigger_webhook step).
    """

    users: tuple[str, ...]
    level: int
    loop: int
    reason: str
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    """Level `level` of pass `loop` was passed over because nobody is on call on its targets."""

    level: int
    loop: int
    reason: str


@dataclass(frozen=True, slots=True)
class NotifyResolved:
    """Tell `users` (everyone paged, sorted) that the incident is resolved."""

    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Exhausted:
    """Every level has fired and nothing more will: nobody has acknowledged."""

    reason: str


Action = Page | Skip | NotifyResolved | Exhausted

# (schedule name, instant) -> the users on call on that schedule at that instant.
OnCall = Callable[[str, datetime], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class TeamRoster:
    """What a team target pages: its schedule's on-call if it has a schedule, else `members`."""

    members: tuple[str, ...]
    schedule: str | None = None


# team slug -> its roster, or None for a team that no longer exists (it pages nobody, like a
# schedule that no longer exists).
Teams = Callable[[str], TeamRoster | None]


def no_teams(_slug: str) -> TeamRoster | None:
    """Know no team: for callers whose policies name none."""
    return None


def level_users(
    level: Level, at: datetime, on_call: OnCall, teams: Teams = no_teams
) -> tuple[str, ...]:
    """Return who `level` pages at `at`, once each: targets in order, each schedule's sorted,
    each team's members in the team's order (or its schedule's on-call, sorted)."""
    users: dict[str, None] = {}  # a dict keeps first-seen order while deduplicating
    for target in level.targets:
        for user in _target_users(target, at, on_call, teams):
            users.setdefault(user, None)
    return tuple(users)


def _target_users(target: Target, at: datetime, on_call: OnCall, teams: Teams) -> tuple[str, ...]:
    if target.kind is TargetKind.USER:
        return (target.name,)
    if target.kind is TargetKind.SCHEDULE:
        return tuple(sorted(on_call(target.name, at)))
    if target.kind is TargetKind.TEAM:
        roster = teams(target.name)
        if roster is None:
            return ()
        if roster.schedule is not None:
            # The team has said who answers for it: waking everyone in a gap of its schedule
            # would page people who are off duty; the gap is skipped and shown instead.
            return tuple(sorted(on_call(roster.schedule, at)))
        return roster.members
    return ()  # a webhook pages no person


def level_webhooks(level: Level) -> tuple[str, ...]:
    """Return the webhooks `level` calls, once each, in the order written."""
    names = (t.name for t in level.targets if t.kind is TargetKind.WEBHOOK)
    return tuple(dict.fromkeys(names))


def start(
    policy: Policy, now: datetime, on_call: OnCall, teams: Teams = no_teams
) -> tuple[State, list[Action]]:
    """Return the escalation of a new incident, with level 1 fired at once."""
    _require_aware(now)
    return _fire(policy, 0, 0, State(-1, 0, None), now, (on_call, teams), "")


def due(
    policy: Policy, state: State, now: datetime, on_call: OnCall, teams: Teams = no_teams
) -> tuple[State, list[Action]]:
    """Return the state after firing the next level, if it is due at `now`."""
    _require_aware(now)
    if state.acknowledged or state.resolved:
        # A due step that lost a race with an ack or a resolve must page nobody; clearing next_at
        # repairs a row whose next_at was left behind.
        return (replace(state, next_at=None) if state.next_at is not None else state), []
    # In UTC: datetimes sharing a zone compare wall clocks, which misorders a fall-back fold.
    if state.next_at is None or now.astimezone(UTC) < state.next_at.astimezone(UTC):
        return state, []
    # Only the next level fires even when the engine is late by several delays: paging a string
    # of levels at once would skip the time each one is promised to answer.
    return _fire(policy, state.level + 1, state.loop, state, now, (on_call, teams), "")


def acknowledge(state: State) -> State:
    """Return the state after an acknowledgement: escalation stops at once."""
    return replace(state, acknowledged=True, next_at=None)


def unacknowledge(
    policy: Policy, state: State, now: datetime, on_call: OnCall, teams: Teams = no_teams
) -> tuple[State, list[Action]]:
    """Return the state after an unacknowledge: escalation restarts at level 1, paging at once."""
    _require_aware(now)
    if state.resolved or not state.acknowledged:
        # Nothing to undo: a resolved incident pages nobody again, and a running escalation is
        # not restarted (that would page level 1 a second time for nothing).
        return state, []
    restart = "unacknowledged, escalation restarts: "
    return _fire(policy, 0, 0, state, now, (on_call, teams), restart)


def resolve(state: State) -> tuple[State, list[NotifyResolved]]:
    """Return the state after a resolve: escalation stops and everyone paged is told."""
    if state.resolved:
        return state, []  # told once already
    stopped = replace(state, resolved=True, next_at=None)
    if not state.paged:
        return stopped, []
    return stopped, [NotifyResolved(tuple(sorted(state.paged)))]


def _fire(
    policy: Policy,
    level: int,
    loop: int,
    state: State,
    now: datetime,
    lookups: tuple[OnCall, Teams],
    prefix: str,
) -> tuple[State, list[Action]]:
    """Fire level `level` of pass `loop`, passing over empty levels to the first with anyone.

    A level that calls a webhook is not empty even when no person is on call: the webhook is
    what it pages.
    """
    actions: list[Action] = []
    paged = state.paged
    last = (state.level, state.loop)
    while True:
        if level >= len(policy.levels):
            # `>=`, not `==`: a policy edited to fewer levels continues with its next pass.
            if loop >= policy.repeat or not policy.levels:
                actions.append(Exhausted(_exhausted_reason(policy, paged)))
                return State(*last, None, paged=paged), actions
            level, loop = 0, loop + 1
        current = policy.levels[level]
        where = _where(policy, level, loop)
        names = ", ".join(str(t) for t in current.targets) or "no targets"
        users = level_users(current, now, *lookups)
        webhooks = level_webhooks(current)
        last = (level, loop)
        if not users and not webhooks:
            # Waiting out an empty level's delay would leave the incident with nobody paged.
            actions.append(Skip(level, loop, f"{prefix}{where}: nobody is on call on {names}"))
            level += 1
            continue
        paged = paged | frozenset(users)
        actions.append(Page(users, level, loop, f"{prefix}{where}: {names}", webhooks))
        if level == len(policy.levels) - 1 and loop >= policy.repeat:
            actions.append(Exhausted(_exhausted_reason(policy, paged)))
            return State(level, loop, None, paged=paged), actions
        # UTC first: adding to a zone-aware datetime moves its wall clock, not the instant.
        next_at = now.astimezone(UTC) + current.delay
        return State(level, loop, next_at, paged=paged), actions


def _where(policy: Policy, level: int, loop: int) -> str:
    repeat = f" (repeat {loop} of {policy.repeat})" if loop else ""
    return f"{policy.name} level {level + 1}{repeat}"


def _exhausted_reason(policy: Policy, paged: frozenset[str]) -> str:
    passes = policy.repeat + 1
    runs = f"{passes} pass" if passes == 1 else f"{passes} passes"
    webhooks = any(t.kind is TargetKind.WEBHOOK for level in policy.levels for t in level.targets)
    if not paged and webhooks:
        # A webhook level never skips, so its webhooks were called: say so, not "nobody".
        return (
            f"{policy.name} has run out after {runs}: its webhooks were called, no person was"
            " on call to page, and nobody acknowledged"
        )
    if not paged:
        return f"{policy.name} has run out after {runs}: nobody was on call to page"
    return f"{policy.name} has run out after {runs}: every level fired and nobody acknowledged"


def _require_aware(now: datetime) -> None:
    if now.utcoffset() is None:
        raise InvalidInput(f"time {now.isoformat()} has no time zone offset")
