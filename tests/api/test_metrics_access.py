"""/metrics needs a token with the metrics scope, or a client address in the allow list."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api
from tests.conftest import T0
from tocsin.server import create_app
from tocsin.settings import Settings
from tocsin.store import tokens, users
from tocsin.store.db import make_engine, make_sessionmaker

V1 = "/api/v1"


def _token(db_url: str, handle: str, scopes: list[str], role: str = "viewer") -> dict[str, str]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        if users.find(session, handle) is None:
            users.create(session, handle=handle, role=role, now=T0)
        _, secret = tokens.create(session, handle=handle, name="prometheus", scopes=scopes, now=T0)
    engine.dispose()
    return {"Authorization": f"Bearer {secret}"}


def test_metrics_need_a_metrics_token(api: Api, db_url: str) -> None:
    anonymous = api.client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert "missing API token" in anonymous.json()["detail"]
    assert "tocsin_open_incidents" not in anonymous.text

    refused = api.client.get("/metrics", headers=api.writer)
    assert refused.status_code == 403
    assert refused.json()["errors"] == [
        "this API token lacks the 'metrics' scope (it has: read, write)"
    ]

    scraper = _token(db_url, "prometheus", ["metrics"])
    scraped = api.client.get("/metrics", headers=scraper)
    assert scraped.status_code == 200
    assert "tocsin_open_incidents" in scraped.text
    assert api.client.get("/metrics", headers=api.admin).status_code == 200


def test_a_metrics_token_reads_nothing_else(api: Api, db_url: str) -> None:
    scraper = _token(db_url, "prometheus", ["metrics"], role="admin")
    for path in ("/incidents", "/users", "/schedules", "/alerts", "/tokens"):
        answer = api.client.get(f"{V1}{path}", headers=scraper)
        assert answer.status_code == 403, path
    declared = api.client.post(
        f"{V1}/incidents", json={"title": "x", "severity": "SEV-3"}, headers=scraper
    )
    assert declared.status_code == 403


@pytest.mark.parametrize(
    ("client", "status"),
    [
        pytest.param("10.1.2.3", 200, id="inside-v4"),
        pytest.param("::ffff:10.9.9.9", 200, id="inside-v4-mapped"),
        pytest.param("fd00::7", 200, id="inside-v6"),
        pytest.param("192.168.1.1", 401, id="outside"),
        pytest.param("fe80::1", 401, id="outside-v6"),
    ],
)
def test_an_allowed_network_scrapes_without_a_token(db_url: str, client: str, status: int) -> None:
    settings = Settings(database_url=db_url, metrics_allow=("10.0.0.0/8", "fd00::/8"))
    app = create_app(settings, run_engine=False)
    with TestClient(app, client=(client, 40000)) as http:
        answer = http.get("/metrics")
        assert answer.status_code == status
        # The allow list opens /metrics only.
        assert http.get(f"{V1}/incidents").status_code == 401
    app.state.engine.dispose()


def test_a_bad_allow_list_is_refused_at_startup(db_url: str) -> None:
    from tocsin.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        create_app(Settings(database_url=db_url, metrics_allow=("10.0.0.0/8", "prometheus")))
    assert raised.value.problems == [
        "TOCSIN_METRICS_ALLOW: 'prometheus' is not a network like 10.0.0.0/8"
    ]
