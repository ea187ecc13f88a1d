"""Escalation end to end on a controllable clock: pages reach a real HTTP receiver, level by level.

No sleeps decide anything here: the clock is moved by hand and the engine is run once per step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.receivers import PageReceiver
from tocsin import config
from tocsin.app import DUE_WORK, session_info
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.engine.outbox import Sender, adapter_factory
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store.models import Escalation, Notification

T0 = datetime(2024, 6, 19, 10, 0, tzinfo=UTC)  # a Wednesday


def people(receiver: PageReceiver, handles: list[str]) -> str:
    """Return the `users:` entries of people whose pages reach `receiver` at /HANDLE."""
    return "\n".join(
        f"""  - handle: {p}
    time_zone: America/New_York
    contact_methods:
      - {{name: hook, type: webhook, url: "{receiver.url}/{p}", secret: secret-{p}}}"""
        for p in handles
    )


def setup(sessions: sessionmaker[Session], receiver: PageReceiver, *, repeat: int = 0) -> None:
    users = people(receiver, ["alice", "bob", "erin"])
    text = f"""
users:
{users}
schedules:
  - name: db-primary
    time_zone: UTC
    layers: [{{name: a, rotation: 1 week, start: 2024-01-01T00:00, participants: [alice]}}]
  - name: db-secondary
    time_zone: UTC
    layers: [{{name: b, rotation: 1 week, start: 2024-01-01T00:00, participants: [bob]}}]
escalation_policies:
  - name: db-oncall
    repeat: {repeat}
    levels:
      - {{targets: ["schedule:db-primary"], delay: 15m}}
      - {{targets: ["schedule:db-secondary"], delay: 15m}}
      - {{targets: ["user:erin"]}}
services:
  - {{slug: database, name: Database, escalation_policy: db-oncall}}
"""
    with sessions() as session, session.begin():
        applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)


def engine_for(sessions: sessionmaker[Session], clock: FixedClock) -> Engine:
    sender = Sender(sessions, clock, adapter_factory(Settings()), base_url="https://tocsin.test")
    return Engine(sessions, clock, DUE_WORK, sender=sender)


def declare(sessions: sessionmaker[Session], clock: FixedClock, severity: str = "SEV-1") -> None:
    with sessions() as session, session.begin():
        incidents.declare(
            session,
            title="Primary down",
            severity=severity,
            services=["database"],
            actor="alertmanager",
            now=clock.now(),
        )


def test_the_seed_policy_pages_level_by_level_until_acknowledged(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    # next: the SEV-1 reminder that nobody has taken command (5 min), then level 2 (15 min)
    assert engine.run_once() == T0 + timedelta(minutes=5)
    assert receiver.who() == ["alice"]
    page = receiver.pages[0]
    assert page["subject"] == "[SEV-1] INC-1 database: Primary down"
    assert page["url"] == "https://tocsin.test/incidents/INC-1"
    assert "Acknowledge: tocsin incident ack INC-1" in str(page["text"])
    assert page["key_header"] == page["idempotency_key"]

    clock.advance(minutes=14, seconds=59)
    engine.run_once()
    assert receiver.who() == ["alice"]  # not yet
    clock.advance(seconds=1)
    engine.run_once()
    assert receiver.who() == ["alice", "bob"]
    with sessions() as session, session.begin():
        incidents.acknowledge(session, "INC-1", actor="bob", now=clock.now())
    clock.advance(hours=2)
    engine.run_once()
    assert receiver.who() == ["alice", "bob"]  # never paged after the ack
    with sessions() as session:
        [row] = session.query(Escalation).all()
        assert (row.acknowledged, row.next_at) == (True, None)

    with sessions() as session, session.begin():
        incidents.resolve(session, "INC-1", message="failed over", actor="bob", now=clock.now())
    engine.run_once()
    resolved = receiver.pages[2:]
    assert sorted(p["to"] for p in resolved) == ["alice", "bob"]
    assert all(str(p["subject"]).startswith("[RESOLVED] INC-1") for p in resolved)
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Paging alice (db-oncall level 1: schedule:db-primary) via hook" in timeline
    assert "Paging bob (db-oncall level 2: schedule:db-secondary) via hook" in timeline
    assert timeline.count("Notified alice via hook") == 1
    assert "Notified bob via hook (resolved notice)" in timeline


def test_repeat_and_exhaustion(sessions: sessionmaker[Session], receiver: PageReceiver) -> None:
    setup(sessions, receiver, repeat=1)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    for _ in range(7):
        engine.run_once()
        clock.advance(minutes=15)
    assert receiver.who() == ["alice", "bob", "erin", "alice", "bob", "erin"]
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert (
        timeline.count(
            "db-oncall has run out after 2 passes: every level fired and nobody acknowledged"
        )
        == 1
    )
    assert "Paging alice (db-oncall level 1 (repeat 1 of 1): schedule:db-primary) via hook" in (
        timeline
    )


def test_a_race_between_a_due_step_and_an_ack_pages_nobody(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    # the level-1 page is written but not yet sent when alice acknowledges
    with sessions() as session, session.begin():
        incidents.acknowledge(session, "INC-1", actor="alice", now=clock.now())
    clock.advance(minutes=30)
    engine.run_once()
    assert receiver.pages == []
    with sessions() as session:
        statuses = [n.status for n in session.query(Notification)]
    assert statuses == ["cancelled"]


def test_temporary_failures_retry_with_the_same_key(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    receiver.status = 503
    engine.run_once()
    receiver.status = 200
    assert len(receiver.pages) == 1  # tried once, refused
    clock.advance(seconds=5)  # the first backoff
    engine.run_once()
    assert len(receiver.pages) == 2
    assert receiver.pages[0]["idempotency_key"] == receiver.pages[1]["idempotency_key"]
    with sessions() as session:
        [row] = session.query(Notification).all()
        assert (row.status, row.attempts) == ("sent", 2)


def test_a_dead_senders_claim_runs_out_and_the_page_still_goes(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    declare(sessions, clock)
    dead = Sender(sessions, clock, adapter_factory(Settings()), node="dead")
    claimed, _ = dead.claim()  # claims, then "dies" before sending
    assert len(claimed) == 1
    alive = Sender(sessions, clock, adapter_factory(Settings()), node="alive")
    assert alive.run_once() == 0  # the claim still holds
    clock.advance(seconds=11)  # nobody renewed it: it ran out after 10 s, not the 60 s setting
    assert alive.run_once() == 1
    assert receiver.who() == ["alice"]


def test_sev4_waits_for_the_next_business_morning(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    friday_night = datetime(2024, 6, 21, 23, 0, tzinfo=UTC)  # 19:00 in New York
    clock = FixedClock(friday_night)
    engine = engine_for(sessions, clock)
    declare(sessions, clock, severity="SEV-4")
    engine.run_once()
    assert receiver.pages == []
    with sessions() as session:
        [row] = session.query(Notification).all()
        # Monday 09:00 in New York (EDT, UTC-4)
        assert row.due_at == datetime(2024, 6, 24, 13, 0, tzinfo=UTC)


def test_reminders_for_a_missing_commander_and_an_overdue_update(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    with sessions() as session, session.begin():
        from tocsin.store import services

        services.update(
            session, services.get_by_slug(session, "database"), incident_commander="user:erin"
        )
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    clock.advance(minutes=5)
    engine.run_once()
    assert receiver.who() == ["alice", "erin"]
    assert receiver.pages[1]["subject"] == "[SEV-1] INC-1 has no incident commander after 5 min"
    with sessions() as session, session.begin():
        incidents.assign(session, "INC-1", "bob", actor="bob", now=clock.now())
    clock.advance(minutes=10)  # 15 min since declared: the first public update is overdue
    engine.run_once()
    assert receiver.who()[-1] == "bob"  # the IC hears it
    assert receiver.pages[-1]["subject"] == "[SEV-1] INC-1: a public status update is due"
    with sessions() as session, session.begin():
        incidents.post_update(
            session,
            "INC-1",
            "We are failing over",
            visibility="public",
            actor="bob",
            now=clock.now(),
        )
    clock.advance(minutes=14)
    engine.run_once()
    assert len(receiver.pages) == 3  # the update reset the cadence
    clock.advance(minutes=1)
    engine.run_once()
    assert len(receiver.pages) == 4
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Reminder: no incident commander after 5 min; notified erin" in timeline
    assert (
        timeline.count(
            "Reminder: public status update overdue (SEV-1: every 15 minutes); notified bob"
        )
        == 2
    )


def test_a_sev1_tells_the_stakeholders_once(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    with sessions() as session, session.begin():
        from tocsin.store import users

        users.get_by_handle(session, "erin").stakeholder = True
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock, severity="SEV-2")
    engine.run_once()
    assert receiver.who() == ["alice"]
    with sessions() as session, session.begin():
        incidents.change_severity(
            session, "INC-1", "SEV-1", reason="all regions", actor="alice", now=clock.now()
        )
    engine.run_once()
    assert receiver.who() == ["alice", "erin"]
    assert "INCIDENT NOTIFICATION" in str(receiver.pages[1]["text"])
    with sessions() as session, session.begin():
        incidents.change_severity(
            session, "INC-1", "SEV-2", reason="EU only", actor="a", now=clock.now()
        )
        incidents.change_severity(
            session, "INC-1", "SEV-1", reason="again", actor="a", now=clock.now()
        )
    engine.run_once()
    assert receiver.who() == ["alice", "erin"]  # told once per incident


def test_a_page_claimed_before_an_ack_is_withdrawn_not_sent(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    declare(sessions, clock)
    slow = Sender(sessions, clock, adapter_factory(Settings()), node="slow")
    assert len(slow.claim()[0]) == 1  # claimed: the ack below cannot cancel it as pending
    with sessions() as session, session.begin():
        incidents.acknowledge(session, "INC-1", actor="alice", now=clock.now())
    clock.advance(seconds=61)
    other = Sender(sessions, clock, adapter_factory(Settings()), node="other")
    other.run_once()
    assert receiver.pages == []
    with sessions() as session:
        [row] = session.query(Notification).all()
        assert (row.status, row.last_error) == ("cancelled", "acknowledged before sending")


def test_a_level_with_nobody_on_call_is_skipped_at_once(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    with sessions() as session, session.begin():
        from tocsin.store import schedules

        primary = schedules.get_by_name(session, "db-primary")
        primary.layers[0].start = "2030-01-01T00:00"  # nobody on call until 2030: a gap
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    assert receiver.who() == ["bob"]  # level 2 at once, not after 15 minutes
    with sessions() as session:
        timeline = [e.message for e in incidents.get(session, "INC-1").events]
    assert "Skipped db-oncall level 1: nobody is on call on schedule:db-primary" in timeline


def test_the_one_click_ack_link_confirms_then_acknowledges(
    sessions: sessionmaker[Session], receiver: PageReceiver, db_url: str
) -> None:
    from fastapi.testclient import TestClient

    from tocsin.server import create_app

    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    ack_url = str(receiver.pages[0]["ack_url"])
    assert ack_url.startswith("https://tocsin.test/ack/")
    assert f"Acknowledge in one click: {ack_url}" in str(receiver.pages[0]["text"])
    path = ack_url.removeprefix("https://tocsin.test")
    app = create_app(Settings(database_url=db_url), clock=clock, run_engine=False)
    with TestClient(app) as client:
        shown = client.get(path)
        assert shown.status_code == 200
        assert "Acknowledge INC-1?" in shown.text and "@alice" in shown.text
        with sessions() as session:
            assert incidents.get(session, "INC-1").acknowledged_at is None  # a GET never acts
        done = client.post(path)
        assert done.status_code == 200 and "Acknowledged INC-1" in done.text
        forged = client.post(path[:-3] + "AAA")
        assert forged.status_code == 400 and "not valid" in forged.text
        clock.advance(hours=25)
        expired = client.get(path)
        assert expired.status_code == 400 and "expired" in expired.text
    app.state.engine.dispose()
    with sessions() as session:
        incident = incidents.get(session, "INC-1")
        assert incident.acknowledged_at == T0
        assert incident.events[-1].message == "Acknowledged by alice"


def test_a_throttled_method_bundles_what_waits(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    setup(sessions, receiver)
    with sessions() as session, session.begin():
        from tocsin.store import services, users
        from tocsin.store.models import ContactMethod

        method = (
            session.query(ContactMethod)
            .filter_by(user_id=users.get_by_handle(session, "alice").id)
            .one()
        )
        method.throttle_seconds = 60
        for slug in ("web", "api"):
            services.create(session, slug=slug, now=T0)
            services.update(
                session, services.get_by_slug(session, slug), escalation_policy="db-oncall"
            )
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    assert len(receiver.pages) == 1
    clock.advance(seconds=10)
    with sessions() as session, session.begin():
        for slug in ("web", "api"):
            incidents.declare(
                session,
                title=f"{slug} down",
                severity="SEV-2",
                services=[slug],
                actor="t",
                now=clock.now(),
            )
    engine.run_once()
    assert len(receiver.pages) == 1  # held: alice heard from Tocsin 10 seconds ago
    clock.advance(seconds=50)
    engine.run_once()
    assert len(receiver.pages) == 2
    bundle = receiver.pages[1]
    assert str(bundle["subject"]).startswith("2 notifications: ")
    assert sorted(ref_of(i) for i in bundle["items"]) == ["INC-2", "INC-3"]  # type: ignore[attr-defined]


def ref_of(text: str) -> str:
    import re

    found = re.search(r"INC-\d+", text)
    assert found is not None
    return found.group(0)


def test_pages_come_from_the_page_template_which_a_deployment_can_override(
    sessions: sessionmaker[Session],
    receiver: PageReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup(sessions, receiver)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    declare(sessions, clock)
    engine.run_once()
    assert str(receiver.pages[0]["text"]).startswith(
        "Severity: SEV-1 (Complete outage, all users affected)\n"
        "Service: database\n"
        "Summary: Primary down\n"
        "Incident: INC-1, in #incident-database\n"
    )
    (tmp_path / "page.txt.j2").write_text("{{ ref }} needs you: {{ summary }}\n")
    # the deployment's template folder, as the composition root binds it to every session
    sessions.configure(info=session_info(tmp_path))
    clock.advance(minutes=15)
    engine.run_once()
    assert str(receiver.pages[-1]["text"]).startswith("INC-1 needs you: Primary down\n")


def test_an_alert_pages_the_on_call_user_of_the_right_schedule(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    from tocsin.core.alerts import AlertAction, AlertEvent
    from tocsin.services import alerts
    from tocsin.store import integrations, schedules

    setup(sessions, receiver)
    with sessions() as session, session.begin():
        # bob takes over db-primary from Wednesday noon: the page must follow the schedule
        schedules.add_override(
            session,
            "db-primary",
            user="bob",
            start=datetime(2024, 6, 19, 12, 0, tzinfo=UTC),
            end=datetime(2024, 6, 20, 12, 0, tzinfo=UTC),
            actor="bob",
            now=T0,
        )
        integration, _ = integrations.create(
            session, service="database", type="alertmanager", now=T0
        )
    clock = FixedClock(datetime(2024, 6, 19, 13, 0, tzinfo=UTC))
    engine = engine_for(sessions, clock)
    with sessions() as session, session.begin():
        event = AlertEvent(
            AlertAction.TRIGGER,
            "fp1",
            summary="DatabasePrimaryDown",
            severity="critical",
            raw_severity="critical",
        )
        [result] = alerts.ingest(session, session.merge(integration), [event], now=clock.now())
    assert result.incident == "INC-1"
    engine.run_once()
    assert receiver.who() == ["bob"]  # the override's user, not alice
    assert receiver.pages[0]["subject"] == "[SEV-1] INC-1 database: DatabasePrimaryDown"


def test_a_page_links_the_runbook_scenario_the_alert_names(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    from tocsin.core.alerts import AlertAction, AlertEvent
    from tocsin.services import alerts
    from tocsin.store import integrations

    setup(sessions, receiver)
    with sessions() as session, session.begin():
        integration, _ = integrations.create(session, service="database", type="generic", now=T0)
        event = AlertEvent(
            AlertAction.TRIGGER,
            "k",
            summary="Primary down",
            severity="critical",
            raw_severity="critical",
            details={"runbook": "database#primary-down"},
        )
        alerts.ingest(session, integration, [event], now=T0)
    clock = FixedClock(T0)
    engine_for(sessions, clock).run_once()
    page = receiver.pages[0]
    assert page["runbook_url"] == (
        "https://tocsin.test/api/v1/services/database/runbook#primary-down"
    )
    assert f"Runbook: {page['runbook_url']}" in str(page["text"])


def test_an_alert_with_a_commander_by_policy_still_pages(
    sessions: sessionmaker[Session], receiver: PageReceiver
) -> None:
    from tocsin.core.alerts import AlertAction, AlertEvent
    from tocsin.services import alerts
    from tocsin.store import integrations, services

    setup(sessions, receiver)
    with sessions() as session, session.begin():
        services.update(
            session,
            services.get_by_slug(session, "database"),
            incident_commander="schedule:db-primary",
        )
        hook, _ = integrations.create(session, service="database", type="generic", now=T0)
        event = AlertEvent(AlertAction.TRIGGER, "db", summary="Primary down", severity="critical")
        alerts.ingest(session, hook, [event], now=T0)
    clock = FixedClock(T0)
    engine = engine_for(sessions, clock)
    engine.run_once()
    with sessions() as session:
        incident = incidents.get(session, "INC-1")
        assert incidents.commander_of(incident).handle == "alice"  # type: ignore[union-attr]
        assert incident.acknowledged_at is None
    assert receiver.who() == ["alice"]  # the commander the rule picked is paged, not assumed
    clock.advance(minutes=15)
    engine.run_once()
    page = "[SEV-1] INC-1 database: Primary down"
    assert [(p["to"], p["subject"]) for p in receiver.pages[:2]] == [
        ("alice", page),
        ("bob", page),
    ]
    # The third message is the commander's reminder that a status update is due.
    assert receiver.pages[2]["to"] == "alice"
    assert str(receiver.pages[2]["subject"]).endswith("update is due")
