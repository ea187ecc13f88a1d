"""Ingestion bodies against a real `tocsin serve`: bounded, and never read before the key.

Raw sockets, so the test controls what is sent when: a refusal must arrive while the client
still holds back (or is still sending) the body, which no buffering client library can show.
"""

from __future__ import annotations

import select
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.serving import Served, create_keys, serve

LIMIT = 64 * 1024  # TOCSIN_INGEST_MAX_BODY for these servers
FLOOD = 64 * 1024 * 1024  # a client that got no answer after this much was read in full
WAIT = 20.0  # seconds without an answer before the test gives up (a healthy server: ms)


@pytest.fixture(scope="module")
def server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("bodies")
    shutil.copy(sqlite_template, folder / "tocsin.db")
    url = f"sqlite:///{folder / 'tocsin.db'}"
    keys = create_keys(url, ["alertmanager", "pagerduty", "opsgenie", "generic"])
    with serve(url, folder / "serve.log", TOCSIN_INGEST_MAX_BODY=str(LIMIT)) as served:
        yield served, keys


def _head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunks(size: int = 16 * 1024) -> Iterator[bytes]:
    """Yield chunked-encoding frames of a JSON text that never ends."""
    data = b'{"summary": "' + b"x" * (size - 13)
    while True:
        yield b"%x\r\n%s\r\n" % (len(data), data)
        data = b"x" * size


def _exchange(served: Served, head: bytes, body: Iterable[bytes] = ()) -> tuple[int, int]:
    """Send `head`, then `body` until the server answers; return (status, body bytes sent)."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=WAIT) as conn:
        conn.sendall(head)
        sent = 0
        try:
            for piece in body:
                if select.select([conn], [], [], 0)[0] or sent > FLOOD:
                    break  # an answer came (or never will)
                conn.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        answer = conn.recv(4096)
    status = answer.split(b" ", 2)[1] if answer else b"0"
    return int(status), sent


def _routes(keys: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Return every ingestion route that takes a body, with a valid key where it needs one."""
    genie = {"Authorization": f"GenieKey {keys['opsgenie']}"}
    return [
        (f"/hooks/generic/{keys['generic']}", {}),
        (f"/hooks/alertmanager/{keys['alertmanager']}", {}),
        ("/hooks/alertmanager", {"Authorization": f"Bearer {keys['alertmanager']}"}),
        ("/v2/enqueue", {}),
        ("/v2/change/enqueue", {}),
        ("/v2/alerts", genie),
        ("/v2/alerts/cpu-1/close?identifierType=alias", genie),
        (f"/v2/alerts/cpu-1/acknowledge?apiKey={keys['opsgenie']}", {}),
    ]


def test_a_declared_size_over_the_limit_gets_413_before_any_body(
    server: tuple[Served, dict[str, str]],
) -> None:
    served, keys = server
    for target, headers in _routes(keys):
        head = _head(
            "POST",
            target,
            {**headers, "Content-Type": "application/json", "Content-Length": str(10 << 20)},
        )
        # Nothing of the 10 MB is sent: a server waiting for the body never answers.
        assert _exchange(served, head) == (413, 0), target


def test_a_chunked_body_is_cut_off_at_the_limit(server: tuple[Served, dict[str, str]]) -> None:
    served, keys = server
    for target, headers in _routes(keys):
        head = _head(
            "POST",
            target,
            {**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        status, sent = _exchange(served, head, _chunks())
        assert status == 413, target
        assert LIMIT < sent < FLOOD, target  # answered while the client was still sending


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        pytest.param("/hooks/generic/0123456789abcdef0123456789abcdef", {}, id="generic"),
        pytest.param("/hooks/alertmanager/0123456789abcdef0123456789abcdef", {}, id="am-path"),
        pytest.param("/hooks/alertmanager", {}, id="am-no-bearer"),
        pytest.param("/hooks/alertmanager", {"Authorization": "Bearer nope"}, id="am-bearer"),
        pytest.param("/v2/alerts", {"Authorization": "GenieKey nope"}, id="opsgenie"),
        pytest.param("/v2/alerts", {}, id="opsgenie-no-key"),
        pytest.param("/v2/alerts/a/close?apiKey=nope", {}, id="opsgenie-close"),
    ],
)
@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_a_body_without_a_valid_key_is_never_read(
    server: tuple[Served, dict[str, str]], target: str, headers: dict[str, str], framing: str
) -> None:
    served, _keys = server
    size = (
        {"Content-Length": str(LIMIT - 1)}
        if framing == "declared"
        else {"Transfer-Encoding": "chunked"}
    )
    head = _head("POST", target, {**headers, "Content-Type": "application/json", **size})
    # The key decides before the body: not one byte of it is sent, and the answer comes.
    assert _exchange(served, head) == (401, 0)


def test_a_wrong_kind_of_key_is_refused_before_the_body(
    server: tuple[Served, dict[str, str]],
) -> None:
    served, keys = server
    head = _head(
        "POST",
        f"/hooks/generic/{keys['pagerduty']}",
        {"Content-Type": "application/json", "Content-Length": str(LIMIT - 1)},
    )
    assert _exchange(served, head) == (400, 0)
