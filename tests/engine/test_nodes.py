"""Real engine processes on one PostgreSQL database: shared work, and a node killed mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import _reset_postgres
from tests.receivers import PageReceiver
from tests.serving import start_engine, wait_for
from tocsin import config
from tocsin.services import config_apply as applier
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    engine = make_engine(postgres_url)
    _reset_postgres(engine)
    engine.dispose()
    return postgres_url


def configure(url: str, receiver: PageReceiver, people: int) -> None:
    users = "\n".join(
        f"  - {{handle: u{n}, contact_methods: [{{name: hook, type: webhook, "
        f'url: "{receiver.url}/u{n}", secret: s}}]}}'
        for n in range(people)
    )
    policies = "\n".join(
        f"  - {{name: p{n}, levels: [{{targets: ['user:u{n}'], delay: 15m}}]}}"
        for n in range(people)
    )
    services = "\n".join(f"  - {{slug: s{n}, escalation_policy: p{n}}}" for n in range(people))
    text = f"users:\n{users}\nescalation_policies:\n{policies}\nservices:\n{services}\n"
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        applier.apply(session, config.parse(text, "nodes.yaml"), now=datetime.now(UTC))
    engine.dispose()


def declare(url: str, count: int, people: int) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    for start in range(0, count, 25):
        with sessions() as session, session.begin():
            for n in range(start, min(count, start + 25)):
                incidents.declare(
                    session,
                    title=f"outage {n}",
                    severity="SEV-2",
                    services=[f"s{n % people}"],
                    actor="test",
                    now=datetime.now(UTC),
                )
    engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_three_engines_deliver_every_page_once(
    pg_url: str, tmp_path: Path, engines: list[subprocess.Popen[bytes]]
) -> None:
    receiver = PageReceiver(secret_for=lambda _user: "s")
    try:
        configure(pg_url, receiver, people=30)
        for _ in range(3):
            # Nobody dies here, so a claim must never run out mid-send: a 3 s claim did on a
            # loaded machine, and an expired claim is re-sent by design (same key, at least once).
            engines.append(start_engine(pg_url, tmp_path / "engines.log", claim_seconds=60))
        declare(pg_url, 300, people=30)
        delivered = wait_for(lambda: len(set(receiver.refs)) == 300, timeout=300)
        time.sleep(1.0)  # a duplicate, if any, would arrive now
        assert delivered, f"{len(set(receiver.refs))} of 300 incidents paged"
        assert sorted(set(receiver.refs), key=lambda r: int(r[4:])) == [
            f"INC-{n}" for n in range(1, 301)
        ]
        repeated = [key for key, n in Counter(receiver.keys).items() if n > 1]
        assert repeated == []  # no idempotency key delivered twice
        assert len(receiver.refs) == 300  # and no incident paged twice
    finally:
        receiver.close()


@pytest.mark.slow
def test_a_killed_engine_loses_no_page(
    db_url: str, tmp_path: Path, engines: list[subprocess.Popen[bytes]]
) -> None:
    pg_url = db_url  # SQLite (the engine of `tocsin serve`) and PostgreSQL alike
    # slow enough to kill the engine mid-send
    receiver = PageReceiver(secret_for=lambda _user: "s", delay=0.25)
    try:
        configure(pg_url, receiver, people=20)
        first = start_engine(pg_url, tmp_path / "engines.log", claim_seconds=3)
        engines.append(first)
        declare(pg_url, 20, people=20)
        assert wait_for(lambda: len(receiver.keys) >= 3, timeout=120)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        before = len(receiver.keys)
        engines.append(start_engine(pg_url, tmp_path / "engines.log", claim_seconds=3))
        assert wait_for(lambda: len(set(receiver.refs)) == 20, timeout=240), (
            f"{len(set(receiver.refs))} of 20 incidents paged"
        )
        time.sleep(1.0)
        counts = Counter(receiver.keys)
        assert len(counts) == 20  # every page arrived
        repeated = [key for key, n in counts.items() if n > 1]
        # only what was in flight when the node died may repeat, with the same key
        assert len(repeated) <= 1, (repeated, before)
    finally:
        receiver.close()
