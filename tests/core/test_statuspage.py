"""The status page decided from public facts: states, current incidents, history, the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.incident import PublicStatus
from tocsin.core.statuspage import (
    Component,
    ComponentState,
    IncidentFacts,
    Maintenance,
    PublicUpdate,
    build,
    feed_entries,
    public,
    state_for_rank,
)

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
WEB = Component("web", "Website", "", frozenset({"web", "cdn"}))
API = Component("api", "Public API", "", frozenset({"api"}))
DB = Component("db", "Database", "", frozenset({"database"}))


def incident(
    number: int = 1,
    *,
    rank: int = 1,
    services: tuple[str, ...] = ("api",),
    updates: tuple[tuple[int, PublicStatus], ...] = ((0, PublicStatus.INVESTIGATING),),
    is_open: bool = True,
    started: datetime = NOW - timedelta(minutes=30),
    resolved: datetime | None = None,
    title: str | None = None,
    drill: bool = False,
) -> IncidentFacts:
    return IncidentFacts(
        number=number,
        public_title=title,
        severity_rank=rank,
        is_open=is_open,
        services=frozenset(services),
        started_at=started,
        resolved_at=resolved,
        updates=tuple(
            PublicUpdate(started + timedelta(minutes=m), status, f"update at +{m}m")
            for m, status in updates
        ),
        is_drill=drill,
    )


@pytest.mark.parametrize(
    ("rank", "state"),
    [
        pytest.param(1, ComponentState.MAJOR_OUTAGE, id="highest"),
        pytest.param(2, ComponentState.PARTIAL_OUTAGE, id="second"),
        pytest.param(3, ComponentState.DEGRADED_PERFORMANCE, id="third"),
        pytest.param(4, ComponentState.DEGRADED_PERFORMANCE, id="lowest"),
    ],
)
def test_severity_maps_to_a_component_state(rank: int, state: ComponentState) -> None:
    assert state_for_rank(rank) is state


@pytest.mark.parametrize(
    ("facts", "maintenance", "states", "banner"),
    [
        pytest.param([], [], ["operational"] * 3, "All systems operational", id="quiet"),
        pytest.param(
            [incident(updates=())],
            [],
            ["operational"] * 3,
            "All systems operational",
            id="unpublished-incidents-do-not-show",
        ),
        pytest.param(
            [incident(rank=2)],
            [],
            ["operational", "partial_outage", "operational"],
            "Partial system outage",
            id="one-component",
        ),
        pytest.param(
            [
                incident(rank=3, services=("cdn", "database")),
                incident(2, rank=1, services=("api",)),
            ],
            [],
            ["degraded_performance", "major_outage", "degraded_performance"],
            "Major system outage",
            id="worst-wins-overall",
        ),
        pytest.param(
            [incident(rank=3, services=("api",)), incident(2, rank=2, services=("api",))],
            [],
            ["operational", "partial_outage", "operational"],
            "Partial system outage",
            id="worst-wins-per-component",
        ),
        pytest.param(
            [incident(updates=((0, PublicStatus.INVESTIGATING), (9, PublicStatus.RESOLVED)))],
            [],
            ["operational"] * 3,
            "All systems operational",
            id="publicly-resolved",
        ),
        pytest.param(
            [incident(is_open=False, resolved=NOW - timedelta(minutes=5))],
            [],
            ["operational"] * 3,
            "All systems operational",
            id="resolved-inside-before-the-public-said-so",
        ),
        pytest.param(
            [incident(drill=True)],
            [],
            ["operational"] * 3,
            "All systems operational",
            id="drills-never-show",
        ),
        pytest.param(
            [],
            [
                Maintenance(
                    frozenset({"database"}), NOW - timedelta(hours=1), NOW + timedelta(hours=1)
                )
            ],
            ["operational", "operational", "under_maintenance"],
            "Scheduled maintenance in progress",
            id="maintenance",
        ),
        pytest.param(
            [],
            [
                Maintenance(
                    frozenset({"database"}), NOW + timedelta(hours=1), NOW + timedelta(hours=2)
                )
            ],
            ["operational"] * 3,
            "All systems operational",
            id="future-maintenance",
        ),
        pytest.param(
            [incident(rank=3, services=("database",))],
            [
                Maintenance(
                    frozenset({"database"}), NOW - timedelta(hours=1), NOW + timedelta(hours=1)
                )
            ],
            ["operational", "operational", "degraded_performance"],
            "Degraded performance",
            id="an-incident-outranks-maintenance",
        ),
        pytest.param(
            [incident(rank=2, services=("billing",))],
            [],
            ["operational"] * 3,
            "Partial system outage",
            id="an-incident-on-no-component-still-shows",
        ),
    ],
)
def test_component_states_and_banner(
    facts: list[IncidentFacts], maintenance: list[Maintenance], states: list[str], banner: str
) -> None:
    page = build([WEB, API, DB], facts, maintenance, now=NOW)
    assert [c.state.value for c in page.components] == states
    assert page.banner == banner


def test_public_title_never_falls_back_to_the_internal_one() -> None:
    facts = incident(services=("api", "cdn"))
    assert public(facts, [WEB, API, DB]).title == "Incident affecting Website, Public API"  # type: ignore[union-attr]
    titled = incident(title="Slow checkout")
    assert public(titled, [WEB, API, DB]).title == "Slow checkout"  # type: ignore[union-attr]
    nowhere = incident(services=("billing",))
    assert public(nowhere, [WEB, API, DB]).title == "Service incident"  # type: ignore[union-attr]
    assert public(incident(updates=()), [API]) is None


def test_updates_are_newest_first_and_current_incidents_worst_first() -> None:
    minor = incident(
        1, rank=3, updates=((0, PublicStatus.INVESTIGATING), (5, PublicStatus.IDENTIFIED))
    )
    major = incident(2, rank=1, started=NOW - timedelta(minutes=10))
    page = build([API], [minor, major], [], now=NOW)
    assert [p.number for p in page.current] == [2, 1]
    assert [u.message for u in page.current[1].updates] == ["update at +5m", "update at +0m"]
    assert page.current[1].status is PublicStatus.IDENTIFIED


def test_ninety_days_of_history_per_component() -> None:
    old = incident(
        1,
        rank=2,
        started=NOW - timedelta(days=3, hours=1),
        is_open=False,
        resolved=NOW - timedelta(days=1, hours=23),
        updates=((0, PublicStatus.INVESTIGATING), (60, PublicStatus.RESOLVED)),
    )
    too_old = incident(
        2, started=NOW - timedelta(days=120), is_open=False, resolved=NOW - timedelta(days=119)
    )
    page = build([API], [old, too_old], [], now=NOW)
    days = page.components[0].days
    assert len(days) == 90
    assert days[0][0] == NOW.date() - timedelta(days=89)
    assert days[-1] == (NOW.date(), ComponentState.OPERATIONAL)
    marked = [(d.isoformat(), s.value) for d, s in days if s is not ComponentState.OPERATIONAL]
    # Resolved by the public update an hour in: only its start day is marked.
    assert marked == [("2024-06-17", "partial_outage")]
    assert [(day.isoformat(), [i.number for i in found]) for day, found in page.history] == [
        ("2024-06-17", [1])
    ]


def test_a_long_open_incident_marks_every_day_until_now() -> None:
    long = incident(started=NOW - timedelta(days=2), updates=((0, PublicStatus.MONITORING),))
    days = build([API], [long], [], now=NOW).components[0].days
    assert [s.value for _, s in days[-3:]] == ["major_outage"] * 3
    assert days[-4][1] is ComponentState.OPERATIONAL


def test_the_feed_is_every_public_update_newest_first() -> None:
    a = incident(1, updates=((0, PublicStatus.INVESTIGATING), (20, PublicStatus.RESOLVED)))
    b = incident(2, started=NOW - timedelta(minutes=25), updates=((0, PublicStatus.IDENTIFIED),))
    hidden = incident(3, updates=())
    entries = feed_entries([a, b, hidden], [API])
    assert [(i.number, u.message) for i, u in entries] == [
        (1, "update at +20m"),
        (2, "update at +0m"),
        (1, "update at +0m"),
    ]
    assert len(feed_entries([a, b], [API], limit=1)) == 1


def test_an_open_incident_is_current_and_not_yet_history() -> None:
    # Seen in the browser: an open incident listed under "Current incidents" and again under
    # "Past incidents" for the same day.
    open_ = incident(1, started=NOW - timedelta(hours=2))
    over = incident(
        2,
        started=NOW - timedelta(hours=3),
        updates=((0, PublicStatus.INVESTIGATING), (30, PublicStatus.RESOLVED)),
    )
    page = build([API], [open_, over], [], now=NOW)
    assert [p.number for p in page.current] == [1]
    assert [(day, [i.number for i in found]) for day, found in page.history] == [(NOW.date(), [2])]
