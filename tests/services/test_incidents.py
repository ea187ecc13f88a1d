"""The incident service layer on a real database (SQLite and PostgreSQL, same tests)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.conftest import T0, People, seed_people
from tocsin.engine.messages import render_message
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.services import incidents
from tocsin.store.models import TimelineEvent

MIN = timedelta(minutes=1)


def declare(session: Session, **kw: object) -> incidents.Incident:
    values: dict[str, object] = {
        "title": "All requests returning 502",
        "severity": "SEV-1",
        "services": ["api-gateway"],
        "actor": "alice",
        "now": T0,
    }
    values.update(kw)
    return incidents.declare(session, **values).incident  # type: ignore[arg-type]


def messages(incident: incidents.Incident) -> list[str]:
    return [e.message for e in incident.events]


def test_declare_numbers_incidents_and_names_the_channel(session: Session, people: People) -> None:
    first = declare(session)
    second = declare(session, services=[], title="Docs typo", severity="sev-4")
    assert (first.number, second.number) == (1, 2)
    assert first.channel == "#incident-api-gateway"
    assert second.channel == "#incident-inc-2"
    assert second.severity == "SEV-4"
    assert first.status == "detected"
    assert first.detected_at == T0 and first.started_at == T0
    assert messages(first) == [
        "Incident declared: All requests returning 502 (SEV-1 on api-gateway)"
    ]


def test_started_at_may_be_back_dated_but_not_future(session: Session, people: People) -> None:
    incident = declare(session, started_at=T0 - 2 * MIN)
    assert incident.started_at == T0 - 2 * MIN
    with pytest.raises(InvalidInput, match="started_at is in the future"):
        declare(session, started_at=T0 + MIN)


def test_declare_reports_every_problem_and_stores_nothing(session: Session, people: People) -> None:
    with pytest.raises(InvalidInput) as caught:
        declare(session, title=" ", severity="SEV-7", services=["nope"], commander="zed")
    assert caught.value.problems == [
        "title must not be empty",
        "unknown severity 'SEV-7'; valid severities: SEV-1, SEV-2, SEV-3, SEV-4",
        "unknown service 'nope'",
        "commander: unknown user 'zed'",
    ]
    assert incidents.list_(session) == []


def test_the_seed_run_on_a_stored_incident(session: Session, people: People) -> None:
    incident = declare(session)
    incidents.assign(session, "INC-1", "alice", actor="alice", now=T0 + MIN)
    incidents.assign(
        session,
        "INC-1",
        "bob",
        role="responder",
        speciality="Networking",
        actor="alice",
        now=T0 + MIN,
    )
    incidents.assign(
        session,
        "INC-1",
        "carol",
        role="responder",
        speciality="Backend",
        actor="alice",
        now=T0 + MIN,
    )
    incidents.set_status(
        session,
        "INC-1",
        "mitigating",
        message="Rolling back last deployment",
        actor="alice",
        now=T0 + 8 * MIN,
    )
    incidents.resolve(
        session,
        "INC-1",
        message="Rollback complete, traffic restored",
        actor="alice",
        now=T0 + 12 * MIN,
    )
    assert messages(incident) == [
        "Incident declared: All requests returning 502 (SEV-1 on api-gateway)",
        "IC assigned: Alice",
        "Responder added: Bob (Networking)",
        "Responder added: Carol (Backend)",
        "Skipped triaging (went from detected to mitigating)",
        "[MITIGATING] Rolling back last deployment",
        "[RESOLVED] Rollback complete, traffic restored",
    ]
    assert incident.acknowledged_at == T0 + MIN  # the IC took command
    assert incident.mitigated_at == T0 + 8 * MIN
    assert incident.resolved_at == T0 + 12 * MIN
    assert incident.skipped == ["triaging"]
    assert incident.resolution == "Rollback complete, traffic restored"
    assert [e.actor for e in incident.events] == ["alice"] * 7


def test_exactly_one_commander_and_handover(session: Session, people: People) -> None:
    declare(session, commander="alice")
    with pytest.raises(Conflict, match=r"already has a commander \(@alice\).*--handover"):
        incidents.assign(session, "INC-1", "bob", actor="bob", now=T0)
    with pytest.raises(Conflict, match="@alice is already the commander"):
        incidents.assign(session, "INC-1", "alice", actor="bob", now=T0)
    incident = incidents.assign(
        session, "INC-1", "bob", handover=True, actor="alice", now=T0
    ).incident
    assert incidents.commander_of(incident).handle == "bob"  # type: ignore[union-attr]
    assert messages(incident)[-2:] == ["IC handed over from Alice to Bob", "IC assigned: Bob"]


def test_a_commander_who_takes_a_responder_role_is_warned(session: Session, people: People) -> None:
    declare(session, commander="alice")
    outcome = incidents.assign(
        session, "INC-1", "alice", role="responder", speciality="Backend", actor="alice", now=T0
    )
    assert outcome.warnings == [
        "Alice is the incident commander; the IC coordinates and does not debug. "
        "Hand the hands-on work to another responder or hand over the IC role."
    ]
    quiet = incidents.assign(session, "INC-1", "bob", role="responder", actor="alice", now=T0)
    assert quiet.warnings == []
    # and the other way round: a responder made commander
    declare(session)
    incidents.assign(session, "INC-2", "carol", role="responder", actor="alice", now=T0)
    assert incidents.assign(session, "INC-2", "carol", actor="alice", now=T0).warnings


def test_role_errors(session: Session, people: People) -> None:
    declare(session)
    with pytest.raises(NotFound, match="unknown user 'zed'"):
        incidents.assign(session, "INC-1", "zed", actor="a", now=T0)
    with pytest.raises(InvalidInput, match="valid roles"):
        incidents.assign(session, "INC-1", "bob", role="hero", actor="a", now=T0)
    with pytest.raises(InvalidInput, match="only a responder has a speciality"):
        incidents.assign(session, "INC-1", "bob", role="scribe", speciality="x", actor="a", now=T0)
    incidents.assign(session, "INC-1", "bob", role="scribe", actor="a", now=T0)
    with pytest.raises(Conflict, match="@bob is already scribe on INC-1"):
        incidents.assign(session, "INC-1", "bob", role="scribe", actor="a", now=T0)
    incidents.unassign(session, "INC-1", "bob", role="scribe", actor="a", now=T0)
    with pytest.raises(Conflict, match="@bob is not scribe"):
        incidents.unassign(session, "INC-1", "bob", role="scribe", actor="a", now=T0)


def test_severity_changes_need_a_reason_and_say_which_way(session: Session, people: People) -> None:
    declare(session, severity="SEV-3")
    with pytest.raises(InvalidInput, match="reason for a severity change must not be empty"):
        incidents.change_severity(session, "INC-1", "SEV-1", reason=" ", actor="a", now=T0)
    with pytest.raises(InvalidInput, match="valid severities"):
        incidents.change_severity(session, "INC-1", "SEV-0", reason="x", actor="a", now=T0)
    incidents.change_severity(session, "INC-1", "SEV-1", reason="all regions", actor="a", now=T0)
    incident = incidents.change_severity(
        session, "INC-1", "SEV-2", reason="EU only", actor="a", now=T0
    ).incident
    assert messages(incident)[-2:] == [
        "Severity upgraded from SEV-3 to SEV-1: all regions",
        "Severity downgraded from SEV-1 to SEV-2: EU only",
    ]
    with pytest.raises(Conflict, match="already SEV-2"):
        incidents.change_severity(session, "INC-1", "SEV-2", reason="x", actor="a", now=T0)


def test_reopen_and_closed_is_final(session: Session, people: People) -> None:
    declare(session)
    incidents.resolve(session, "INC-1", message="fixed", actor="a", now=T0 + MIN)
    incident = incidents.set_status(
        session, "INC-1", "mitigating", message="errors are back", actor="a", now=T0 + 2 * MIN
    ).incident
    assert incident.resolved_at is None
    assert messages(incident)[-2:] == [
        "Reopened (was resolved at 2024-06-20 10:31 UTC)",
        "[MITIGATING] errors are back",
    ]
    incidents.resolve(session, "INC-1", actor="a", now=T0 + 3 * MIN)
    assert incident.resolved_at == T0 + 3 * MIN
    incidents.set_status(session, "INC-1", "closed", actor="a", now=T0 + 4 * MIN)
    assert incident.closed_at == T0 + 4 * MIN
    with pytest.raises(Conflict, match="closed and cannot be reopened"):
        incidents.set_status(session, "INC-1", "mitigating", actor="a", now=T0)
    with pytest.raises(Conflict, match="closed; it can no longer be changed"):
        incidents.assign(session, "INC-1", "bob", actor="a", now=T0)
    with pytest.raises(InvalidInput, match="valid statuses"):
        incidents.set_status(session, "INC-1", "done", actor="a", now=T0)


def test_acknowledge_once(session: Session, people: People) -> None:
    declare(session)
    incident = incidents.acknowledge(session, "INC-1", actor="bob", now=T0 + MIN).incident
    assert incident.acknowledged_at == T0 + MIN
    again = incidents.acknowledge(session, "INC-1", actor="carol", now=T0 + 2 * MIN)
    assert again.warnings == ["INC-1 was already acknowledged at 2024-06-20 10:31 UTC"]
    assert incident.acknowledged_at == T0 + MIN
    assert messages(incident)[-1] == "Acknowledged by bob"


def test_status_updates_internal_and_public(session: Session, people: People) -> None:
    declare(session)
    _, internal = incidents.post_update(session, "INC-1", "db at 90%", actor="alice", now=T0)
    _, public = incidents.post_update(
        session, "INC-1", "We are looking into errors", visibility="public", actor="alice", now=T0
    )
    _, identified = incidents.post_update(
        session,
        "INC-1",
        "Cause found",
        visibility="public",
        public_status="identified",
        actor="alice",
        now=T0,
    )
    assert (internal.visibility, internal.public_status) == ("internal", None)
    assert (public.visibility, public.public_status) == ("public", "investigating")
    assert identified.public_status == "identified"
    with pytest.raises(InvalidInput, match="valid public statuses: investigating, identified"):
        incidents.post_update(
            session, "INC-1", "x", visibility="public", public_status="fixed", actor="a", now=T0
        )
    with pytest.raises(InvalidInput, match="internal update has no public status"):
        incidents.post_update(session, "INC-1", "x", public_status="identified", actor="a", now=T0)
    with pytest.raises(InvalidInput, match="status update must not be empty"):
        incidents.post_update(session, "INC-1", "  ", actor="a", now=T0)
    incident = incidents.get(session, 1)
    assert [u.message for u in incident.updates] == [
        "db at 90%",
        "We are looking into errors",
        "Cause found",
    ]


def test_timeline_is_append_only(sessions) -> None:
    with sessions() as session, session.begin():
        seed_people(session)
        declare(session)
    for change in ("update", "delete"):
        with sessions() as session:
            event = session.query(TimelineEvent).one()
            if change == "update":
                event.message = "rewritten history"
            else:
                session.delete(event)
            with pytest.raises(Conflict, match="append-only"):
                session.flush()
            session.rollback()
    with sessions() as session:
        assert session.query(TimelineEvent).one().message.startswith("Incident declared")


def test_edit_changes_fields_and_says_so(session: Session, people: People) -> None:
    declare(session)
    incident = incidents.edit(
        session,
        "INC-1",
        changes={"impact": "EU users", "started_at": T0 - 5 * MIN},
        actor="alice",
        now=T0,
    ).incident
    assert incident.impact == "EU users"
    assert incident.started_at == T0 - 5 * MIN
    assert messages(incident)[-1] == "Edited impact, started_at"
    with pytest.raises(InvalidInput) as caught:
        incidents.edit(
            session,
            "INC-1",
            changes={"status": "x", "title": " ", "started_at": T0 + MIN},
            actor="a",
            now=T0,
        )
    assert len(caught.value.problems) == 3


def test_list_filters(session: Session, people: People) -> None:
    declare(session)
    declare(session, services=[], severity="SEV-3")
    incidents.resolve(session, "INC-2", actor="a", now=T0)
    assert [i.number for i in incidents.list_(session)] == [2, 1]
    assert [i.number for i in incidents.list_(session, open_only=True)] == [1]
    assert [i.number for i in incidents.list_(session, service="api-gateway")] == [1]
    assert [i.number for i in incidents.list_(session, severity="sev3")] == [2]
    assert [i.number for i in incidents.list_(session, statuses=["resolved"])] == [2]
    assert incidents.open_count_by_severity(session) == {"SEV-1": 1}
    with pytest.raises(NotFound, match="unknown incident INC-9"):
        incidents.get(session, "INC-9")


def test_notification_from_a_stored_incident_is_the_seed_text(
    session: Session, people: People
) -> None:
    declare(session, impact="100% of users affected", commander="alice")
    for handle, spec in (("bob", "Networking"), ("carol", "Backend")):
        incidents.assign(
            session, "INC-1", handle, role="responder", speciality=spec, actor="a", now=T0
        )
    incidents.set_status(session, "INC-1", "triaging", actor="a", now=T0)
    text = render_message(session, "INC-1")
    assert text == (
        "INCIDENT NOTIFICATION\n"
        "--------------------\n"
        "Severity: SEV-1\n"
        "Service: api-gateway\n"
        "Start Time: 2024-06-20 10:30 UTC\n"
        "Summary: All requests returning 502\n"
        "Impact: 100% of users affected\n"
        "IC: @alice\n"
        "Responders: @bob (networking), @carol (backend)\n"
        "Status: Investigation ongoing\n"
        "Updates: Every 15 minutes in #incident-api-gateway\n"
    )


def test_resolution_summary_times_come_from_milestones(session: Session, people: People) -> None:
    declare(
        session,
        started_at=T0 - 2 * MIN,
        detection='Datadog alert "Gateway Error Rate > 1%" fired',
    )
    incidents.resolve(
        session,
        "INC-1",
        message="Traffic restored",
        resolution="Rolled back to v2.3.0",
        root_cause="Config change in nginx.conf removed proxy_pass directive",
        summary="v2.3.1 deployment included a misconfigured upstream",
        actor="a",
        now=T0 + 12 * MIN,
    )
    text = render_message(session, "INC-1", "resolution")
    assert "Resolution: Rolled back to v2.3.0\n" in text
    assert "Time to detection: 2 minutes\nTime to resolution: 12 minutes\n" in text


def test_a_deployment_can_override_a_template(session: Session, people: People, tmp_path) -> None:
    declare(session)
    (tmp_path / "notification.txt.j2").write_text("{{ ref }} {{ severity }} {{ channel }}\n")
    text = render_message(session, "INC-1", template_dir=tmp_path)
    assert text == "INC-1 SEV-1 #incident-api-gateway\n"
    with pytest.raises(InvalidInput, match="valid templates: notification, resolution"):
        render_message(session, "INC-1", "postmortem")
