"""The REST API: a whole incident over HTTP, auth, and every kind of bad input."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

V1 = "/api/v1"


def test_healthz_needs_no_token(api: Api) -> None:
    answer = api.client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_openapi_docs_are_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert f"{V1}/incidents/{{ref}}/status" in paths


def test_a_whole_sev1_over_http(api: Api) -> None:
    c, w = api.client, api.writer
    declared = c.post(
        f"{V1}/incidents",
        json={
            "title": "All requests returning 502",
            "severity": "SEV-1",
            "services": ["api-gateway"],
            "impact": "100% of users affected",
            "started_at": "2024-06-20T10:28:00Z",
        },
        headers=w,
    )
    assert declared.status_code == 201, declared.text
    body = declared.json()
    assert (body["ref"], body["status"], body["channel"]) == (
        "INC-1",
        "detected",
        "#incident-api-gateway",
    )
    assert body["milestones"]["started_at"] == "2024-06-20T10:28:00Z"
    api.clock.advance(minutes=1)
    assert (
        c.post(f"{V1}/incidents/INC-1/roles", json={"user": "alice"}, headers=w).status_code == 200
    )
    for user, speciality in (("bob", "Networking"), ("carol", "Backend")):
        answer = c.post(
            f"{V1}/incidents/INC-1/responders",
            json={"user": user, "speciality": speciality},
            headers=w,
        )
        assert answer.status_code == 200
    api.clock.advance(minutes=2)
    c.post(f"{V1}/incidents/INC-1/status", json={"status": "triaging"}, headers=w)
    update = c.post(
        f"{V1}/incidents/INC-1/updates",
        json={"message": "We are investigating errors", "visibility": "public"},
        headers=w,
    )
    assert update.status_code == 201
    assert update.json()["public_status"] == "investigating"
    c.post(f"{V1}/incidents/INC-1/notes", json={"message": "v2.3.1 went out at 10:27"}, headers=w)
    api.clock.advance(minutes=5)
    c.post(
        f"{V1}/incidents/INC-1/status",
        json={"status": "mitigating", "message": "Rolling back last deployment"},
        headers=w,
    )
    api.clock.advance(minutes=4)
    resolved = c.post(
        f"{V1}/incidents/INC-1/resolve",
        json={"message": "Rollback complete, traffic restored", "resolution": "Rolled back"},
        headers=w,
    )
    assert resolved.status_code == 200
    milestones = resolved.json()["milestones"]
    assert milestones["acknowledged_at"] == "2024-06-20T10:31:00Z"
    assert milestones["mitigated_at"] == "2024-06-20T10:38:00Z"
    assert milestones["resolved_at"] == "2024-06-20T10:42:00Z"

    timeline = c.get(f"{V1}/incidents/INC-1/timeline", headers=api.reader).json()
    assert [(e["kind"], e["message"]) for e in timeline] == [
        ("declared", "Incident declared: All requests returning 502 (SEV-1 on api-gateway)"),
        ("role_assigned", "IC assigned: Alice"),
        ("role_assigned", "Responder added: Bob (Networking)"),
        ("role_assigned", "Responder added: Carol (Backend)"),
        ("status_changed", "[TRIAGING]"),
        ("status_update", "Public update (investigating): We are investigating errors"),
        ("note", "v2.3.1 went out at 10:27"),
        ("status_changed", "[MITIGATING] Rolling back last deployment"),
        ("status_changed", "[RESOLVED] Rollback complete, traffic restored"),
    ]
    assert {e["actor"] for e in timeline} == {"alice"}  # the token's user

    summary = c.get(
        f"{V1}/incidents/INC-1/notification", params={"kind": "resolution"}, headers=api.reader
    )
    assert summary.headers["content-type"].startswith("text/plain")
    assert "Time to detection: 2 minutes\nTime to resolution: 12 minutes\n" in summary.text


def _declare(api: Api, **extra: object) -> dict[str, object]:
    body = {"title": "Checkout slow", "severity": "SEV-2", "services": ["api-gateway"], **extra}
    answer = api.client.post(f"{V1}/incidents", json=body, headers=api.writer)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_missing_token_is_401_and_wrong_scope_is_403(api: Api) -> None:
    _declare(api)
    missing = api.client.get(f"{V1}/incidents")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "missing API token" in missing.json()["detail"]
    bogus = api.client.get(f"{V1}/incidents", headers={"Authorization": "Bearer tsn_nope"})
    assert bogus.status_code == 401
    assert bogus.json()["detail"] == "unknown API token"
    read_only = api.client.post(
        f"{V1}/incidents/INC-1/notes", json={"message": "x"}, headers=api.reader
    )
    assert read_only.status_code == 403
    assert "lacks the 'write' scope" in read_only.json()["detail"]
    assert (
        api.client.post(f"{V1}/users", json={"handle": "dan"}, headers=api.writer).status_code
        == 403
    )
    assert (
        api.client.get(f"{V1}/incidents/INC-1/timeline", headers=api.reader).json()[-1]["kind"]
        == "declared"
    )  # the refused note changed nothing


def test_unknown_status_lists_valid_ones_and_changes_nothing(api: Api) -> None:
    _declare(api)
    answer = api.client.post(
        f"{V1}/incidents/INC-1/status", json={"status": "fixed"}, headers=api.writer
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "unknown status 'fixed'; valid statuses: "
        "detected, triaging, mitigating, resolved, postmortem, closed",
        "errors": [
            "unknown status 'fixed'; valid statuses: "
            "detected, triaging, mitigating, resolved, postmortem, closed"
        ],
    }
    assert (
        api.client.get(f"{V1}/incidents/INC-1", headers=api.reader).json()["status"] == "detected"
    )


def test_declare_lists_every_problem(api: Api) -> None:
    answer = api.client.post(
        f"{V1}/incidents",
        json={"title": "", "severity": "SEV-9", "services": ["nope"], "commander": "zed"},
        headers=api.writer,
    )
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        "title must not be empty",
        "unknown severity 'SEV-9'; valid severities: SEV-1, SEV-2, SEV-3, SEV-4",
        "unknown service 'nope'",
        "commander: unknown user 'zed'",
    ]
    assert api.client.get(f"{V1}/incidents", headers=api.reader).json() == []


def test_schema_errors_list_every_field(api: Api) -> None:
    answer = api.client.post(
        f"{V1}/incidents", json={"severity": 1, "colour": "red"}, headers=api.writer
    )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert "title: Field required" in errors
    assert "colour: unknown field" in errors
    assert any(e.startswith("severity:") for e in errors)


def test_malformed_json_is_400(api: Api) -> None:
    answer = api.client.post(
        f"{V1}/incidents",
        content=b'{"title": "x", "severity": ',
        headers={**api.writer, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("malformed JSON body")


def test_second_commander_is_409(api: Api) -> None:
    _declare(api, commander="alice")
    answer = api.client.post(
        f"{V1}/incidents/INC-1/roles", json={"user": "bob"}, headers=api.writer
    )
    assert answer.status_code == 409
    assert "already has a commander (@alice)" in answer.json()["detail"]
    handed = api.client.post(
        f"{V1}/incidents/INC-1/roles", json={"user": "bob", "handover": True}, headers=api.writer
    )
    assert handed.json()["commander"] == "bob"


def test_commander_as_responder_answers_with_a_warning(api: Api) -> None:
    _declare(api, commander="alice")
    answer = api.client.post(
        f"{V1}/incidents/INC-1/responders",
        json={"user": "alice", "speciality": "Backend"},
        headers=api.writer,
    )
    assert answer.status_code == 200
    assert "does not debug" in answer.json()["warnings"][0]


def test_unknown_user_and_incident_are_404(api: Api) -> None:
    _declare(api)
    assert api.client.post(
        f"{V1}/incidents/INC-1/roles", json={"user": "zed"}, headers=api.writer
    ).json() == {"detail": "unknown user 'zed'", "errors": ["unknown user 'zed'"]}
    assert api.client.get(f"{V1}/incidents/INC-99", headers=api.reader).status_code == 404


def test_reopening_a_closed_incident_is_409(api: Api) -> None:
    _declare(api)
    api.client.post(f"{V1}/incidents/INC-1/status", json={"status": "closed"}, headers=api.writer)
    answer = api.client.post(
        f"{V1}/incidents/INC-1/status", json={"status": "mitigating"}, headers=api.writer
    )
    assert answer.status_code == 409
    assert "closed and cannot be reopened" in answer.json()["detail"]


def test_severity_change_needs_a_reason(api: Api) -> None:
    _declare(api)
    missing = api.client.post(
        f"{V1}/incidents/INC-1/severity", json={"severity": "SEV-1"}, headers=api.writer
    )
    assert missing.status_code == 422
    assert missing.json()["errors"] == ["reason: Field required"]
    answer = api.client.post(
        f"{V1}/incidents/INC-1/severity",
        json={"severity": "SEV-1", "reason": "all regions"},
        headers=api.writer,
    )
    assert answer.json()["severity"] == "SEV-1"


def test_updates_can_be_read_by_visibility(api: Api) -> None:
    _declare(api)
    for visibility in ("internal", "public"):
        api.client.post(
            f"{V1}/incidents/INC-1/updates",
            json={"message": f"{visibility} words", "visibility": visibility},
            headers=api.writer,
        )
    public = api.client.get(
        f"{V1}/incidents/INC-1/updates", params={"visibility": "public"}, headers=api.reader
    ).json()
    assert [u["message"] for u in public] == ["public words"]


def test_patch_edits_and_back_dates(api: Api) -> None:
    _declare(api)
    answer = api.client.patch(
        f"{V1}/incidents/INC-1",
        json={"impact": "EU only", "started_at": "2024-06-20T10:00:00+00:00"},
        headers=api.writer,
    )
    assert answer.status_code == 200
    assert answer.json()["impact"] == "EU only"
    assert answer.json()["milestones"]["started_at"] == "2024-06-20T10:00:00Z"


def test_list_filters_open_incidents(api: Api) -> None:
    _declare(api)
    _declare(api)
    api.client.post(f"{V1}/incidents/INC-1/resolve", json={}, headers=api.writer)
    open_ = api.client.get(f"{V1}/incidents", params={"open": "true"}, headers=api.reader).json()
    assert [i["ref"] for i in open_] == ["INC-2"]


@pytest.mark.parametrize("minutes", [1, 90])
def test_the_clock_stamps_every_change(api: Api, minutes: int) -> None:
    _declare(api)
    api.clock.advance(minutes=minutes)
    api.client.post(f"{V1}/incidents/INC-1/acknowledge", headers=api.writer)
    milestones = api.client.get(f"{V1}/incidents/INC-1", headers=api.reader).json()["milestones"]
    # declared at 10:30 by the fixture's clock; acknowledged `minutes` later
    acknowledged = {1: "2024-06-20T10:31:00Z", 90: "2024-06-20T12:00:00Z"}[minutes]
    assert milestones["detected_at"] == "2024-06-20T10:30:00Z"
    assert milestones["acknowledged_at"] == acknowledged


def test_page_someone_now_by_the_api_and_the_cli_alike(api: Api) -> None:
    c, w = api.client, api.writer
    c.post(f"{V1}/incidents", json={"title": "Replica lag", "severity": "SEV-2"}, headers=w)
    paged = c.post(f"{V1}/incidents/INC-1/page", json={"target": "user:bob"}, headers=w)
    assert paged.status_code == 200, paged.text
    events = c.get(f"{V1}/incidents/INC-1/timeline", headers=w).json()
    assert "Paging bob (asked by alice): no contact method" in [e["message"] for e in events]
    for target, problem in (
        ("bob", "page user:HANDLE or schedule:NAME, not 'bob'"),
        ("user:nobody", "no user 'nobody'"),
    ):
        refused = c.post(f"{V1}/incidents/INC-1/page", json={"target": target}, headers=w)
        assert refused.status_code == 400
        assert refused.json()["errors"] == [problem]
    assert c.post(f"{V1}/incidents/INC-1/page", json={"target": "user:bob"}).status_code == 401
