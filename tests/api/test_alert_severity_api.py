"""An alert shows both severities: the one Tocsin routes by and the sender's own word."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.store import integrations
from tocsin.store.db import make_engine, make_sessionmaker


def test_an_unknown_label_value_routes_as_error_and_keeps_the_senders_word(
    api: Api, db_url: str
) -> None:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        _, key = integrations.create(session, service="api-gateway", type="alertmanager", now=T0)
    engine.dispose()
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Meltdown", "severity": "Disaster"},
                "annotations": {"summary": "the reactor is warm"},
                "fingerprint": "f00d",
            }
        ],
    }
    assert api.client.post(f"/hooks/alertmanager/{key}", json=body).status_code == 200
    [alert] = api.client.get("/api/v1/alerts", headers=api.reader).json()
    assert alert["severity"] == "error"
    assert alert["raw_severity"] == "Disaster"
    assert alert["sev"] == "SEV-2"
