"""Escalation policies and the escalation state machine of one incident."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.core.escalation import (
    Action,
    Exhausted,
    Level,
    NotifyResolved,
    OnCall,
    Page,
    Policy,
    Skip,
    State,
    Target,
    TargetKind,
    TeamRoster,
    acknowledge,
    due,
    level_users,
    level_webhooks,
    parse_policy,
    parse_target,
    resolve,
    start,
    unacknowledge,
)
from tocsin.errors import InvalidInput

MIN = timedelta(minutes=1)
SEED_LEVELS: list[dict[str, Any]] = [
    {"targets": ["schedule:db-primary"], "delay": "15m"},
    {"targets": ["schedule:db-secondary"], "delay": "15m"},
    {"targets": ["user:erin"]},
]
ROSTER = {"db-primary": ("alice",), "db-secondary": ("bob",)}
DURATION_HINT = "write it like 30s, 15m, 1h, 1h30m or 2d"
TARGET_HINT = "user:NAME, schedule:NAME, team:SLUG or webhook:NAME"


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2024, 6, 20, hour, minute, second, tzinfo=UTC)


def roster(mapping: Mapping[str, tuple[str, ...]]) -> OnCall:
    return lambda schedule, _at: mapping.get(schedule, ())


def seed(repeat: int = 0, levels: list[dict[str, Any]] | None = None) -> Policy:
    return parse_policy("db-oncall", SEED_LEVELS if levels is None else levels, repeat)


def brief(action: Action) -> tuple[object, ...]:
    """Return an action without its reason, for comparing whole timelines."""
    if isinstance(action, Page):
        return ("page", action.users, action.level, action.loop)
    if isinstance(action, Skip):
        return ("skip", action.level, action.loop)
    if isinstance(action, NotifyResolved):
        return ("resolved", action.users)
    return ("exhausted",)


def run_out(
    policy: Policy, now: datetime, on_call: OnCall
) -> tuple[State, list[tuple[datetime, tuple[object, ...]]]]:
    """Start at `now` and call `due` at each next_at until nothing more fires."""
    state, actions = start(policy, now, on_call)
    timeline = [(now, brief(a)) for a in actions]
    for _ in range(100):
        if state.next_at is None:
            return state, timeline
        when = state.next_at
        state, actions = due(policy, state, when, on_call)
        timeline += [(when, brief(a)) for a in actions]
    raise AssertionError("escalation never ran out")


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("user:erin", Target(TargetKind.USER, "erin"), id="user"),
        pytest.param(
            "schedule:db-primary", Target(TargetKind.SCHEDULE, "db-primary"), id="schedule"
        ),
        pytest.param(" Schedule : db-primary ", Target(TargetKind.SCHEDULE, "db-primary"), id="ws"),
        pytest.param("team:dba", Target(TargetKind.TEAM, "dba"), id="team"),
        pytest.param(" TEAM: dba", Target(TargetKind.TEAM, "dba"), id="team-ws"),
        pytest.param("webhook:chatops", Target(TargetKind.WEBHOOK, "chatops"), id="webhook"),
    ],
)
def test_targets_parse(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


def test_a_target_prints_as_it_is_written() -> None:
    assert str(Target(TargetKind.SCHEDULE, "db-primary")) == "schedule:db-primary"
    assert str(parse_target("user:erin")) == "user:erin"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("group:x", id="unknown-kind"),
        pytest.param("erin", id="no-kind"),
        pytest.param("user:", id="no-name"),
        pytest.param("team:", id="team-no-name"),
        pytest.param("webhook: ", id="webhook-blank-name"),
        pytest.param("user:  ", id="blank-name"),
        pytest.param(":erin", id="blank-kind"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_targets_are_named_in_the_error(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_target(text)
    assert caught.value.problems == [f"{text!r} is not {TARGET_HINT}"]


def test_the_seed_policy_parses() -> None:
    primary = Target(TargetKind.SCHEDULE, "db-primary")
    secondary = Target(TargetKind.SCHEDULE, "db-secondary")
    erin = Target(TargetKind.USER, "erin")
    assert parse_policy(" db-oncall ", SEED_LEVELS, 1) == Policy(
        "db-oncall",
        (
            Level((primary,), timedelta(minutes=15)),
            Level((secondary,), timedelta(minutes=15)),
            Level((erin,), timedelta(minutes=15)),  # omitted on the last level: 15m
        ),
        1,
    )


def test_delays_of_one_minute_and_more_are_kept() -> None:
    policy = parse_policy(
        "p", [{"targets": ["user:a"], "delay": "1m"}, {"targets": ["user:b"], "delay": "1h"}]
    )
    assert [level.delay for level in policy.levels] == [timedelta(minutes=1), timedelta(hours=1)]


@pytest.mark.parametrize(
    ("levels", "repeat", "problems"),
    [
        pytest.param([], 0, ["levels: at least one level"], id="no-levels"),
        pytest.param(
            [
                {"targets": ["schedule:a"], "delay": "15 minutes"},
                {"targets": ["user:b", "group:x"], "delay": "30s"},
                {"targets": []},
            ],
            11,
            [
                "repeat: must be 0..10, not 11",
                f"levels[0].delay: '15 minutes' is not a duration; {DURATION_HINT}",
                f"levels[1].targets[1]: 'group:x' is not {TARGET_HINT}",
                "levels[1].delay: '30s' is shorter than the minimum of 1 minute",
                "levels[2].targets: at least one target",
            ],
            id="every-problem-at-once",
        ),
        pytest.param(
            [{"targets": ["user:a"]}, {"targets": ["user:b"]}],
            0,
            [f"levels[0].delay: required on every level but the last; {DURATION_HINT}"],
            id="delay-missing-before-last",
        ),
        pytest.param(
            [{"targets": ["user:a"], "delay": "59s"}],
            0,
            ["levels[0].delay: '59s' is shorter than the minimum of 1 minute"],
            id="short-last-delay",
        ),
        pytest.param(
            [{"targets": ["user:a"], "delay": 15}],
            0,
            [f"levels[0].delay: 15 is not a duration; {DURATION_HINT}"],
            id="delay-number",
        ),
        pytest.param(
            [{"targets": ["user:a"], "dealy": "5m"}],
            0,
            ["levels[0]: unknown key 'dealy'; valid keys: delay, targets"],
            id="typo-key",
        ),
        pytest.param(
            [{"targets": "user:a"}],
            0,
            ["levels[0].targets: expected a list like ['schedule:db-primary'], not 'user:a'"],
            id="targets-not-list",
        ),
        pytest.param(
            [{"delay": "5m"}], 0, ["levels[0].targets: at least one target"], id="targets-missing"
        ),
        pytest.param(
            [{"targets": [7]}],
            0,
            [f"levels[0].targets[0]: 7 is not {TARGET_HINT}"],
            id="target-not-text",
        ),
        pytest.param(
            ["user:a"],
            0,
            ["levels[0]: expected a mapping with targets and delay, not 'user:a'"],
            id="level-not-mapping",
        ),
        pytest.param(
            [{"targets": ["user:a"]}], -1, ["repeat: must be 0..10, not -1"], id="repeat-negative"
        ),
        pytest.param(
            [{"targets": ["user:a"]}], True, ["repeat: must be 0..10, not True"], id="repeat-bool"
        ),
    ],
)
def test_policy_problems_are_all_listed_with_paths(
    levels: list[dict[str, Any]], repeat: int, problems: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy("db-oncall", levels, repeat)
    assert caught.value.problems == problems


def test_a_policy_needs_a_name() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy("  ", [{"targets": ["user:a"]}])
    assert caught.value.problems == ["name: must not be empty"]


def test_a_repeat_of_ten_is_allowed() -> None:
    assert parse_policy("p", [{"targets": ["user:a"]}], 10).repeat == 10


# --- who a level pages --------------------------------------------------------------------------


def test_a_level_pages_targets_in_order_each_schedule_sorted_and_nobody_twice() -> None:
    level = Level(
        (
            parse_target("schedule:s1"),
            parse_target("user:bo"),
            parse_target("user:al"),
            parse_target("schedule:s2"),
        ),
        MIN,
    )
    on_call = roster({"s1": ("cy", "al"), "s2": ("dee", "al")})
    assert level_users(level, at(10, 0), on_call) == ("al", "cy", "bo", "dee")


TEAMS = {
    "dba": TeamRoster(("dee", "al", "cy")),  # no schedule: every member, in the team's order
    "net": TeamRoster(("al", "bo", "cy"), schedule="s1"),  # its schedule's on-call only
    "gap": TeamRoster(("al", "bo"), schedule="empty"),  # a schedule with nobody on call now
    "nobody": TeamRoster(()),
}


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        pytest.param(["team:dba"], ("dee", "al", "cy"), id="members-in-team-order"),
        pytest.param(["team:net"], ("al", "cy"), id="team-schedule-on-call-sorted"),
        pytest.param(["team:gap"], (), id="team-schedule-gap-pages-no-member"),
        pytest.param(["team:nobody"], (), id="team-without-members"),
        pytest.param(["team:gone"], (), id="team-that-no-longer-exists"),
        pytest.param(["user:cy", "team:dba"], ("cy", "dee", "al"), id="user-and-member-once"),
        pytest.param(["team:dba", "user:al"], ("dee", "al", "cy"), id="member-and-user-once"),
        pytest.param(["team:dba", "team:net"], ("dee", "al", "cy"), id="two-teams-overlap"),
        pytest.param(["schedule:s2", "team:dba"], ("al", "dee", "cy"), id="schedule-then-team"),
        pytest.param(["webhook:chatops"], (), id="webhook-pages-no-person"),
        pytest.param(["webhook:chatops", "team:dba"], ("dee", "al", "cy"), id="webhook-and-team"),
    ],
)
def test_a_team_pages_its_schedule_or_its_members_once_each(
    targets: list[str], expected: tuple[str, ...]
) -> None:
    level = Level(tuple(parse_target(t) for t in targets), MIN)
    on_call = roster({"s1": ("cy", "al"), "s2": ("dee", "al"), "empty": ()})
    assert level_users(level, at(10, 0), on_call, TEAMS.get) == expected


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        pytest.param(["user:al"], (), id="none"),
        pytest.param(["webhook:b", "user:al", "webhook:a"], ("b", "a"), id="in-order-written"),
        pytest.param(["webhook:a", "webhook:a"], ("a",), id="once-each"),
    ],
)
def test_a_level_calls_its_webhooks_once_each(
    targets: list[str], expected: tuple[str, ...]
) -> None:
    assert level_webhooks(Level(tuple(parse_target(t) for t in targets), MIN)) == expected


def test_a_team_with_nobody_on_call_is_skipped_like_an_empty_schedule() -> None:
    policy = seed(levels=[{"targets": ["team:gap"], "delay": "5m"}, {"targets": ["team:dba"]}])
    state, actions = start(policy, at(10, 0), roster({}), TEAMS.get)
    assert [brief(a) for a in actions] == [
        ("skip", 0, 0),
        ("page", ("dee", "al", "cy"), 1, 0),
        ("exhausted",),
    ]
    assert state.paged == {"dee", "al", "cy"}


def test_a_level_with_only_a_webhook_fires_and_waits_its_delay() -> None:
    policy = seed(
        levels=[
            {"targets": ["webhook:chatops"], "delay": "10m"},
            {"targets": ["webhook:ticket", "user:erin"]},
        ]
    )
    state, actions = start(policy, at(10, 0), roster({}))
    assert actions == [Page((), 0, 0, "db-oncall level 1: webhook:chatops", ("chatops",))]
    assert state.next_at == at(10, 10)
    assert state.paged == frozenset()  # a webhook is not a person to tell of the resolve
    state, actions = due(policy, state, at(10, 10), roster({}))
    assert actions[0] == Page(
        ("erin",), 1, 0, "db-oncall level 2: webhook:ticket, user:erin", ("ticket",)
    )
    _, told = resolve(state)
    assert told == [NotifyResolved(("erin",))]


def test_an_ack_before_a_webhook_level_means_it_is_never_called() -> None:
    policy = seed(levels=[{"targets": ["user:al"], "delay": "5m"}, {"targets": ["webhook:w"]}])
    state, _ = start(policy, at(10, 0), roster({}))
    state = acknowledge(state)
    state, actions = due(policy, state, at(10, 5), roster({}))
    assert actions == []


def test_a_webhook_only_policy_that_runs_out_says_its_webhooks_were_called() -> None:
    policy = seed(levels=[{"targets": ["webhook:chatops"]}])
    _, actions = start(policy, at(10, 0), roster({}))
    assert actions[-1] == Exhausted(
        "db-oncall has run out after 1 pass: its webhooks were called, no person was on call to"
        " page, and nobody acknowledged"
    )


def test_schedules_are_asked_at_the_moment_of_paging() -> None:
    def shifts(schedule: str, instant: datetime) -> tuple[str, ...]:
        return ("alice",) if instant < at(11, 0) else ("carol",)

    policy = seed()
    state, first = start(policy, at(10, 0), shifts)
    state = acknowledge(state)
    _, again = unacknowledge(policy, state, at(12, 0), shifts)
    assert [brief(a) for a in first] == [("page", ("alice",), 0, 0)]
    assert [brief(a) for a in again] == [("page", ("carol",), 0, 0)]


# --- the seed's policy, run to the end ----------------------------------------------------------


@pytest.mark.parametrize(
    ("repeat", "levels", "timeline"),
    [
        pytest.param(
            0,
            SEED_LEVELS,
            [
                (at(10, 0), ("page", ("alice",), 0, 0)),
                (at(10, 15), ("page", ("bob",), 1, 0)),
                (at(10, 30), ("page", ("erin",), 2, 0)),
                (at(10, 30), ("exhausted",)),
            ],
            id="once",
        ),
        pytest.param(
            1,
            SEED_LEVELS,
            [
                (at(10, 0), ("page", ("alice",), 0, 0)),
                (at(10, 15), ("page", ("bob",), 1, 0)),
                (at(10, 30), ("page", ("erin",), 2, 0)),
                (at(10, 45), ("page", ("alice",), 0, 1)),
                (at(11, 0), ("page", ("bob",), 1, 1)),
                (at(11, 15), ("page", ("erin",), 2, 1)),
                (at(11, 15), ("exhausted",)),
            ],
            id="repeat-once",
        ),
        pytest.param(
            1,
            [*SEED_LEVELS[:2], {"targets": ["user:erin"], "delay": "5m"}],
            [
                (at(10, 0), ("page", ("alice",), 0, 0)),
                (at(10, 15), ("page", ("bob",), 1, 0)),
                (at(10, 30), ("page", ("erin",), 2, 0)),
                (at(10, 35), ("page", ("alice",), 0, 1)),
                (at(10, 50), ("page", ("bob",), 1, 1)),
                (at(11, 5), ("page", ("erin",), 2, 1)),
                (at(11, 5), ("exhausted",)),
            ],
            id="last-delay-before-repeat",
        ),
        pytest.param(
            0,
            [
                {"targets": ["schedule:db-primary"], "delay": "5m"},
                {"targets": ["schedule:nobody"], "delay": "15m"},
                {"targets": ["user:erin"]},
            ],
            [
                (at(10, 0), ("page", ("alice",), 0, 0)),
                (at(10, 5), ("skip", 1, 0)),
                (at(10, 5), ("page", ("erin",), 2, 0)),
                (at(10, 5), ("exhausted",)),
            ],
            id="empty-level-is-not-waited-out",
        ),
        pytest.param(
            1,
            [
                {"targets": ["schedule:db-primary"], "delay": "5m"},
                {"targets": ["schedule:nobody"], "delay": "15m"},
            ],
            [
                (at(10, 0), ("page", ("alice",), 0, 0)),
                (at(10, 5), ("skip", 1, 0)),
                (at(10, 5), ("page", ("alice",), 0, 1)),
                (at(10, 10), ("skip", 1, 1)),
                (at(10, 10), ("exhausted",)),
            ],
            id="empty-last-level-wraps-to-the-repeat",
        ),
        pytest.param(
            0,
            [
                {"targets": ["schedule:nobody"], "delay": "5m"},
                {"targets": ["schedule:gap"], "delay": "5m"},
                {"targets": ["schedule:db-secondary"]},
            ],
            [
                (at(10, 0), ("skip", 0, 0)),
                (at(10, 0), ("skip", 1, 0)),
                (at(10, 0), ("page", ("bob",), 2, 0)),
                (at(10, 0), ("exhausted",)),
            ],
            id="chain-of-empty-levels-at-start",
        ),
        pytest.param(
            1,
            [{"targets": ["schedule:nobody"], "delay": "5m"}, {"targets": ["schedule:gap"]}],
            [
                (at(10, 0), ("skip", 0, 0)),
                (at(10, 0), ("skip", 1, 0)),
                (at(10, 0), ("skip", 0, 1)),
                (at(10, 0), ("skip", 1, 1)),
                (at(10, 0), ("exhausted",)),
            ],
            id="nobody-anywhere",
        ),
    ],
)
def test_policy_runs_out(
    repeat: int,
    levels: list[dict[str, Any]],
    timeline: list[tuple[datetime, tuple[object, ...]]],
) -> None:
    state, got = run_out(seed(repeat, levels), at(10, 0), roster(ROSTER))
    assert got == timeline
    assert state.next_at is None
    _, after = due(seed(repeat, levels), state, at(13, 0), roster(ROSTER))
    assert after == []


def test_the_seed_policy_waits_fifteen_minutes_after_each_level() -> None:
    state, actions = start(seed(), at(10, 0), roster(ROSTER))
    assert state == State(0, 0, at(10, 15), paged=frozenset({"alice"}))
    assert actions == [Page(("alice",), 0, 0, "db-oncall level 1: schedule:db-primary")]


def test_reasons_name_the_level_the_repeat_and_the_empty_targets() -> None:
    policy = parse_policy(
        "db-oncall",
        [{"targets": ["schedule:db-primary"], "delay": "5m"}, {"targets": ["schedule:gap"]}],
        1,
    )
    state, _ = start(policy, at(10, 0), roster(ROSTER))
    _, actions = due(policy, state, at(10, 5), roster(ROSTER))
    assert actions == [
        Skip(1, 0, "db-oncall level 2: nobody is on call on schedule:gap"),
        Page(("alice",), 0, 1, "db-oncall level 1 (repeat 1 of 1): schedule:db-primary"),
    ]


def test_exhaustion_says_whether_anyone_was_paged() -> None:
    nobody = parse_policy("db-oncall", [{"targets": ["schedule:gap"]}])
    _, empty = start(nobody, at(10, 0), roster(ROSTER))
    assert empty[-1] == Exhausted("db-oncall has run out after 1 pass: nobody was on call to page")
    second_pass = State(1, 1, at(11, 0), paged=frozenset({"alice", "bob", "erin"}))
    _, actions = due(seed(1), second_pass, at(11, 0), roster(ROSTER))
    assert actions[-1] == Exhausted(
        "db-oncall has run out after 2 passes: every level fired and nobody acknowledged"
    )


# --- timing -------------------------------------------------------------------------------------


def test_an_early_due_changes_nothing() -> None:
    state, _ = start(seed(), at(10, 0), roster(ROSTER))
    assert due(seed(), state, at(10, 14, 59), roster(ROSTER)) == (state, [])


def test_a_late_due_fires_one_level_and_waits_from_now() -> None:
    state, _ = start(seed(), at(10, 0), roster(ROSTER))
    state, actions = due(seed(), state, at(11, 0), roster(ROSTER))
    assert [brief(a) for a in actions] == [("page", ("bob",), 1, 0)]
    assert state.next_at == at(11, 15)


def test_next_at_counts_real_minutes_across_a_fall_back() -> None:
    # 01:50 EDT on 2024-11-03 is 05:50 UTC; fifteen minutes later it is 06:05 UTC (01:05 EST),
    # not 02:05 EST (07:05 UTC), which adding to the wall clock would give.
    first_one_fifty = datetime(2024, 11, 3, 1, 50, tzinfo=ZoneInfo("America/New_York"))
    state, _ = start(seed(), first_one_fifty, roster(ROSTER))
    assert state.next_at == datetime(2024, 11, 3, 6, 5, tzinfo=UTC)
    early = datetime(2024, 11, 3, 1, 4, fold=1, tzinfo=ZoneInfo("America/New_York"))
    assert due(seed(), state, early, roster(ROSTER)) == (state, [])


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda p, s, now, oc: start(p, now, oc), id="start"),
        pytest.param(due, id="due"),
        pytest.param(lambda p, s, now, oc: unacknowledge(p, acknowledge(s), now, oc), id="unack"),
    ],
)
def test_naive_times_are_refused(call: Callable[..., object]) -> None:
    state = State(0, 0, at(10, 15))
    with pytest.raises(InvalidInput, match="has no time zone offset"):
        call(seed(), state, datetime(2024, 6, 20, 10, 30), roster(ROSTER))


# --- acknowledge, unacknowledge, resolve --------------------------------------------------------


def test_an_ack_stops_escalation_at_once() -> None:
    state, _ = start(seed(), at(10, 0), roster(ROSTER))
    state = acknowledge(state)
    assert state.acknowledged and state.next_at is None
    assert due(seed(), state, at(10, 15), roster(ROSTER)) == (state, [])


def test_a_due_step_that_lost_a_race_with_an_ack_pages_nobody() -> None:
    raced = State(0, 0, at(10, 15), acknowledged=True, paged=frozenset({"alice"}))
    state, actions = due(seed(), raced, at(10, 15), roster(ROSTER))
    assert actions == []
    assert state == replace(raced, next_at=None)


def test_a_due_step_after_a_resolve_pages_nobody() -> None:
    raced = State(0, 0, at(10, 15), resolved=True)
    assert due(seed(), raced, at(10, 20), roster(ROSTER)) == (replace(raced, next_at=None), [])


def test_an_unack_restarts_at_level_one_and_pages_at_once() -> None:
    state, _ = start(seed(1), at(10, 0), roster(ROSTER))
    state, _ = due(seed(1), state, at(10, 15), roster(ROSTER))
    state, _ = due(seed(1), state, at(10, 30), roster(ROSTER))
    state, _ = due(seed(1), state, at(10, 45), roster(ROSTER))  # loop 1
    state = acknowledge(state)
    state, actions = unacknowledge(seed(1), state, at(10, 50), roster(ROSTER))
    assert actions == [
        Page(
            ("alice",),
            0,
            0,
            "unacknowledged, escalation restarts: db-oncall level 1: schedule:db-primary",
        )
    ]
    assert state == State(0, 0, at(11, 5), paged=frozenset({"alice", "bob", "erin"}))


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(State(0, 0, at(10, 15)), id="not-acknowledged"),
        pytest.param(State(0, 0, None, acknowledged=True, resolved=True), id="resolved"),
    ],
)
def test_an_unack_with_nothing_to_undo_changes_nothing(state: State) -> None:
    assert unacknowledge(seed(), state, at(10, 5), roster(ROSTER)) == (state, [])


def test_a_resolve_tells_everyone_paged_once_sorted() -> None:
    on_call = roster({"db-primary": ("zoe",), "db-secondary": ("adam",)})
    state, _ = start(seed(), at(10, 0), on_call)
    state, _ = due(seed(), state, at(10, 15), on_call)
    state = acknowledge(state)
    state, actions = resolve(state)
    assert actions == [NotifyResolved(("adam", "zoe"))]
    assert state.resolved and state.next_at is None
    assert resolve(state) == (state, [])


def test_a_resolve_with_nobody_paged_tells_nobody() -> None:
    nobody = parse_policy("p", [{"targets": ["schedule:gap"]}])
    state, _ = start(nobody, at(10, 0), roster(ROSTER))
    assert resolve(state) == (replace(state, resolved=True), [])


def test_a_policy_that_lost_levels_continues_with_what_is_left() -> None:
    # The row was written under a five-level policy; the config now has the seed's three.
    stale = State(4, 0, at(10, 15), paged=frozenset({"x"}))
    state, actions = due(seed(1), stale, at(10, 15), roster(ROSTER))
    assert [brief(a) for a in actions] == [("page", ("alice",), 0, 1)]
    state, actions = due(seed(0), stale, at(10, 15), roster(ROSTER))
    assert [brief(a) for a in actions] == [("exhausted",)]
    assert state.next_at is None


# --- properties ---------------------------------------------------------------------------------

T0 = datetime(2024, 6, 20, 10, 0, tzinfo=UTC)
USERS = ["ann", "bob", "cy", "dee"]
SCHEDULES = ["s1", "s2", "s3"]
SLOT = timedelta(minutes=30)
PROPERTIES = settings(max_examples=200, deadline=None)

targets = st.one_of(
    st.builds(Target, st.just(TargetKind.USER), st.sampled_from(USERS)),
    st.builds(Target, st.just(TargetKind.SCHEDULE), st.sampled_from(SCHEDULES)),
    st.builds(Target, st.just(TargetKind.SCHEDULE), st.sampled_from(SCHEDULES)),
)
levels = st.builds(
    Level,
    st.lists(targets, min_size=1, max_size=3).map(tuple),
    st.integers(1, 60).map(lambda m: timedelta(minutes=m)),
)
policies = st.builds(
    Policy, st.just("p"), st.lists(levels, min_size=1, max_size=4).map(tuple), st.integers(0, 2)
)
# Per schedule, who is on call in each half hour of a repeating six-hour cycle; often nobody.
rosters = st.fixed_dictionaries(
    {
        name: st.lists(st.frozensets(st.sampled_from(USERS), max_size=2), min_size=12, max_size=12)
        for name in SCHEDULES
    }
)
events = st.lists(
    st.tuples(
        st.sampled_from(["due", "due", "due", "early", "ack", "unack", "resolve"]),
        st.integers(0, 20),
    ),
    max_size=25,
)


def on_call_of(slots: dict[str, list[frozenset[str]]]) -> OnCall:
    def on_call(schedule: str, instant: datetime) -> tuple[str, ...]:
        index = (instant - T0) // SLOT % len(slots[schedule])
        return tuple(sorted(slots[schedule][index], reverse=True))

    return on_call


def expected_users(level: Level, instant: datetime, on_call: OnCall) -> list[str]:
    """Re-derive a level's users from the written rule, as an oracle."""
    out: list[str] = []
    for target in level.targets:
        names = [target.name] if target.kind is TargetKind.USER else on_call(target.name, instant)
        out += [n for n in sorted(names) if n not in out]
    return out


class Model:
    """Checks every step of an escalation against the rules, as a property test drives it."""

    def __init__(self, policy: Policy, on_call: OnCall) -> None:
        self.policy, self.on_call = policy, on_call
        self.cursor = (-1, 0)
        self.silenced = False
        self.resolved = False
        self.paged: set[str] = set()
        self.fired = 0

    def successor(self) -> tuple[int, int]:
        level, loop = self.cursor
        return (level + 1, loop) if level + 1 < len(self.policy.levels) else (0, loop + 1)

    def check(self, state: State, actions: list[Action], now: datetime) -> None:
        """Check the levels fired by one call: in order, right users, right next_at."""
        for i, action in enumerate(actions):
            if isinstance(action, Page | Skip):
                assert (action.level, action.loop) == self.successor()
                assert action.loop <= self.policy.repeat
                self.cursor = (action.level, action.loop)
                self.fired += 1
                users = expected_users(self.policy.levels[action.level], now, self.on_call)
                if isinstance(action, Page):
                    assert not self.silenced
                    assert list(action.users) == users
                    self.paged |= set(users)
                else:
                    assert users == []
            elif isinstance(action, Exhausted):
                assert i == len(actions) - 1
                assert self.cursor == (len(self.policy.levels) - 1, self.policy.repeat)
        assert state.paged == self.paged
        last = next((a for a in reversed(actions) if isinstance(a, Page)), None)
        if actions and isinstance(actions[-1], Exhausted):
            assert state.next_at is None
        elif last is not None:
            assert state.next_at == now + self.policy.levels[last.level].delay


@PROPERTIES
@given(policy=policies, slots=rosters, steps=events)
def test_escalation_follows_the_rules_whatever_happens(
    policy: Policy, slots: dict[str, list[frozenset[str]]], steps: list[tuple[str, int]]
) -> None:
    on_call = on_call_of(slots)
    model = Model(policy, on_call)
    now = T0
    state, actions = start(policy, now, on_call)
    model.check(state, actions, now)
    for kind, minutes in steps:
        if kind == "due":
            # The engine's tick: at next_at or a little late, or at some time when nothing is due.
            now = max(now, state.next_at or now) + timedelta(minutes=minutes)
            before = state
            state, actions = due(policy, state, now, on_call)
            if any(isinstance(a, Page | Skip) for a in actions):
                assert before.next_at is not None and now >= before.next_at  # never early
            model.check(state, actions, now)
        elif kind == "early":
            if state.next_at is not None and now < state.next_at:
                now = min(now + timedelta(minutes=minutes), state.next_at - timedelta(seconds=1))
                assert due(policy, state, now, on_call) == (state, [])
        elif kind == "ack":
            now += timedelta(minutes=minutes)
            state = acknowledge(state)
            model.silenced = True
            assert state.next_at is None
        elif kind == "unack":
            now += timedelta(minutes=minutes)
            was = state
            state, actions = unacknowledge(policy, state, now, on_call)
            if was.acknowledged and not was.resolved:
                model.silenced, model.cursor = False, (-1, 0)
                assert actions
            else:
                assert (state, actions) == (was, [])
            model.check(state, actions, now)
        else:
            now += timedelta(minutes=minutes)
            state, notices = resolve(state)
            if model.resolved:
                assert notices == []
            elif model.paged:
                assert notices == [NotifyResolved(tuple(sorted(model.paged)))]
            else:
                assert notices == []
            model.silenced = model.resolved = True
            assert state.next_at is None


@PROPERTIES
@given(policy=policies, slots=rosters, lateness=st.lists(st.integers(0, 30), max_size=30))
def test_without_an_ack_every_level_of_every_pass_fires_or_is_skipped_once(
    policy: Policy, slots: dict[str, list[frozenset[str]]], lateness: list[int]
) -> None:
    on_call = on_call_of(slots)
    model = Model(policy, on_call)
    now = T0
    state, actions = start(policy, now, on_call)
    model.check(state, actions, now)
    everything = list(actions)
    late = iter(lateness)
    while state.next_at is not None:
        now = state.next_at + timedelta(minutes=next(late, 0))
        state, actions = due(policy, state, now, on_call)
        assert actions, "a due level always fires"
        model.check(state, actions, now)
        everything += actions
    pages = sum(isinstance(a, Page) for a in everything)
    skips = sum(isinstance(a, Skip) for a in everything)
    positions = len(policy.levels) * (policy.repeat + 1)
    assert pages == positions - skips
    assert model.fired == positions
    assert [a for a in everything if isinstance(a, Exhausted)] == [everything[-1]]
