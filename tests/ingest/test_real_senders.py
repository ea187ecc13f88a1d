"""The real client libraries of PagerDuty and Opsgenie, pointed at a real Tocsin server."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.conftest import LiveServer
from tocsin.services import alerts, incidents
from tocsin.store.db import make_engine


def stored_alerts(live: LiveServer) -> list[tuple[str, str, int, str | None]]:
    engine = make_engine(live.db_url)
    with Session(engine) as session:
        found = alerts.list_(session)
        numbers = alerts.incident_numbers(session, found)
        rows = [
            (
                a.dedup_key,
                a.status,
                a.count,
                f"INC-{numbers[a.incident_id]}" if a.incident_id else None,
            )
            for a in found
        ]
    engine.dispose()
    return rows


def service_timeline(live: LiveServer) -> list[str]:
    engine = make_engine(live.db_url)
    with Session(engine) as session:
        found = [e.summary for e in alerts.service_timeline(session, "api-gateway")]
    engine.dispose()
    return found


def incident_kinds(live: LiveServer, ref: str) -> list[str]:
    engine = make_engine(live.db_url)
    with Session(engine) as session:
        kinds = [e.kind for e in incidents.get(session, ref).events]
    engine.dispose()
    return kinds


def test_pdpyras_events_and_change_events(
    live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    import pdpyras

    key = live_server.integration("pagerduty")
    session = pdpyras.EventsAPISession(key)
    session.url = live_server.url
    request.addfinalizer(session.close)
    dedup_key = session.trigger(
        "Checkout 5xx above 5%", "web-1", severity="critical", custom_details={"rate": 0.07}
    )
    assert len(dedup_key) == 32
    assert session.trigger("Checkout 5xx above 5%", "web-1", dedup_key=dedup_key) == dedup_key
    session.acknowledge(dedup_key)
    session.resolve(dedup_key)
    assert stored_alerts(live_server) == [(dedup_key, "resolved", 2, "INC-1")]
    assert incident_kinds(live_server, "INC-1")[-5:] == [
        "alert_repeated",
        "alert_acknowledged",
        "acknowledged",  # the incident's only alert: the sender has it
        "alert_resolved",
        "alerts_resolved",
    ]
    changes = pdpyras.ChangeEventsAPISession(key)
    changes.url = live_server.url
    request.addfinalizer(changes.close)
    changes.submit("Deployed checkout v2.3.1", "ci")
    assert service_timeline(live_server) == ["Deployed checkout v2.3.1"]


def test_pagerduty_client(live_tls_server: LiveServer, request: pytest.FixtureRequest) -> None:
    import ssl

    import pagerduty

    live_server = live_tls_server
    trust = ssl.create_default_context(cafile=live_server.ca_file)
    key = live_server.integration("pagerduty")
    # The official client refuses plain http://, as a sender in production should.
    with pytest.raises(pagerduty.UrlError):
        pagerduty.EventsApiV2Client(key, base_url=live_server.url.replace("https", "http"))
    client = pagerduty.EventsApiV2Client(key, base_url=live_server.url, verify=trust)
    request.addfinalizer(client.close)
    dedup_key = client.trigger(
        "Disk 95% on db-1", "db-1", dedup_key="disk-db-1", severity="warning"
    )
    assert dedup_key == "disk-db-1"
    client.acknowledge("disk-db-1")
    client.resolve("disk-db-1")
    # warnings with no open incident are recorded, not declared
    assert stored_alerts(live_server) == [("disk-db-1", "resolved", 1, None)]
    # pagerduty 7.2's submit() cannot build its own timestamp (it calls datetime.timezone on the
    # datetime class), so send the change event the way submit() would, with one of ours.
    client.send_change_event(
        payload={
            "summary": "Config push: nginx.conf",
            "source": "ansible",
            "timestamp": "2024-06-20T10:27:00Z",
        }
    )
    assert service_timeline(live_server) == ["Config push: nginx.conf"]
    unknown = pagerduty.EventsApiV2Client("0" * 32, base_url=live_server.url, verify=trust)
    request.addfinalizer(unknown.close)
    with pytest.raises(pagerduty.Error):
        unknown.trigger("x", "y")
    assert len(stored_alerts(live_server)) == 1


def test_opsgenie_sdk(live_server: LiveServer) -> None:
    import opsgenie_sdk

    key = live_server.integration("opsgenie")
    configuration = opsgenie_sdk.Configuration()
    configuration.api_key["Authorization"] = key
    configuration.host = live_server.url
    configuration.retry_enabled = False
    client = opsgenie_sdk.ApiClient(configuration=configuration)
    api = opsgenie_sdk.AlertApi(api_client=client)
    created = api.create_alert(
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(
            message="Payments API down",
            alias="payments-down",
            priority="P1",
            description="All payment requests fail",
            tags=["payments"],
            details={"region": "eu"},
            entity="payments",
            source="synthetics",
        )
    )
    assert created.result == "Request will be processed"
    assert created.request_id
    api.acknowledge_alert(
        identifier="payments-down",
        identifier_type="alias",
        acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(source="sdk"),
    )
    api.close_alert(
        identifier="payments-down",
        identifier_type="alias",
        close_alert_payload=opsgenie_sdk.CloseAlertPayload(source="sdk"),
    )
    assert stored_alerts(live_server) == [("payments-down", "resolved", 1, "INC-1")]

    beat = live_server.integration(
        "heartbeat", name="nightly-backup", interval=__import__("datetime").timedelta(minutes=10)
    )
    configuration.api_key["Authorization"] = beat
    pong = opsgenie_sdk.HeartbeatApi(api_client=opsgenie_sdk.ApiClient(configuration)).ping(
        "nightly-backup"
    )
    assert pong.result == "PONG - Heartbeat received"

    configuration.api_key["Authorization"] = "wrong"
    from opsgenie_sdk.exceptions import AuthenticationException

    with pytest.raises(AuthenticationException) as caught:
        opsgenie_sdk.AlertApi(api_client=opsgenie_sdk.ApiClient(configuration)).create_alert(
            create_alert_payload=opsgenie_sdk.CreateAlertPayload(message="x")
        )
    assert caught.value.status == 401
