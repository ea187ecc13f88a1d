"""Ingestion over HTTP: every route's answer, and every kind of bad input stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.server import create_app
from tocsin.settings import Settings
from tocsin.store import integrations, services
from tocsin.store.db import make_engine, make_sessionmaker

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager-0.25"


def body_of(prefix: str) -> bytes:
    path = next(CAPTURES.glob(f"{prefix}*.http"))
    return path.read_text().partition("\n\n")[2].encode()


@pytest.fixture
def keys(api: Api, db_url: str) -> dict[str, str]:
    engine = make_engine(db_url)
    found = {}
    with make_sessionmaker(engine)() as session, session.begin():
        for kind in ("alertmanager", "pagerduty", "opsgenie", "generic"):
            _, found[kind] = integrations.create(session, service="api-gateway", type=kind, now=T0)
        _, found["heartbeat"] = integrations.create(
            session,
            service="api-gateway",
            type="heartbeat",
            name="nightly-backup",
            interval=__import__("datetime").timedelta(minutes=5),
            now=T0,
        )
    engine.dispose()
    return found


def alerts_json(api: Api) -> list[dict[str, object]]:
    return api.client.get("/api/v1/alerts", headers=api.reader).json()  # type: ignore[no-any-return]


JSON = {"Content-Type": "application/json"}


def test_alertmanager_webhook_group_lifecycle(api: Api, keys: dict[str, str]) -> None:
    url = f"/hooks/alertmanager/{keys['alertmanager']}"
    first = api.client.post(url, content=body_of("req01"), headers=JSON)
    assert first.status_code == 200
    assert first.json()["alerts"] == 2
    # warning alerts with no open incident are recorded only
    assert sorted(a["dedup_key"] for a in alerts_json(api)) == [
        "081dba847b32291a",
        "0facb163a9753c87",
    ]
    again = api.client.post(url, content=body_of("req01"), headers=JSON)
    assert [r["outcome"] for r in again.json()["results"]] == ["repeated", "repeated"]
    api.client.post(url, content=body_of("req05"), headers=JSON)
    api.client.post(url, content=body_of("req08"), headers=JSON)
    state = {a["dedup_key"]: (a["status"], a["count"]) for a in alerts_json(api)}
    assert state == {"081dba847b32291a": ("resolved", 2), "0facb163a9753c87": ("resolved", 3)}


def test_alertmanager_bearer_header(api: Api, keys: dict[str, str]) -> None:
    answer = api.client.post(
        "/hooks/alertmanager",
        content=body_of("req01"),
        headers={**JSON, "Authorization": f"Bearer {keys['alertmanager']}"},
    )
    assert answer.status_code == 200
    missing = api.client.post("/hooks/alertmanager", content=body_of("req01"), headers=JSON)
    assert (missing.status_code, missing.json()["detail"]) == (401, "missing integration key")


def test_pagerduty_events_from_alertmanager_pagerduty_configs(
    api: Api, keys: dict[str, str]
) -> None:
    for prefix in ("req03", "req06", "req09"):
        body = json.loads(body_of(prefix))
        body["routing_key"] = keys["pagerduty"]
        answer = api.client.post("/v2/enqueue", json=body)
        assert answer.status_code == 202
        assert answer.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "17c4e445d234645c9e547ff6d32a864af0ebdadcd1902771c24c8d366637ff41",
        }
    [alert] = alerts_json(api)
    assert (alert["status"], alert["count"], alert["sev"], alert["incident"]) == (
        "resolved",
        2,
        "SEV-2",
        "INC-1",
    )


def test_pagerduty_invalid_event_lists_every_problem(api: Api, keys: dict[str, str]) -> None:
    answer = api.client.post(
        "/v2/enqueue",
        json={
            "routing_key": "f" * 32,
            "event_action": "trigger",
            "payload": {"summary": "s" * 2000, "severity": "fatal"},
        },
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [
            "Length of 'payload.summary' is incorrect (should be at most 1024 characters, "
            "got 2000)",
            "'payload.source' is missing or blank",
            "'payload.severity' must be one of critical, error, warning, info (got 'fatal')",
            "Invalid routing key: no integration has this key",
        ],
    }
    assert alerts_json(api) == []


def test_pagerduty_body_over_the_ingest_limit(api: Api, keys: dict[str, str]) -> None:
    payload = {
        "summary": "x",
        "source": "y",
        "severity": "info",
        "custom_details": {"blob": "z" * (1100 * 1024)},
    }
    answer = api.client.post(
        "/v2/enqueue",
        json={"routing_key": keys["pagerduty"], "event_action": "trigger", "payload": payload},
    )
    assert answer.status_code == 413  # TOCSIN_INGEST_MAX_BODY, 1 MiB by default
    assert "at most 1048576 bytes are accepted" in answer.json()["errors"][0]
    assert alerts_json(api) == []


def test_pagerduty_change_events_go_on_the_service_timeline(api: Api, keys: dict[str, str]) -> None:
    answer = api.client.post(
        "/v2/change/enqueue",
        json={
            "routing_key": keys["pagerduty"],
            "payload": {
                "summary": "Deployed v2.3.1",
                "source": "ci",
                "timestamp": "2024-06-20T10:27:00Z",
            },
        },
    )
    assert answer.status_code == 202
    assert answer.json() == {"status": "success", "message": "Change event processed"}
    timeline = api.client.get("/api/v1/services/api-gateway/timeline", headers=api.reader).json()
    assert [(e["kind"], e["summary"], e["at"]) for e in timeline] == [
        ("change", "Deployed v2.3.1", "2024-06-20T10:27:00Z")
    ]


def test_opsgenie_create_ack_close(api: Api, keys: dict[str, str]) -> None:
    genie = {"Authorization": f"GenieKey {keys['opsgenie']}"}
    created = api.client.post(
        "/v2/alerts",
        json={"message": "CPU high", "alias": "cpu-1", "priority": "P1"},
        headers=genie,
    )
    assert created.status_code == 202
    body = created.json()
    assert body["result"] == "Request will be processed"
    assert isinstance(body["took"], float) and len(body["requestId"]) == 36
    acked = api.client.post(
        "/v2/alerts/cpu-1/acknowledge", params={"identifierType": "alias"}, json={}, headers=genie
    )
    assert acked.status_code == 202
    [alert] = alerts_json(api)
    assert (alert["status"], alert["severity"], alert["incident"]) == (
        "acknowledged",
        "critical",
        "INC-1",
    )
    closed = api.client.post(f"/v2/alerts/{alert['id']}/close", json={}, headers=genie)
    assert closed.status_code == 202
    assert alerts_json(api)[0]["status"] == "resolved"
    unknown = api.client.post("/v2/alerts/nope/close?identifierType=alias", json={}, headers=genie)
    assert unknown.status_code == 202  # accepted and ignored
    refused = api.client.post(
        "/v2/alerts", json={"message": "x"}, headers={"Authorization": "GenieKey wrong"}
    )
    assert refused.status_code == 401
    assert refused.json()["message"] == "unknown integration key"
    bad = api.client.post("/v2/alerts", json={"message": "", "priority": "P0"}, headers=genie)
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        "message: required, the alert's text",
        "priority: must be one of P1, P2, P3, P4, P5 (got 'P0')",
    ]


def test_generic_webhook(api: Api, keys: dict[str, str]) -> None:
    url = f"/hooks/generic/{keys['generic']}"
    answer = api.client.post(
        url,
        json={"summary": "Checkout errors 12%", "severity": "critical", "dedup_key": "checkout"},
    )
    assert answer.status_code == 202
    assert answer.json() == {
        "status": "accepted",
        "dedup_key": "checkout",
        "outcome": "opened",
        "alert": 1,
        "incident": "INC-1",
    }
    resolved = api.client.post(url, json={"action": "resolve", "dedup_key": "checkout"})
    assert resolved.json()["outcome"] == "resolved"


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        pytest.param(b'{"summary": ', JSON, 400, "malformed JSON body", id="malformed"),
        pytest.param(
            b'{"summary": "x"}',
            {"Content-Type": "text/plain"},
            400,
            "Content-Type must be application/json (got 'text/plain')",
            id="content-type",
        ),
        pytest.param(b"[1, 2]", JSON, 400, "the body must be a JSON object", id="not-an-object"),
    ],
)
def test_bad_bodies_store_nothing(
    api: Api,
    keys: dict[str, str],
    content: bytes,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    for url in (f"/hooks/generic/{keys['generic']}", f"/hooks/alertmanager/{keys['alertmanager']}"):
        answer = api.client.post(url, content=content, headers=headers)
        assert answer.status_code == status
        assert any(message in e for e in answer.json()["errors"]), answer.json()
    assert alerts_json(api) == []


def test_unknown_or_wrong_key(api: Api, keys: dict[str, str]) -> None:
    unknown = api.client.post("/hooks/generic/" + "0" * 32, json={"summary": "x"})
    assert (unknown.status_code, unknown.json()["detail"]) == (401, "unknown integration key")
    wrong = api.client.post(f"/hooks/generic/{keys['alertmanager']}", json={"summary": "x"})
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == ("this key belongs to a alertmanager integration, not generic")
    assert alerts_json(api) == []


def test_overload_answers_503_with_retry_after(api: Api, keys: dict[str, str]) -> None:
    state = api.client.app.state  # type: ignore[attr-defined]
    state.ingest_writer.max_pending = 0  # the queue to the writer is full
    answer = api.client.post(f"/hooks/generic/{keys['generic']}", json={"summary": "x"})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    state.ingest_writer.max_pending = 10
    state.ingest_gate.limit = 0  # and the threadpool routes have their own bound
    ping = api.client.get(f"/hooks/heartbeat/{keys['heartbeat']}")
    assert (ping.status_code, ping.headers["retry-after"]) == (503, "1")
    state.ingest_gate.limit = 10
    assert alerts_json(api) == []


def test_heartbeat_pings(api: Api, keys: dict[str, str]) -> None:
    ping = api.client.get(f"/hooks/heartbeat/{keys['heartbeat']}")
    assert ping.status_code == 200
    assert ping.json() == {
        "status": "ok",
        "heartbeat": "nightly-backup",
        "next_ping_before": "2024-06-20T10:35:00Z",
    }
    genie = {"Authorization": f"GenieKey {keys['heartbeat']}"}
    pong = api.client.post("/v2/heartbeats/nightly-backup/ping", headers=genie)
    assert (pong.status_code, pong.json()["result"]) == (202, "PONG - Heartbeat received")
    wrong = api.client.get("/v2/heartbeats/other/ping", headers=genie)
    assert wrong.status_code == 404


def test_alerts_api_and_integrations_api(api: Api, keys: dict[str, str]) -> None:
    api.client.post(f"/hooks/generic/{keys['generic']}", json={"summary": "x", "dedup_key": "k"})
    [alert] = alerts_json(api)
    assert set(alert) >= {
        "id",
        "service",
        "integration",
        "dedup_key",
        "status",
        "count",
        "severity",
        "summary",
        "first_seen",
        "last_seen",
        "incident",
    }
    acked = api.client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=api.writer)
    assert acked.json()["status"] == "acknowledged"
    resolved = api.client.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=api.writer)
    assert resolved.json()["status"] == "resolved"
    assert (
        api.client.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=api.writer).status_code
        == 409
    )
    created = api.client.post(
        "/api/v1/integrations",
        json={"service": "api-gateway", "type": "generic", "name": "ci"},
        headers=api.admin,
    )
    assert created.status_code == 201 and len(created.json()["key"]) == 32
    listed = api.client.get("/api/v1/integrations", headers=api.reader).text
    assert created.json()["key"] not in listed
    maintenance = api.client.post(
        "/api/v1/services/api-gateway/maintenance",
        json={"start": "2024-06-20T10:30:00Z", "end": "2024-06-20T12:00:00Z", "reason": "db"},
        headers=api.writer,
    )
    assert maintenance.status_code == 201
    during = api.client.post(
        f"/hooks/generic/{keys['generic']}", json={"summary": "y", "severity": "critical"}
    )
    assert during.json()["incident"] is None


def _routes(keys: dict[str, str]) -> list[tuple[str, dict[str, str], int]]:
    """Return (url, headers, status for a bad body) of every route that reads a JSON body."""
    return [
        (f"/hooks/generic/{keys['generic']}", JSON, 400),
        (f"/hooks/alertmanager/{keys['alertmanager']}", JSON, 400),
        ("/v2/enqueue", JSON, 400),
        ("/v2/change/enqueue", JSON, 400),
        ("/v2/alerts", {**JSON, "Authorization": f"GenieKey {keys['opsgenie']}"}, 422),
    ]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 10_000 + b"]" * 10_000, id="nested-arrays"),
        pytest.param(b'{"details": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001, id="in-details"),
        pytest.param(b'{"payload": ' + b"[" * 100 + b"]" * 100 + b"}", id="past-the-cap"),
    ],
)
def test_deeply_nested_json_is_refused_on_every_route(
    api: Api, keys: dict[str, str], body: bytes
) -> None:
    for url, headers, status in _routes(keys):
        answer = api.client.post(url, content=body, headers=headers)
        assert answer.status_code == status, (url, answer.text)
        assert "nested deeper than 64 levels" in answer.text, (url, answer.text)
    assert alerts_json(api) == []


def test_only_the_severity_label_the_service_reads_must_fit(
    api: Api, keys: dict[str, str], db_url: str
) -> None:
    group = json.loads(body_of("req01"))
    group["alerts"] = group["alerts"][:1]
    group["alerts"][0]["labels"]["severity"] = "x" * 101
    group["alerts"][0]["labels"]["priority"] = "critical"
    url = f"/hooks/alertmanager/{keys['alertmanager']}"
    refused = api.client.post(url, content=json.dumps(group).encode(), headers=JSON)
    assert (refused.status_code, refused.json()["errors"]) == (
        400,
        ["alerts[0].labels.severity: a severity of at most 100 characters (got 101)"],
    )
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        services.update(
            session, services.get_by_slug(session, "api-gateway"), severity_label="priority"
        )
    engine.dispose()
    taken = api.client.post(url, content=json.dumps(group).encode(), headers=JSON)
    assert taken.status_code == 200, taken.text
    assert taken.json()["results"][0]["outcome"] == "opened"
    [alert] = api.client.get("/api/v1/alerts", headers=api.reader).json()
    assert (alert["severity"], alert["raw_severity"], alert["sev"]) == (
        "critical",
        "critical",
        "SEV-1",
    )


def test_values_the_database_cannot_store_get_each_senders_4xx(
    api: Api, keys: dict[str, str]
) -> None:
    nul = "contains a NUL character (\\u0000), which cannot be stored"
    generic = api.client.post(
        f"/hooks/generic/{keys['generic']}",
        content=b'{"summary": "disk\\u0000full", "dedup_key": "' + b"k" * 513 + b'"}',
        headers=JSON,
    )
    assert (generic.status_code, generic.json()["errors"]) == (
        400,
        [f"summary: {nul}", "dedup_key: at most 512 characters (got 513)"],
    )
    group = json.loads(body_of("req01"))
    group["alerts"][1]["fingerprint"] = "f" * 600
    group["alerts"][0]["labels"]["job"] = "\ud800"
    manager = api.client.post(
        f"/hooks/alertmanager/{keys['alertmanager']}",
        content=json.dumps(group).encode(),  # ASCII, with the \ud800 escape as sent
        headers=JSON,
    )
    assert manager.status_code == 400
    assert manager.json()["errors"] == [
        "alerts[0].labels.job: contains a lone surrogate (\\ud800), which is not a Unicode "
        "character; encode text as UTF-8 or use a surrogate pair",
        "alerts[1].fingerprint: at most 512 characters (got 600)",
    ]
    pd = api.client.post(
        "/v2/enqueue",
        content=(
            b'{"routing_key": "' + keys["pagerduty"].encode() + b'", "event_action": "trigger",'
            b' "payload": {"summary": "s", "source": "h", "severity": "info",'
            b' "custom_details": {"note": "a\\u0000b"}}}'
        ),
        headers=JSON,
    )
    assert pd.status_code == 400
    assert pd.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [f"'payload.custom_details.note' {nul}"],
    }
    genie = api.client.post(
        "/v2/alerts",
        content=b'{"message": "CPU\\u0000"}',
        headers={**JSON, "Authorization": f"GenieKey {keys['opsgenie']}"},
    )
    assert (genie.status_code, genie.json()["errors"]) == (422, [f"message: {nul}"])
    closed = api.client.post(
        "/v2/alerts/a%00b/close?identifierType=alias",
        json={},
        headers={"Authorization": f"GenieKey {keys['opsgenie']}"},
    )
    assert (closed.status_code, closed.json()["errors"]) == (422, [f"identifier: {nul}"])
    assert alerts_json(api) == []


def test_opsgenie_ids_past_32_bits_name_no_alert(api: Api, keys: dict[str, str]) -> None:
    genie = {"Authorization": f"GenieKey {keys['opsgenie']}"}
    for identifier in ("2147483648", "9" * 30, "\N{ARABIC-INDIC DIGIT ONE}"):
        answer = api.client.post(f"/v2/alerts/{identifier}/close", json={}, headers=genie)
        assert answer.status_code == 202, answer.text  # accepted and ignored, as unknown ids are


def test_routes_bound_bodies_on_their_own(db_url: str, keys: dict[str, str]) -> None:
    """Without any body-limit middleware in front, each route still refuses in its shape."""
    app = create_app(Settings(database_url=db_url, ingest_max_body=1000), run_engine=False)
    app.user_middleware = [m for m in app.user_middleware if "BodyLimit" not in repr(m.cls)]

    def chunked() -> Iterator[bytes]:
        yield from [b"x" * 400] * 5

    genie = {**JSON, "Authorization": f"GenieKey {keys['opsgenie']}"}
    with TestClient(app) as client:
        declared = client.post(
            f"/hooks/generic/{keys['generic']}", content=b"x" * 1001, headers=JSON
        )
        assert (declared.status_code, declared.json()["errors"]) == (
            413,
            ["the body is 1001 bytes; at most 1000 bytes are accepted"],
        )
        streamed = client.post(f"/hooks/generic/{keys['generic']}", content=chunked(), headers=JSON)
        assert (streamed.status_code, streamed.headers["connection"]) == (413, "close")
        pd = client.post("/v2/enqueue", content=chunked(), headers=JSON)
        assert (pd.status_code, pd.json()["status"]) == (413, "invalid event")
        og = client.post("/v2/alerts", content=chunked(), headers=genie)
        assert og.status_code == 413 and "requestId" in og.json()
        ok = client.post(f"/hooks/generic/{keys['generic']}", json={"summary": "fits"})
        assert ok.status_code == 202
    app.state.engine.dispose()


def test_the_busiest_routes_answer_with_the_security_headers_and_the_errors_shape(
    api: Api, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alertmanager, PagerDuty, Opsgenie and the generic webhook skip the framework's routing
    # (server.IngestPaths): what a sender and a browser see must not change for it.
    answers = [
        api.client.post(
            f"/hooks/alertmanager/{keys['alertmanager']}", content=body_of("req01"), headers=JSON
        ),
        api.client.post(
            "/hooks/alertmanager",
            content=body_of("req01"),
            headers={**JSON, "Authorization": f"Bearer {keys['alertmanager']}"},
        ),
        api.client.post(
            "/v2/enqueue",
            json={
                "routing_key": keys["pagerduty"],
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "h", "severity": "error"},
            },
        ),
        api.client.post(
            "/v2/alerts",
            json={"message": "m", "alias": "a"},
            headers={"Authorization": f"GenieKey {keys['opsgenie']}"},
        ),
        api.client.post(f"/hooks/generic/{keys['generic']}", json={"summary": "s"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 202, 202, 202]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-type"] == "application/json"
    # Only POST takes the short way; other methods get the framework's answer, as before.
    assert api.client.get(f"/hooks/generic/{keys['generic']}").status_code == 405
    assert api.client.post("/hooks/generic/").status_code in (404, 405)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the pipeline")

    monkeypatch.setattr("tocsin.api.routes.ingest.generic.parse", broken)
    failed = api.client.post(f"/hooks/generic/{keys['generic']}", json={"summary": "s"})
    assert failed.status_code == 500
    assert failed.json() == {
        "detail": "internal server error; the server's log has the details",
        "errors": ["internal server error; the server's log has the details"],
    }
    assert failed.headers["x-content-type-options"] == "nosniff"
