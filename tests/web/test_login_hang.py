"""Concurrent failed logins against a real `tocsin serve` on SQLite: the server keeps serving.

Wrong passwords used to be checked on the event loop inside a session that held SQLite's write
lock until a teardown that itself needed the loop: the next login blocked the loop on that lock
and the whole process stopped, /healthz and SIGTERM included.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher, profiles

from tests.conftest import T0
from tests.serving import serve
from tocsin.store import users
from tocsin.store.db import make_engine, make_sessionmaker

ROUNDS = 4
CLIENTS = 4
ATTEMPTS = 8  # wrong passwords per client and round
PASSWORD = "correct horse battery"
# Generous: a healthy server answers in milliseconds even on a loaded machine.
TIMEOUT = 15.0


def _seed(path: Path, handles: list[str]) -> None:
    """Create users with passwords, hashed cheaply (argon2 reads its cost from the hash)."""
    before = users.use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
    engine = make_engine(f"sqlite:///{path}")
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            for handle in handles:
                user = users.create(session, handle=handle, now=T0)
                users.set_password(session, user, PASSWORD)
    finally:
        engine.dispose()
        users.use_hasher(before)


def _guess(base: str, handle: str, client: int, stop: threading.Event, out: list[int]) -> None:
    """Post wrong passwords for `handle` as one browser; record each answer's status."""
    with httpx.Client(base_url=base, timeout=TIMEOUT) as browser:
        try:
            browser.get("/login")
            csrf = browser.cookies["tocsin_login_csrf"]
            for attempt in range(ATTEMPTS):
                if stop.is_set():
                    return
                answer = browser.post(
                    "/login",
                    data={"handle": handle, "password": "wrong", "csrf_token": csrf},
                    # Each attempt from its own address (the server trusts a proxy on
                    # loopback), so the throttle lets them reach the password check.
                    headers={"X-Forwarded-For": f"10.{client}.{attempt}.1"},
                )
                out.append(answer.status_code)
        except httpx.HTTPError:
            out.append(-1)  # no answer: the assertions on `out` report it


def _hammer(
    base: str,
    server: subprocess.Popen[bytes],
    handles: list[str],
    stop: threading.Event,
    answers: list[list[int]],
) -> None:
    """Send wrong passwords from every client while probing /healthz, then SIGTERM mid-burst."""
    clients = [
        threading.Thread(target=_guess, args=(base, h, n, stop, answers[n]), daemon=True)
        for n, h in enumerate(handles)
    ]
    for client in clients:
        client.start()
    health: list[int] = []
    with httpx.Client(base_url=base, timeout=TIMEOUT) as probe:
        while any(c.is_alive() for c in clients):
            try:
                health.append(probe.get("/healthz").status_code)
            except httpx.TimeoutException:
                pytest.fail(
                    f"/healthz gave no answer within {TIMEOUT} s during concurrent failed "
                    f"logins (answers so far: {answers})"
                )
            time.sleep(0.02)
    assert health and set(health) == {200}
    assert all(a == [401] * ATTEMPTS for a in answers), answers
    # SIGTERM while clients keep logging in: the server still stops.
    stop.clear()
    again = [
        threading.Thread(target=_guess, args=(base, h, n + 10, stop, []), daemon=True)
        for n, h in enumerate(handles)
    ]
    for client in again:
        client.start()
    time.sleep(0.2)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("tocsin serve ignored SIGTERM while clients were logging in")
    stop.set()


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_failed_logins_leave_the_server_serving(
    round_: int, sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "tocsin.db"
    shutil.copy(sqlite_template, path)
    handles = [f"user{n}" for n in range(CLIENTS)]
    _seed(path, handles)
    stop = threading.Event()
    answers: list[list[int]] = [[] for _ in handles]
    with serve(f"sqlite:///{path}", tmp_path / "serve.log") as served:
        try:
            _hammer(served.url, served.process, handles, stop, answers)
        finally:
            stop.set()
