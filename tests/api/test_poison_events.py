"""A sender of events the database cannot store, beside good senders, on a real server.

A batch whose commit failed used to answer 503 to every request in it: senders retry 5xx, so
the bad event came back forever and took other senders' events down with it. Now the bad
event gets its 4xx and every good event its 2xx, committed.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.serving import create_keys, serve
from tocsin.store.db import make_engine
from tocsin.store.models import Alert

GOOD_SENDERS = 3
GOOD_EVENTS = 40  # per good sender


def _poison(keys: dict[str, str]) -> list[tuple[str, dict[str, str], bytes]]:
    """Return (path, headers, raw body) of events each of which the database would refuse."""
    am = f"/hooks/alertmanager/{keys['alertmanager']}"
    generic = f"/hooks/generic/{keys['generic']}"

    def group(alert: str) -> bytes:
        return f'{{"version": "4", "status": "firing", "alerts": [{alert}]}}'.encode()

    pd = (
        '{"routing_key": "%s", "event_action": "trigger", "payload": {"summary": "s", '
        '"source": "h", "severity": "critical", "custom_details": %s}}'
    )
    return [
        (generic, {}, json.dumps({"summary": "s", "dedup_key": "k" * 600}).encode()),
        (generic, {}, b'{"summary": "disk \\u0000 full"}'),
        (generic, {}, b'{"summary": "s", "details": {"host": "\\ud800"}}'),
        (am, {}, group(json.dumps({"status": "firing", "fingerprint": "f" * 513}))),
        (am, {}, group('{"status": "firing", "fingerprint": "f", "labels": {"j": "\\u0000"}}')),
        ("/v2/enqueue", {}, (pd % (keys["pagerduty"], '{"x": "\\udfff"}')).encode()),
        ("/v2/enqueue", {}, (pd % (keys["pagerduty"], '{"ratio": NaN}')).encode()),
        (
            "/v2/alerts",
            {"Authorization": f"GenieKey {keys['opsgenie']}"},
            b'{"message": "CPU \\u0000", "alias": "cpu"}',
        ),
    ]


def _good(keys: dict[str, str], sender: int, n: int) -> tuple[str, dict[str, str], bytes, str]:
    """Return (path, headers, body, dedup key) of one good event, in the formats in turn."""
    key = f"good-{sender}-{n}"
    severity = "critical" if n % 5 == 0 else "info"
    match n % 4:
        case 0:
            body = {"summary": f"disk {key}", "dedup_key": key, "severity": severity}
            return f"/hooks/generic/{keys['generic']}", {}, json.dumps(body).encode(), key
        case 1:
            alert = {"status": "firing", "fingerprint": key, "labels": {"severity": severity}}
            body = {"version": "4", "status": "firing", "alerts": [alert]}
            return f"/hooks/alertmanager/{keys['alertmanager']}", {}, json.dumps(body).encode(), key
        case 2:
            body = {
                "routing_key": keys["pagerduty"],
                "event_action": "trigger",
                "dedup_key": key,
                "payload": {"summary": key, "source": "db", "severity": severity},
            }
            return "/v2/enqueue", {}, json.dumps(body).encode(), key
        case _:
            body = {"message": key, "alias": key, "priority": "P5"}
            genie = {"Authorization": f"GenieKey {keys['opsgenie']}"}
            return "/v2/alerts", genie, json.dumps(body).encode(), key


@pytest.mark.slow
def test_a_poison_sender_fails_only_its_own_events(db_url: str, tmp_path: Path) -> None:
    keys = create_keys(db_url, ["alertmanager", "pagerduty", "opsgenie", "generic"])
    poison = _poison(keys)
    done = threading.Event()
    poison_answers: list[tuple[int, int, str]] = []
    headers = {"Content-Type": "application/json"}
    with serve(db_url, tmp_path / "serve.log") as served:

        def send_poison() -> None:
            with httpx.Client(base_url=served.url, timeout=30) as client:
                n = 0
                while not done.is_set() or n < len(poison):
                    path, extra, body = poison[n % len(poison)]
                    answer = client.post(path, content=body, headers={**headers, **extra})
                    poison_answers.append((n % len(poison), answer.status_code, answer.text))
                    n += 1

        def send_good(sender: int) -> list[tuple[str, int, str]]:
            answers = []
            with httpx.Client(base_url=served.url, timeout=30) as client:
                for n in range(GOOD_EVENTS):
                    path, extra, body, key = _good(keys, sender, n)
                    answer = client.post(path, content=body, headers={**headers, **extra})
                    answers.append((key, answer.status_code, answer.text))
            return answers

        poisoner = threading.Thread(target=send_poison)
        poisoner.start()
        try:
            with ThreadPoolExecutor(GOOD_SENDERS) as pool:
                good = [a for answers in pool.map(send_good, range(GOOD_SENDERS)) for a in answers]
        finally:
            done.set()
            poisoner.join(timeout=60)
    assert not poisoner.is_alive(), "the poison sender never finished"
    assert len(poison_answers) >= len(poison)  # every kind of poison was answered

    failed = [(key, status, text) for key, status, text in good if not 200 <= status < 300]
    assert failed == []
    refused = [(n, status, text) for n, status, text in poison_answers if status not in (400, 422)]
    assert refused == []  # a 4xx, never a 503 the sender would retry forever
    engine = make_engine(db_url)
    with Session(engine) as session:
        stored = set(session.scalars(select(Alert.dedup_key)))
    engine.dispose()
    assert stored == {key for key, _status, _text in good}  # every 2xx is committed, no poison
