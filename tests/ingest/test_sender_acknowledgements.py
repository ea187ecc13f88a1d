"""The sender's acknowledge and resolve act on the incident, as in PagerDuty and Opsgenie.

Real clients (pdpyras, opsgenie-sdk) talk to a real server on a stopped clock; the test moves
the clock and runs the engine, which pages a real HTTP receiver through a two-level policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0, LiveServer
from tests.engine.test_escalation_flow import engine_for
from tests.receivers import PageReceiver
from tocsin import config
from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker


@pytest.fixture
def receiver() -> Iterator[PageReceiver]:
    found = PageReceiver()
    yield found
    found.close()


def _configure(server: LiveServer, receiver: PageReceiver, *, auto_resolve: bool) -> None:
    text = f"""
users:
  - handle: alice
    contact_methods:
      - {{name: hook, type: webhook, url: "{receiver.url}/alice", secret: secret-alice}}
  - handle: bob
    contact_methods:
      - {{name: hook, type: webhook, url: "{receiver.url}/bob", secret: secret-bob}}
escalation_policies:
  - name: db-oncall
    levels:
      - {{targets: ["user:alice"], delay: 15m}}
      - {{targets: ["user:bob"]}}
services:
  - slug: database
    name: Database
    escalation_policy: db-oncall
    auto_resolve: {str(auto_resolve).lower()}
"""
    engine = make_engine(server.db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(text, "tocsin.yaml"), now=T0)
    engine.dispose()


@dataclass
class Sender:
    """One sender's client, reduced to the three things it says about an alert."""

    name: str
    trigger: Callable[[str], None]
    acknowledge: Callable[[str], None]
    resolve: Callable[[str], None]


def _pagerduty(server: LiveServer, request: pytest.FixtureRequest) -> Sender:
    import pdpyras

    session = pdpyras.EventsAPISession(server.integration("pagerduty", service="database"))
    session.url = server.url
    request.addfinalizer(session.close)
    return Sender(
        "pagerduty",
        lambda key: (
            session.trigger(f"{key} down", "db-1", dedup_key=key, severity="critical") and None
        ),
        lambda key: session.acknowledge(key) and None,
        lambda key: session.resolve(key) and None,
    )


def _opsgenie(server: LiveServer, request: pytest.FixtureRequest) -> Sender:
    import opsgenie_sdk

    configuration = opsgenie_sdk.Configuration()
    configuration.api_key["Authorization"] = server.integration("opsgenie", service="database")
    configuration.host = server.url
    configuration.retry_enabled = False
    client = opsgenie_sdk.ApiClient(configuration=configuration)
    request.addfinalizer(client.rest_client.pool_manager.clear)
    api = opsgenie_sdk.AlertApi(api_client=client)

    def trigger(alias: str) -> None:
        api.create_alert(
            create_alert_payload=opsgenie_sdk.CreateAlertPayload(
                message=f"{alias} down", alias=alias, priority="P1", source="synthetics"
            )
        )

    def acknowledge(alias: str) -> None:
        api.acknowledge_alert(
            identifier=alias,
            identifier_type="alias",
            acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(source="sdk"),
        )

    def resolve(alias: str) -> None:
        api.close_alert(
            identifier=alias,
            identifier_type="alias",
            close_alert_payload=opsgenie_sdk.CloseAlertPayload(source="sdk"),
        )

    return Sender("opsgenie", trigger, acknowledge, resolve)


def _engine(
    server: LiveServer, request: pytest.FixtureRequest
) -> tuple[sessionmaker[Session], FixedClock, Engine]:
    """Return sessions on the server's database, its clock, and an engine the test runs."""
    engine = make_engine(server.db_url)
    request.addfinalizer(engine.dispose)
    sessions = make_sessionmaker(engine)
    assert server.clock is not None
    return sessions, server.clock, engine_for(sessions, server.clock)


def _timeline(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(e.kind, e.message) for e in incidents.get(session, "INC-1").events]


@pytest.mark.parametrize(
    ("make_sender", "auto_resolve"),
    [pytest.param(_pagerduty, True, id="pagerduty"), pytest.param(_opsgenie, False, id="opsgenie")],
)
def test_the_sender_acknowledging_every_alert_stops_the_escalation(
    stepped_server: LiveServer,
    receiver: PageReceiver,
    request: pytest.FixtureRequest,
    make_sender: Callable[[LiveServer, pytest.FixtureRequest], Sender],
    auto_resolve: bool,
) -> None:
    _configure(stepped_server, receiver, auto_resolve=auto_resolve)
    sender = make_sender(stepped_server, request)
    sessions, clock, paging = _engine(stepped_server, request)

    sender.trigger("primary")
    sender.trigger("replica")  # the same service's open incident: INC-1 has two alerts
    paging.run_once()
    assert receiver.who() == ["alice"]

    sender.acknowledge("primary")
    # One alert is still unacknowledged: nobody has said they have the whole incident.
    assert ("acknowledged", f"Acknowledged by the sender ({sender.name})") not in _timeline(
        sessions
    )
    sender.acknowledge("replica")
    timeline = _timeline(sessions)
    assert timeline.count(("acknowledged", f"Acknowledged by the sender ({sender.name})")) == 1
    with sessions() as session:
        assert incidents.get(session, "INC-1").acknowledged_at == T0

    clock.advance(minutes=16)  # level 2 was due at 15 minutes
    paging.run_once()
    assert receiver.who() == ["alice"]  # bob is never paged

    sender.resolve("primary")
    sender.resolve("replica")
    paging.run_once()
    with sessions() as session:
        incident = incidents.get(session, "INC-1")
        status = incident.status
    timeline = _timeline(sessions)
    if auto_resolve:
        assert status == "resolved"
        assert ("alerts_resolved", "All alerts resolved") in timeline
        assert timeline[-3:] == [
            (
                "status_changed",
                f"[RESOLVED] All alerts resolved by the sender ({sender.name}); the service"
                " resolves its incidents with their alerts (auto_resolve)",
            ),
            # and the one paged is told it is over
            ("notified", "Telling alice the incident is resolved"),
            ("notified", "Notified alice via hook (resolved notice)"),
        ]
        assert receiver.who() == ["alice", "alice"]
    else:
        assert status != "resolved"
        assert timeline[-1] == (
            "alerts_resolved",
            "All alerts resolved; the incident stays open until a person resolves it",
        )
        assert receiver.who() == ["alice"]


def test_an_unacknowledged_alert_keeps_the_escalation_going(
    stepped_server: LiveServer, receiver: PageReceiver, request: pytest.FixtureRequest
) -> None:
    _configure(stepped_server, receiver, auto_resolve=True)
    sender = _pagerduty(stepped_server, request)
    sessions, clock, paging = _engine(stepped_server, request)

    sender.trigger("primary")
    sender.trigger("replica")
    paging.run_once()
    sender.acknowledge("primary")
    sender.resolve("primary")  # one alert resolved, the other still firing unacknowledged
    clock.advance(minutes=15)
    paging.run_once()
    assert receiver.who() == ["alice", "bob"]
    with sessions() as session:
        incident = incidents.get(session, "INC-1")
        assert (incident.status, incident.acknowledged_at) == ("detected", None)
