"""Public maintenance decided from values: its stage, the page's sections, history, the feed, and
what subscribers are due to hear."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tocsin.core.incident import PublicStatus
from tocsin.core.statuspage import (
    Component,
    ComponentState,
    IncidentFacts,
    MaintenanceFacts,
    MaintenanceStage,
    Notified,
    PublicUpdate,
    build,
    feed,
    maintenance_entries,
    next_notice_at,
    notice_due,
    stage,
    window_text,
)

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
WEB = Component("web", "Website", "", frozenset({"web"}))
DB = Component("db", "Database", "", frozenset({"database"}))


def works(
    id: int = 1,
    *,
    start: datetime = NOW + H,
    end: datetime = NOW + 2 * H,
    announced: datetime = NOW - H,
    cancelled: datetime | None = None,
    components: tuple[str, ...] = ("db",),
    title: str = "Database upgrade",
) -> MaintenanceFacts:
    return MaintenanceFacts(
        id=id,
        title=title,
        message="Writes pause for a minute.",
        components=components,
        start=start,
        end=end,
        announced_at=announced,
        cancelled_at=cancelled,
    )


@pytest.mark.parametrize(
    ("facts", "at", "expected"),
    [
        pytest.param(works(), NOW, MaintenanceStage.SCHEDULED, id="ahead"),
        pytest.param(works(), NOW + H, MaintenanceStage.IN_PROGRESS, id="at-its-start"),
        pytest.param(works(), NOW + 2 * H - timedelta(seconds=1), "in_progress", id="last-second"),
        pytest.param(works(), NOW + 2 * H, MaintenanceStage.COMPLETED, id="at-its-end"),
        pytest.param(works(cancelled=NOW), NOW, MaintenanceStage.CANCELLED, id="cancelled-ahead"),
        pytest.param(
            works(start=NOW - H, cancelled=NOW), NOW + 5 * H, "cancelled", id="cancelled-during"
        ),
    ],
)
def test_stage(facts: MaintenanceFacts, at: datetime, expected: str) -> None:
    assert stage(facts, at) == expected


def test_labels_are_what_customers_read() -> None:
    assert [s.label for s in MaintenanceStage] == [
        "Scheduled",
        "In progress",
        "Completed",
        "Cancelled",
    ]


def test_times_are_utc_and_say_so() -> None:
    berlin = timedelta(hours=2)
    start = datetime(2024, 6, 22, 0, 0, tzinfo=timezone(berlin))  # 22:00 UTC the day before
    assert (
        window_text(start, start + 90 * timedelta(minutes=1)) == "2024-06-21 22:00\u201323:30 UTC"
    )
    assert window_text(start, start + 5 * H) == "2024-06-21 22:00 UTC \u2013 2024-06-22 03:00 UTC"


@pytest.mark.parametrize(
    ("facts", "told", "at", "due"),
    [
        pytest.param(works(), "", NOW, Notified.ANNOUNCED, id="announce-ahead"),
        pytest.param(works(start=NOW), "", NOW, Notified.STARTED, id="announced-as-it-starts"),
        pytest.param(works(), "announced", NOW, None, id="already-announced"),
        pytest.param(works(), "announced", NOW + H, Notified.STARTED, id="start"),
        pytest.param(works(), "started", NOW + H, None, id="started-told"),
        pytest.param(works(), "started", NOW + 2 * H, Notified.COMPLETED, id="end"),
        pytest.param(
            works(), "announced", NOW + 3 * H, Notified.COMPLETED, id="engine-down-through-it"
        ),
        pytest.param(works(), "completed", NOW + 3 * H, None, id="all-told"),
        pytest.param(works(cancelled=NOW), "announced", NOW, Notified.CANCELLED, id="cancel"),
        pytest.param(works(cancelled=NOW), "cancelled", NOW, None, id="cancel-told"),
        pytest.param(works(cancelled=NOW), "", NOW, None, id="cancelled-unheard-of"),
    ],
)
def test_what_subscribers_are_due_to_hear(
    facts: MaintenanceFacts, told: str, at: datetime, due: Notified | None
) -> None:
    assert notice_due(facts, told, at) == due


def test_the_next_notice_falls_due_at_each_stage() -> None:
    facts = works()
    assert next_notice_at(facts, "") == facts.announced_at
    assert next_notice_at(facts, "announced") == facts.start
    assert next_notice_at(facts, "started") == facts.end
    assert next_notice_at(facts, "completed") is None
    assert next_notice_at(works(cancelled=NOW), "started") == NOW
    assert next_notice_at(works(cancelled=NOW), "cancelled") is None


def test_the_page_lists_scheduled_and_running_maintenance_soonest_first() -> None:
    later = works(1, start=NOW + 5 * H, end=NOW + 6 * H, title="Later")
    running = works(2, start=NOW - H, end=NOW + H, title="Running", components=("web",))
    sooner = works(3, start=NOW + H, end=NOW + 2 * H, title="Sooner")
    done = works(4, start=NOW - 3 * H, end=NOW - 2 * H, title="Done")
    dropped = works(5, cancelled=NOW - timedelta(minutes=5), title="Dropped")
    page = build([WEB, DB], [], [], now=NOW, announced=[later, running, sooner, done, dropped])
    assert [(m.title, m.stage.label) for m in page.maintenance] == [
        ("Running", "In progress"),
        ("Sooner", "Scheduled"),
        ("Later", "Scheduled"),
    ]
    assert page.maintenance[0].components == ("Website",)
    # Completed maintenance is history on its day; one cancelled before its start never was.
    assert [(day, [m.title for m in found]) for day, found in page.past_maintenance] == [
        (NOW.date(), ["Done"])
    ]
    assert [c.state for c in page.components] == [
        ComponentState.UNDER_MAINTENANCE,
        ComponentState.OPERATIONAL,
    ]
    assert page.banner == "Scheduled maintenance in progress"
    # The database's day shows the completed maintenance; the scheduled ones mark nothing yet.
    assert page.components[1].days[-1][1] is ComponentState.UNDER_MAINTENANCE


def test_an_incident_that_is_worse_wins_over_maintenance() -> None:
    running = works(start=NOW - H, end=NOW + H)
    outage = IncidentFacts(
        number=7,
        public_title="Slow queries",
        severity_rank=3,
        is_open=True,
        services=frozenset({"database"}),
        started_at=NOW - timedelta(minutes=10),
        resolved_at=None,
        updates=(PublicUpdate(NOW - timedelta(minutes=10), PublicStatus.INVESTIGATING, "Slow"),),
    )
    page = build([WEB, DB], [outage], [], now=NOW, announced=[running])
    assert page.components[1].state is ComponentState.DEGRADED_PERFORMANCE
    assert [m.stage for m in page.maintenance] == [MaintenanceStage.IN_PROGRESS]


def test_history_days_hold_incidents_and_maintenance_together() -> None:
    yesterday = works(1, start=NOW - 26 * H, end=NOW - 25 * H, announced=NOW - 48 * H)
    stopped = works(2, start=NOW - 3 * H, end=NOW + H, cancelled=NOW - 2 * H, title="Stopped")
    over = IncidentFacts(
        number=3,
        public_title="Errors",
        severity_rank=2,
        is_open=False,
        services=frozenset({"web"}),
        started_at=NOW - 4 * H,
        resolved_at=NOW - 3 * H,
        updates=(PublicUpdate(NOW - 4 * H, PublicStatus.RESOLVED, "Fixed"),),
    )
    page = build([WEB, DB], [over], [], now=NOW, announced=[yesterday, stopped])
    days = [
        (day, [i.number for i in found], [(m.title, m.stage.label) for m in done])
        for day, found, done in page.days
    ]
    assert days == [
        (NOW.date(), [3], [("Stopped", "Cancelled")]),
        (NOW.date() - timedelta(days=1), [], [("Database upgrade", "Completed")]),
    ]
    # Cancelled part way: it ran until its cancellation, and the database is back now.
    assert page.components[1].state is ComponentState.OPERATIONAL


def test_each_stage_is_a_feed_entry_at_its_time() -> None:
    facts = works()
    stages = [(e.title, e.at, e.path, e.key) for e in maintenance_entries(facts, [DB], now=NOW)]
    assert stages == [
        ("Database upgrade: Scheduled", NOW - H, "/status/maintenance/1", "scheduled")
    ]
    after = maintenance_entries(facts, [DB], now=NOW + 3 * H)
    assert [(e.key, e.at) for e in after] == [
        ("scheduled", NOW - H),
        ("in_progress", NOW + H),
        ("completed", NOW + 2 * H),
    ]
    assert "2024-06-20 13:00\u201314:00 UTC" in after[0].text
    assert "Affects Database." in after[0].text
    assert "Writes pause for a minute." in after[0].text


def test_feed_entries_of_a_cancellation_and_of_one_announced_as_it_starts() -> None:
    dropped = works(cancelled=NOW)
    assert [e.key for e in maintenance_entries(dropped, [DB], now=NOW)] == [
        "scheduled",
        "cancelled",
    ]
    at_once = works(start=NOW - H, announced=NOW - H, end=NOW + H)
    assert [(e.key, e.at) for e in maintenance_entries(at_once, [DB], now=NOW)] == [
        ("in_progress", NOW - H)
    ]


def test_the_feed_mixes_updates_and_maintenance_newest_first() -> None:
    update = IncidentFacts(
        number=9,
        public_title="Errors",
        severity_rank=2,
        is_open=True,
        services=frozenset({"web"}),
        started_at=NOW - timedelta(minutes=30),
        resolved_at=None,
        updates=(PublicUpdate(NOW - timedelta(minutes=30), PublicStatus.IDENTIFIED, "Found it"),),
    )
    entries = feed([update], [works()], [WEB, DB], now=NOW)
    assert [(e.title, e.path) for e in entries] == [
        ("Errors: Identified", "/status/incidents/9"),
        ("Database upgrade: Scheduled", "/status/maintenance/1"),
    ]
    assert entries[0].key == "2024-06-20T11:30:00Z"  # the id feed readers already hold
    assert len(feed([update], [works()], [WEB, DB], now=NOW, limit=1)) == 1
