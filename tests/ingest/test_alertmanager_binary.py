"""The real Alertmanager binary sends webhook and pagerduty_configs notifications to Tocsin.

Alerts are pushed with `amtool` (firing) and Alertmanager's own /api/v2/alerts (resolved); the
test waits for the incident, then for the resolve, as a person watching Tocsin would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.conftest import LiveServer, free_port, need
from tocsin.services import alerts, incidents
from tocsin.store.db import make_engine

BINARIES = ("prometheus-alertmanager", "alertmanager")


def _binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    need("no Alertmanager binary (Debian package prometheus-alertmanager)")
    raise AssertionError("unreachable")


@pytest.fixture
def alertmanager(live_server: LiveServer, tmp_path: Path) -> Iterator[str]:
    binary = _binary()
    amtool = shutil.which("amtool")
    if amtool is None:
        need("no amtool (Debian package prometheus-alertmanager)")
    webhook_key = live_server.integration("alertmanager")
    pd_key = live_server.integration("pagerduty", name="am-pagerduty")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: tocsin
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: {live_server.url}/hooks/alertmanager/{webhook_key}
    pagerduty_configs:
      - routing_key: "{pd_key}"
        url: {live_server.url}/v2/enqueue
        severity: '{{{{ .CommonLabels.severity }}}}'
"""
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), "Alertmanager to start", timeout=30)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def wait_for(check: Callable[[], Any], what: str, *, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def state(live: LiveServer) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    engine = make_engine(live.db_url)
    with Session(engine) as session:
        found = [(a.integration.type, a.status, a.summary) for a in alerts.list_(session)]
        incs = [(f"INC-{i.number}", i.severity, i.status) for i in incidents.list_(session)]
    engine.dispose()
    return sorted(found), incs


def test_alertmanager_pages_tocsin_and_resolves(alertmanager: str, live_server: LiveServer) -> None:
    amtool = shutil.which("amtool")
    assert amtool is not None
    subprocess.run(
        [
            amtool,
            "alert",
            "add",
            "alertname=DatabasePrimaryDown",
            "severity=critical",
            "instance=db-1",
            "--annotation=summary=primary is not accepting connections",
            f"--alertmanager.url={alertmanager}",
        ],
        check=True,
        capture_output=True,
    )

    def fired() -> Any:
        found, incs = state(live_server)
        return (found, incs) if len(found) == 2 and incs else None

    found, incs = wait_for(fired, "both notifications and the incident")
    assert incs == [("INC-1", "SEV-1", "detected")]
    assert found == [
        ("alertmanager", "triggered", "DatabasePrimaryDown: primary is not accepting connections"),
        ("pagerduty", "triggered", "[FIRING:1] DatabasePrimaryDown (db-1 critical)"),
    ]

    now = datetime.now(UTC)
    resolved = [
        {
            "labels": {
                "alertname": "DatabasePrimaryDown",
                "severity": "critical",
                "instance": "db-1",
            },
            "annotations": {"summary": "primary is not accepting connections"},
            "startsAt": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
            "endsAt": now.isoformat().replace("+00:00", "Z"),
        }
    ]
    request = urllib.request.Request(
        f"{alertmanager}/api/v2/alerts",
        data=json.dumps(resolved).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200

    def all_resolved() -> Any:
        found, incs = state(live_server)
        return (found, incs) if found and all(s == "resolved" for _, s, _ in found) else None

    found, incs = wait_for(all_resolved, "the resolve notifications")
    assert [status for _, status, _ in found] == ["resolved", "resolved"]
    # the incident stays open for a person to resolve, and says why
    assert incs == [("INC-1", "SEV-1", "detected")]
    engine = make_engine(live_server.db_url)
    with Session(engine) as session:
        last = incidents.get(session, "INC-1").events[-1]
        assert last.kind == "alerts_resolved"
    engine.dispose()
