"""The engine tests' shared fixtures: a page receiver, and engine processes stopped when a
test ends, however it ends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.receivers import PageReceiver


@pytest.fixture
def engines() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Collect the engine processes a test starts; terminate those still running after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def receiver() -> Iterator[PageReceiver]:
    """A real HTTP server that records the pages sent to it."""
    found = PageReceiver()
    yield found
    found.close()
