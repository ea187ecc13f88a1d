"""Postmortems drafted from incidents, action items, and the runbook reminder."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.conftest import T0, People
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.services import actions, incidents, postmortems

MIN = timedelta(minutes=1)


def seed_incident(session: Session) -> None:
    """The seed's story: deploy at 10:28, alert 10:30, IC 10:31, rollback, restored 10:42."""
    incidents.declare(
        session,
        title="All requests returning 502",
        severity="SEV-1",
        services=["api-gateway"],
        started_at=T0 - 2 * MIN,
        actor="alertmanager",
        now=T0,
    )
    incidents.assign(session, "INC-1", "alice", actor="alice", now=T0 + MIN)
    incidents.set_status(
        session,
        "INC-1",
        "mitigating",
        message="Rollback initiated",
        actor="alice",
        now=T0 + 8 * MIN,
    )
    incidents.resolve(
        session,
        "INC-1",
        message="Traffic restored, all healthy",
        actor="alice",
        root_cause="A config change in nginx.conf removed the proxy_pass directive.",
        now=T0 + 12 * MIN,
    )


def test_a_draft_takes_its_facts_from_the_incident(session: Session, people: People) -> None:
    seed_incident(session)
    actions.add(
        session,
        incident=incidents.get(session, 1),
        action="Add automated nginx config validation to CI pipeline",
        owner="bob",
        priority="P0",
        actor="alice",
        now=T0,
    )
    body = postmortems.draft(session, "INC-1", actor="alice", now=T0 + 60 * MIN).body
    incident = incidents.get(session, "INC-1")
    lines = body.splitlines()
    assert lines[0] == "# Postmortem: INC-1 All requests returning 502"
    summary = lines[lines.index("## Incident Summary") + 1 : lines.index("## Timeline") - 1]
    assert summary == [
        f"- Date: {incident.detected_at:%Y-%m-%d}",  # 2024-06-20
        "- Duration: 12 minutes",  # detected 10:30 -> resolved 10:42
        f"- Severity: {incident.severity}",
        f"- Services affected: {incident.service_slugs[0]}",
        "- Time to detection: 2 minutes",  # started 10:28 -> detected 10:30
        "- Time to resolution: 12 minutes",
    ]
    timeline = lines[lines.index("## Timeline") + 1 : lines.index("## Root Cause") - 1]
    assert timeline[:2] == [
        "- 10:30 UTC - Incident declared: All requests returning 502 (SEV-1 on api-gateway)",
        "- 10:31 UTC - IC assigned: Alice",
    ]
    assert "- 10:42 UTC - [RESOLVED] Traffic restored, all healthy" in timeline
    assert lines[lines.index("## Root Cause") + 1] == incident.root_cause
    table = lines[lines.index("## Action Items") + 1 : lines.index("## What Went Well") - 1]
    assert table[0] == "| Action | Owner | Severity |"
    assert "| Add automated nginx config validation to CI pipeline | @bob | P0 |" in table
    # the runbook reminder the resolve created is listed too (the seed's last common mistake)
    assert any("Update the api-gateway runbook" in row for row in table)
    # the judgement is left for people to write
    assert lines[-5:] == ["## What Went Well", "-", "", "## What Went Wrong", "-"]


def test_drafting_needs_a_resolved_incident_and_only_once(session: Session, people: People) -> None:
    with pytest.raises(NotFound, match="unknown incident INC-5"):
        postmortems.draft(session, "INC-5", actor="a", now=T0)
    incidents.declare(session, title="x", severity="SEV-3", services=[], actor="a", now=T0)
    with pytest.raises(Conflict, match="INC-1 is detected; draft its postmortem once it is"):
        postmortems.draft(session, "INC-1", actor="a", now=T0)
    incidents.resolve(session, "INC-1", actor="a", now=T0)
    postmortems.draft(session, "INC-1", actor="a", now=T0)
    with pytest.raises(Conflict, match="already has a postmortem"):
        postmortems.draft(session, "INC-1", actor="a", now=T0)


def test_status_goes_draft_review_published_and_then_it_is_final(
    session: Session, people: People
) -> None:
    seed_incident(session)
    postmortems.draft(session, "INC-1", actor="a", now=T0)
    with pytest.raises(Conflict, match="it can go to in_review"):
        postmortems.set_status(session, "INC-1", "published", now=T0)
    postmortems.set_status(session, "INC-1", "in review", now=T0)
    postmortems.edit(
        session, "INC-1", "# Postmortem\n\nThe deploy lacked a config check.\n", now=T0
    )
    postmortem, _ = postmortems.set_status(session, "INC-1", "published", now=T0 + MIN)
    assert (postmortem.status, postmortem.published_at) == ("published", T0 + MIN)
    with pytest.raises(Conflict, match="is published"):
        postmortems.edit(session, "INC-1", "rewrite", now=T0)
    with pytest.raises(InvalidInput, match="valid: draft, in_review, published"):
        postmortems.set_status(session, "INC-1", "approved", now=T0)


def test_action_items_and_overdue(session: Session, people: People) -> None:
    seed_incident(session)
    incident = incidents.get(session, 1)
    late = actions.add(
        session,
        incident=incident,
        action="Validate nginx config in CI",
        owner="bob",
        priority="p0",
        due=date(2024, 6, 25),
        actor="a",
        now=T0,
    )
    actions.add(
        session,
        incident=incident,
        action="Document rollback",
        owner="carol",
        priority="P3",
        due=date(2024, 6, 25),
        actor="a",
        now=T0,
    )
    overdue = actions.list_(session, overdue=True, today=date(2024, 7, 1))
    assert [i.id for i in overdue] == [late.id]  # open P0/P1 past due only
    actions.set_status(session, late.id, "done", now=T0)
    assert actions.list_(session, overdue=True, today=date(2024, 7, 1)) == []
    with pytest.raises(InvalidInput) as caught:
        actions.add(
            session, incident=incident, action=" ", owner="zed", priority="P9", actor="a", now=T0
        )
    assert caught.value.problems == [
        "action must not be empty",
        "owner: unknown user 'zed'",
        "unknown priority 'P9'; valid priorities: P0, P1, P2, P3",
    ]
    with pytest.raises(InvalidInput, match="valid: open, done, wont_do"):
        actions.set_status(session, late.id, "finished", now=T0)
    assert actions.set_status(session, late.id, "won't do", now=T0).status == "wont_do"


def test_the_runbook_item_closes_when_the_postmortem_says_so(
    session: Session, people: People
) -> None:
    seed_incident(session)
    [item] = [i for i in actions.list_(session) if i.kind == "runbook"]
    assert item.action == ("Update the api-gateway runbook with the resolution steps of INC-1")
    assert (item.owner.handle if item.owner else None, item.priority, item.status) == (
        "alice",  # the service's owner
        "P2",
        "open",
    )
    postmortems.draft(session, "INC-1", actor="a", now=T0)
    postmortems.runbook_updated(session, "INC-1", now=T0)
    assert item.status == "done"
    # resolving again (after a reopen) does not add a second one
    incidents.set_status(session, "INC-1", "postmortem", actor="a", now=T0)
    assert len([i for i in actions.list_(session) if i.kind == "runbook"]) == 1


def test_html_export_escapes_raw_html(session: Session, people: People) -> None:
    html = postmortems.to_html(
        "# Title\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h1>Title</h1>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<table>" in html
