"""Engine processes a test starts are stopped when it ends, however it ends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest


@pytest.fixture
def engines() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Collect the engine processes a test starts; terminate those still running after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
