"""`tocsin serve` and `tocsin engine` as real processes for tests whose fault needs one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import T0, free_port
from tocsin.store import integrations, services
from tocsin.store.db import make_engine, make_sessionmaker


@dataclass
class Served:
    """A running `tocsin serve`: its base URL and its port."""

    url: str
    port: int
    process: subprocess.Popen[bytes]

    def rss_kib(self) -> int:
        """Return the server's resident memory in KiB (VmRSS)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    def connect(self) -> socket.socket:
        """Return a raw TCP connection to the server."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=15)


@contextmanager
def serve(db_url: str, log: Path, **env: str) -> Iterator[Served]:
    """Run `tocsin serve` on `db_url` until the block ends; its output goes to `log`."""
    port = free_port()
    environment = {**os.environ, "TOCSIN_DATABASE_URL": db_url, **env}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tocsin", "serve", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # a loaded machine may take long to import and bind
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=10)
                break  # any answer, a 503 for a database that is away too: it serves
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tocsin serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Served(url, port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_keys(db_url: str, kinds: list[str], *, service: str = "api-gateway") -> dict[str, str]:
    """Create one integration of each kind on `service` (made if missing); return their keys."""
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            if services.find(session, service) is None:
                services.create(session, slug=service, name=service, now=T0)
            return {
                kind: integrations.create(session, service=service, type=kind, now=T0)[1]
                for kind in kinds
            }
    finally:
        engine.dispose()


def start_engine(
    db_url: str, log: Path, *, claim_seconds: float | None = None
) -> subprocess.Popen[bytes]:
    """Start `tocsin engine` on `db_url`, its errors to `log`; `claim_seconds` None keeps the
    default claim setting."""
    env = {k: v for k, v in os.environ.items() if k != "TOCSIN_CLAIM_SECONDS"}
    env["TOCSIN_DATABASE_URL"] = db_url
    if claim_seconds is not None:
        env["TOCSIN_CLAIM_SECONDS"] = str(claim_seconds)
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "tocsin", "engine"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def wait_for(check: Callable[[], object], timeout: float = 30) -> bool:
    """Poll `check` until it holds or `timeout` seconds pass. The timeouts are waits, not speed
    bounds: each engine is a new Python process, and on a loaded 2-core machine importing
    Tocsin alone has taken over 15 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False
