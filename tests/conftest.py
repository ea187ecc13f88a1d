"""Shared fixtures: one database per test, on SQLite and on PostgreSQL from the same test code.

PostgreSQL tests need a server (TOCSIN_TEST_POSTGRES_URL, by default the local one with trust
auth). Without one they skip with the reason, except under CI=true, where a missing server
fails the run: CI promises the PostgreSQL path was exercised.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tocsin.clock import FixedClock
from tocsin.engine.loop import Engine as Loop
from tocsin.store.db import make_engine, make_sessionmaker, upgrade
from tocsin.store.models import Base

# pytest-xdist workers get COLUMNS=80 from their controller, and Rich would fix every table of
# the CLI to that width at import; the CLI tests say the width they want on each call instead.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

PG_ADMIN_URL = os.environ.get(
    "TOCSIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
T0 = datetime(2024, 6, 20, 10, 30, tzinfo=UTC)


def need(reason: str) -> None:
    """Skip the test for a missing system component, or fail under CI where it must exist."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _postgres_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no server here"
        return f"no PostgreSQL at {PG_ADMIN_URL}: {type(exc).__name__}"
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated SQLite file that each test copies (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@contextmanager
def throwaway_postgres(prefix: str = "tocsin_test") -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, and drop it afterwards."""
    problem = _postgres_available()
    if problem:
        need(problem)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Create a throwaway, migrated PostgreSQL database for the session; drop it afterwards."""
    with throwaway_postgres() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


_KEEP = {"severity_levels", "alembic_version"}
# Children before parents, so each DELETE leaves no row pointing at a deleted one.
_CLEARED = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in _KEEP]


def _reset_postgres(engine: Engine) -> None:
    """Empty the tables and restart their ids, as a fresh migration leaves them.

    DELETE rather than TRUNCATE: TRUNCATE makes new files for every table and index, about half
    a second per test, where deleting the few rows a test wrote takes milliseconds.
    """
    with engine.begin() as connection:
        connection.execute(text("; ".join(f"DELETE FROM {name}" for name in _CLEARED)))
        # The sequences these tables own, as TRUNCATE ... RESTART IDENTITY restarts them.
        connection.execute(
            text(
                "SELECT setval(s.oid::regclass, 1, false) FROM pg_class s"
                " JOIN pg_depend d ON d.objid = s.oid JOIN pg_class t ON t.oid = d.refobjid"
                " WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"
            ),
            {"tables": _CLEARED},
        )
    # Put the seeded scale back, as a fresh migration would leave it.
    from tocsin.core.severity import DEFAULT_SEVERITIES
    from tocsin.store import severities

    with Session(engine) as session, session.begin():
        severities.replace_all(session, list(DEFAULT_SEVERITIES))
    with engine.begin() as connection:  # a fresh database's audit log is empty too
        connection.execute(text("DELETE FROM audit_entries"))


# For tests whose subject is not storage (pages, a real browser, headers, the login throttle):
# they reach the database only through the services and stores, whose own tests run on both
# databases, so a PostgreSQL twin would repeat those queries and test nothing new.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "tocsin.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    _reset_postgres(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """Return an engine on the test database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory of the test database."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session in a transaction, committed at the end of the test when it passed."""
    with sessions() as s, s.begin():
        yield s


@pytest.fixture
def clock() -> FixedClock:
    """Return a clock stopped at the seed's 2024-06-20 10:30 UTC."""
    return FixedClock(T0)


@dataclass
class People:
    """The seed's cast, created in the test database."""

    names: tuple[str, ...] = ("alice", "bob", "carol")


def seed_people(session: Session) -> People:
    """Create Alice, Bob and Carol and the api-gateway service."""
    from tocsin.store import services, users

    for handle in People.names:
        users.create(session, handle=handle, name=handle.capitalize(), now=T0)
    services.create(session, slug="api-gateway", name="API Gateway", owner="alice", now=T0)
    session.flush()
    return People()


@pytest.fixture
def people(session: Session) -> People:
    """Create Alice, Bob and Carol and the api-gateway service in the test's session."""
    return seed_people(session)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests marked slow first, in their order: pytest-xdist hands tests out in this
    order, so a long test met near the end of a parallel run would leave the run waiting on
    it alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


_postgres_ran = 0
_postgres_passed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the PostgreSQL tests that ran, and those that passed.

    Under pytest-xdist the controller receives every worker's reports, so it counts them all.
    """
    global _postgres_ran, _postgres_passed
    if report.when == "call" and "postgres" in report.keywords:
        _postgres_ran += 1
        _postgres_passed += report.passed


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a run in which no PostgreSQL test passed is a failed run."""
    ran_postgres = _postgres_ran > 0 or any("postgres" in item.keywords for item in session.items)
    if IN_CI and ran_postgres and _postgres_passed == 0 and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nCI=true but no PostgreSQL test passed: the PostgreSQL path was not exercised")


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A real Tocsin HTTP server on 127.0.0.1, serving the test database."""

    url: str
    db_url: str
    ca_file: str | None = None
    clock: FixedClock | None = None  # set when the test moves time and runs the engine itself

    def integration(self, type: str, *, service: str = "api-gateway", **kw: object) -> str:
        """Create an integration and return its key."""
        from tocsin.store import integrations

        engine = make_engine(self.db_url)
        with make_sessionmaker(engine)() as session, session.begin():
            _, key = integrations.create(
                session,
                service=service,
                type=type,
                now=datetime.now(UTC),
                **kw,  # type: ignore[arg-type]
            )
        engine.dispose()
        return key


def _serve(
    db_url: str,
    tmp_path: Path,
    *,
    tls: bool,
    seed: bool = True,
    clock: FixedClock | None = None,
    settings: dict[str, object] | None = None,
) -> Iterator[LiveServer]:
    """Serve `db_url`; with `settings`, on Settings made of them whose base URL is the
    server's own (so that links, and the URLs providers sign, are the served ones)."""
    import threading
    import time

    import uvicorn

    from tocsin.server import create_app
    from tocsin.settings import Settings

    if seed:
        engine = make_engine(db_url)
        with make_sessionmaker(engine)() as session, session.begin():
            seed_people(session)
        engine.dispose()
    port = free_port()
    scheme = "https" if tls else "http"
    made = Settings(database_url=db_url)
    if settings is not None:
        own = {"base_url": f"{scheme}://127.0.0.1:{port}", **settings}
        made = Settings(database_url=db_url, **own)  # type: ignore[arg-type]
    app = create_app(made) if clock is None else create_app(made, clock=clock, run_engine=False)
    options: dict[str, object] = {}
    ca_file = None
    if tls:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        options = {
            "ssl_keyfile": str(tmp_path / "key.pem"),
            "ssl_certfile": str(tmp_path / "cert.pem"),
        }
        ca_file = str(tmp_path / "ca.pem")
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
            **options,  # type: ignore[arg-type]
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a slow CI machine may take a while to import and bind
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"{scheme}://127.0.0.1:{port}", db_url, ca_file, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        app.state.engine.dispose()


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """Serve the test database over real HTTP (uvicorn in a thread) for real sender clients."""
    yield from _serve(db_url, tmp_path, tls=False)


@pytest.fixture
def stepped_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The same on a clock stopped at T0 and without an engine: the test runs the engine."""
    yield from _serve(db_url, tmp_path, tls=False, seed=False, clock=FixedClock(T0))


@pytest.fixture
def live_tls_server(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The same over HTTPS with a throwaway CA, for clients that insist on https://."""
    yield from _serve(db_url, tmp_path, tls=True)


@dataclass
class Stepped:
    """A real Tocsin server with provider settings, on a stopped clock, and the engine the test
    runs (its sender built from the same settings, linking to the server)."""

    server: LiveServer
    sessions: sessionmaker[Session]
    clock: FixedClock
    engine: Loop

    def run(self) -> None:
        """Run the engine once: due escalation steps, then the outbox."""
        self.engine.run_once()

    def declare(self, title: str = "Primary down", severity: str = "SEV-1") -> None:
        """Declare an incident on the `database` service, and run the engine once."""
        from tocsin.services import incidents

        with self.sessions() as session, session.begin():
            incidents.declare(
                session,
                title=title,
                severity=severity,
                services=["database"],
                actor="alertmanager",
                now=self.clock.now(),
            )
        self.run()

    def timeline(self, ref: str = "INC-1") -> list[str]:
        from tocsin.services import incidents

        with self.sessions() as session:
            return [e.message for e in incidents.get(session, ref).events]


def stepped_with(
    db_url: str, tmp_path: Path, settings: dict[str, object], config_text: str, **sender: object
) -> Iterator[Stepped]:
    """Serve `db_url` with `settings`, apply `config_text`, and yield the stepped engine."""
    from tocsin import config
    from tocsin.app import DUE_WORK, channel_rules, session_info
    from tocsin.engine.outbox import Sender, adapter_factory
    from tocsin.services import config_apply
    from tocsin.settings import Settings

    clock = FixedClock(T0)
    for server in _serve(db_url, tmp_path, tls=False, seed=False, clock=clock, settings=settings):
        made = Settings(**settings)  # type: ignore[arg-type]
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine, info=session_info(None, channel_rules(made)))
        with sessions() as session, session.begin():
            config_apply.apply(session, config.parse(config_text, "tocsin.yaml"), now=T0)
        outbox = Sender(sessions, clock, adapter_factory(made), base_url=server.url, **sender)  # type: ignore[arg-type]
        yield Stepped(server, sessions, clock, Loop(sessions, clock, DUE_WORK, sender=outbox))
        engine.dispose()
