"""A browser-like client on a fresh database: people with passwords in each role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import T0, seed_people
from tocsin.clock import FixedClock
from tocsin.server import create_app
from tocsin.settings import Settings
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def set_passwords(db_url: str) -> None:
    """Seed Alice, Bob and Carol (responders), root (admin) and vera (viewer), with passwords."""
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_people(session)
        users.create(session, handle="root", name="Root", role="admin", now=T0)
        users.create(session, handle="vera", name="Vera Viewer", role="viewer", now=T0)
        for handle in ("alice", "bob", "carol", "root", "vera"):
            users.set_password(session, users.get_by_handle(session, handle), PASSWORD)
    engine.dispose()


@dataclass
class Browser:
    """A TestClient that keeps cookies like a browser and knows the page's CSRF token."""

    client: TestClient
    clock: FixedClock
    db_url: str
    csrf: str = ""
    pages: list[str] = field(default_factory=list)

    def get(self, path: str, **kw: object) -> Response:
        response = self.client.get(path, **kw)  # type: ignore[arg-type]
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return self.client.post(path, data=form, follow_redirects=False)

    def login(self, handle: str, password: str = PASSWORD) -> Response:
        self.get("/login")
        response = self.post("/login", {"handle": handle, "password": password, "next": "/"})
        if response.status_code == 303:
            self.get("/")
        return response


@pytest.fixture(autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Hash with argon2's cheapest parameters: the suite logs in hundreds of times."""
    before = users.use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    yield
    users.use_hasher(before)


@pytest.fixture
def browser(db_url: str) -> Iterator[Browser]:
    set_passwords(db_url)
    clock = FixedClock(T0)
    app = create_app(Settings(database_url=db_url), clock=clock, run_engine=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        yield Browser(client, clock, db_url)
    app.state.engine.dispose()
