"""`tocsin serve` as a real process: refuses an unmigrated database, then serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_refuses_an_unmigrated_database_then_serves(tmp_path: Path) -> None:
    env = {**os.environ, "TOCSIN_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    tocsin = [sys.executable, "-m", "tocsin"]
    port = str(_free_port())
    refused = subprocess.run(
        [*tocsin, "serve", "--port", port], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 6
    assert "run `tocsin db upgrade`" in refused.stderr
    subprocess.run([*tocsin, "db", "upgrade"], env=env, check=True, capture_output=True)
    token = (
        subprocess.run(
            [*tocsin, "init", "--json"], env=env, check=True, capture_output=True, text=True
        )
        .stdout.split('"token": "')[1]
        .split('"')[0]
    )
    server = subprocess.Popen(
        [*tocsin, "serve", "--port", port],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        declared = httpx.post(
            f"{base}/api/v1/incidents", json={"title": "x", "severity": "SEV-3"}, headers=headers
        )
        assert declared.status_code == 201
        listed = subprocess.run(
            [*tocsin, "incident", "list", "--json"], env=env, capture_output=True, text=True
        )
        assert '"ref": "INC-1"' in listed.stdout  # a 2xx means it is committed
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_served_application_is_out_of_the_collectors_walk(tmp_path: Path) -> None:
    """What starting built (the app, its routes, the ORM's mappings) is never walked again by
    a full garbage collection: one such walk paused a started server for about 100 ms."""
    import gc

    from tocsin.server import serving_app
    from tocsin.settings import Settings

    try:
        app = serving_app(Settings(database_url=f"sqlite:///{tmp_path / 'served.db'}"))
        assert gc.get_freeze_count() > 0
        assert not any(tracked is app for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
