"""While PostgreSQL cannot be reached: 503 with a JSON body and Retry-After, then recovery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL, T0, free_port, seed_people, throwaway_postgres
from tests.serving import serve
from tocsin.server import create_app
from tocsin.settings import Settings
from tocsin.store import tokens, users
from tocsin.store.db import make_engine, make_sessionmaker, upgrade

V1 = "/api/v1"


def _assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["retry-after"]) > 0
    body = answer.json()
    assert body["detail"].startswith("the database is unavailable")
    assert body["errors"] and all(e.startswith("database: ") for e in body["errors"])


@pytest.fixture
def own_database() -> Iterator[str]:
    """A PostgreSQL database of this test's own, which it may make unreachable."""
    with throwaway_postgres("tocsin_down") as url:
        yield url


def _allow_connections(url: str, allow: bool) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {allow}'))
        if not allow:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
    admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_server_whose_database_goes_away_answers_503_and_recovers(
    own_database: str, tmp_path: Path
) -> None:
    engine = make_engine(own_database)
    upgrade(engine)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_people(session)
        users.create(session, handle="root", role="admin", now=T0)
        _, secret = tokens.create(session, handle="root", name="admin", scopes=["admin"], now=T0)
    engine.dispose()
    token = {"Authorization": f"Bearer {secret}"}
    with (
        serve(own_database, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, headers=token, timeout=30) as http,
    ):
        assert http.get("/healthz").status_code == 200
        assert http.get(f"{V1}/incidents").status_code == 200

        _allow_connections(own_database, False)
        health = http.get("/healthz")
        _assert_unavailable(health)
        assert health.json()["status"] == "unavailable"
        assert health.json()["checks"]["database"].startswith("down: ")
        _assert_unavailable(http.get(f"{V1}/incidents"))
        _assert_unavailable(http.get(f"{V1}/users/alice"))
        _assert_unavailable(http.post(f"{V1}/incidents", json={"title": "x", "severity": "SEV-3"}))
        _assert_unavailable(http.get("/metrics"))
        _assert_unavailable(http.get("/status"))

        _allow_connections(own_database, True)
        deadline = time.monotonic() + 30
        while http.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)
        assert http.get("/healthz").json()["checks"] == {"database": "ok"}
        declared = http.post(f"{V1}/incidents", json={"title": "x", "severity": "SEV-3"})
        assert declared.status_code == 201


def test_a_database_port_nobody_listens_on_answers_503() -> None:
    url = f"postgresql+psycopg://tocsin@127.0.0.1:{free_port()}/tocsin"
    app = create_app(Settings(database_url=url), run_engine=False)
    with TestClient(app, raise_server_exceptions=False) as http:
        health = http.get("/healthz")
        _assert_unavailable(health)
        assert health.json()["checks"] == {"database": "down: OperationalError"}
        token = {"Authorization": "Bearer tsn_anything"}
        _assert_unavailable(http.get(f"{V1}/incidents", headers=token))
        _assert_unavailable(http.delete(f"{V1}/tokens/1", headers=token))
        _assert_unavailable(http.get("/metrics", headers=token))
    app.state.engine.dispose()
