"""`tocsin serve` in its own process, for faults that need a real server and real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port


@dataclass
class ServerProcess:
    """A running `tocsin serve`: its URL, port and process."""

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
def serve(db_url: str, log: Path, **env: str) -> Iterator[ServerProcess]:
    """Run `tocsin serve` on `db_url` (already migrated) until the block ends; output to `log`."""
    port = free_port()
    environ = {**os.environ, "TOCSIN_DATABASE_URL": db_url, **env}
    output = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tocsin", "serve", "--port", str(port)],
        env=environ,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # importing on a busy machine can be slow
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tocsin serve did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield ServerProcess(url, port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()
