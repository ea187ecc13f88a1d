"""Request bodies against a real `tocsin serve`: refused by size or missing token before reading.

Raw sockets, because the point is what the server does while a client is still sending: a
declared size over the limit, or an API write without a token, is answered at once without
waiting for the body; a body of unknown length is read only up to the limit.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import T0, seed_people
from tests.serving import Served, serve
from tocsin.store import integrations, tokens, users
from tocsin.store.db import make_engine, make_sessionmaker

API_LIMIT = 256 * 1024
INGEST_LIMIT = 1024 * 1024
HUGE = 500_000_000
PIECE = b"x" * 65536


class Server:
    def __init__(self, process: Served, token: str, key: str) -> None:
        self.process = process
        self.token = token
        self.key = key


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("limits")
    db = where / "tocsin.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_people(session)
        users.create(session, handle="root", role="admin", now=T0)
        _, secret = tokens.create(session, handle="root", name="admin", scopes=["admin"], now=T0)
        _, key = integrations.create(session, service="api-gateway", type="generic", now=T0)
    engine.dispose()
    with serve(url, where / "server.log") as process:
        yield Server(process, secret, key)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _send_until_answered(sock: socket.socket, most: int, *, chunked: bool) -> int:
    """Send body bytes until the server answers or closes, or `most` were sent; return the count."""
    sent = 0
    while sent < most:
        answered, _, _ = select.select([sock], [], [], 0)
        if answered:
            break
        data = b"%x\r\n%s\r\n" % (len(PIECE), PIECE) if chunked else PIECE
        try:
            sock.sendall(data)
        except OSError:  # the server closed: it will not read any more
            break
        sent += len(PIECE)
    else:
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    return sent


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response: status, lower-cased headers, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise AssertionError(f"the connection ended before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _post(
    server: Server,
    path: str,
    headers: dict[str, str],
    *,
    send: int = 0,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes, int]:
    with server.process.connect() as sock:
        sock.sendall(_head("POST", path, headers))
        sent = _send_until_answered(sock, send, chunked=chunked) if send else 0
        status, answer_headers, body = _answer(sock)
    return status, answer_headers, body, sent


def _bearer(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        pytest.param("/api/v1/incidents", API_LIMIT, id="api"),
        pytest.param("/login", API_LIMIT, id="web"),
        pytest.param("/hooks/generic/{key}", INGEST_LIMIT, id="ingest"),
    ],
)
def test_a_declared_size_over_the_limit_is_refused_without_reading(
    server: Server, path: str, limit: int
) -> None:
    # The client sends only the head: an answer comes without waiting for 500 MB.
    url = path.format(key=server.key)
    for headers in ({}, _bearer(server)):
        status, answer_headers, body, _ = _post(
            server, url, {**JSON, **headers, "Content-Length": str(HUGE)}
        )
        assert status == 413
        assert answer_headers["connection"] == "close"
        assert json.loads(body) == {
            "detail": f"the body is {HUGE} bytes; at most {limit} bytes are accepted",
            "errors": [f"the body is {HUGE} bytes; at most {limit} bytes are accepted"],
        }


def test_an_api_write_without_a_known_token_is_refused_before_its_body(server: Server) -> None:
    for headers, problem in (
        ({}, "missing API token; send `Authorization: Bearer <token>`"),
        ({"Authorization": "Bearer tsn_nobody"}, "unknown API token"),
        ({"Authorization": "Basic cm9vdDpyb290"}, "missing API token"),
    ):
        status, answer_headers, body, _ = _post(
            server, "/api/v1/incidents", {**JSON, **headers, "Content-Length": "100000"}
        )
        assert status == 401
        assert answer_headers["www-authenticate"] == "Bearer"
        assert json.loads(body)["detail"].startswith(problem)


def test_huge_bodies_leave_the_server_small(server: Server) -> None:
    # Clients that really send: declared 500 MB without a token, and chunked with a valid one.
    before = server.process.rss_kib()
    sent = []
    for _ in range(2):
        status, _, _, count = _post(
            server, "/api/v1/incidents", {**JSON, "Content-Length": str(HUGE)}, send=64 << 20
        )
        assert status == 413
        sent.append(count)
        status, _, body, count = _post(
            server,
            "/api/v1/incidents",
            {**JSON, **_bearer(server), "Transfer-Encoding": "chunked"},
            send=64 << 20,
            chunked=True,
        )
        assert status == 413
        assert json.loads(body)["detail"] == (
            f"the body is larger than {API_LIMIT} bytes, the limit here"
        )
        sent.append(count)
    grown_mib = (server.process.rss_kib() - before) / 1024
    print(f"RSS grew by {grown_mib:.1f} MiB; bytes the client got to send: {sent}")
    assert grown_mib < 16
    assert all(count < 16 << 20 for count in sent)  # refused long before 64 MiB


def test_a_chunked_ingest_body_over_its_limit_is_refused(server: Server) -> None:
    status, _, body, _ = _post(
        server,
        f"/hooks/generic/{server.key}",
        {**JSON, "Transfer-Encoding": "chunked"},
        send=4 << 20,
        chunked=True,
    )
    assert status == 413
    # The ingestion route answers itself, in the sender's shape, naming the limit.
    assert json.loads(body)["errors"] == [
        f"the body is longer; at most {INGEST_LIMIT} bytes are accepted"
    ]


def test_a_body_under_the_limit_still_works(server: Server) -> None:
    event = json.dumps({"title": "x" * 1000, "severity": "SEV-3"}).encode()
    with server.process.connect() as sock:
        headers = {**JSON, **_bearer(server), "Transfer-Encoding": "chunked"}
        sock.sendall(_head("POST", "/api/v1/incidents", headers))
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event))
        status, _, body = _answer(sock)
    assert status == 201, body
