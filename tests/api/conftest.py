"""An API client on a fresh database, with an admin token and the seed's cast."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import T0, seed_people
from tocsin.clock import FixedClock
from tocsin.server import create_app
from tocsin.settings import Settings
from tocsin.store import tokens, users
from tocsin.store.db import make_engine, make_sessionmaker


@dataclass
class Api:
    """A test client and tokens with each scope."""

    client: TestClient
    clock: FixedClock
    admin: dict[str, str]
    writer: dict[str, str]
    reader: dict[str, str]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_people(session)
        users.create(session, handle="root", name="Root", role="admin", now=T0)
        _, admin = tokens.create(session, handle="root", name="admin", scopes=["admin"], now=T0)
        _, writer = tokens.create(session, handle="alice", name="w", scopes="read,write", now=T0)
        _, reader = tokens.create(session, handle="bob", name="r", scopes=["read"], now=T0)
    engine.dispose()
    clock = FixedClock(T0)
    app = create_app(Settings(database_url=db_url), clock=clock, run_engine=False)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Api(client, clock, _bearer(admin), _bearer(writer), _bearer(reader))
    app.state.engine.dispose()
