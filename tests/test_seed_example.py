"""The seed's own program, using Tocsin's Incident, prints exactly what the seed's class did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tocsin import Incident, InvalidInput

ROOT = Path(__file__).resolve().parents[1]

# The seed's "Expected output", with the one space its summary() puts before each timeline line.
EXPECTED = (
    "=== Incident Summary ===\n"
    "Severity: SEV-1\n"
    "Service: api-gateway\n"
    "Description: All requests returning 502\n"
    "IC: Alice\n"
    "Status: resolved\n"
    " IC assigned: Alice\n"
    " Responder added: Bob (Networking)\n"
    " Responder added: Carol (Backend)\n"
    " [MITIGATING] Rolling back last deployment\n"
    " [RESOLVED] Rollback complete, traffic restored\n"
)


def test_seed_script_prints_the_expected_output_byte_for_byte() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_incident_commander.py")],
        capture_output=True,
        check=True,
    )
    assert result.stdout.decode() == EXPECTED
    assert result.stderr == b""


def test_seed_script_is_the_seed_with_only_the_import_added() -> None:
    source = (ROOT / "examples" / "seed_incident_commander.py").read_text()
    assert "from tocsin import Incident" in source
    assert "class Incident" not in source


def test_seed_class_keeps_the_seed_attributes() -> None:
    incident = Incident("SEV-2", "db", "Replica lag")
    incident.assign_ic("Alice")
    incident.add_responder("Bob", "Database")
    assert incident.ic == "Alice"
    assert incident.responders == [{"name": "Bob", "role": "Database"}]
    assert incident.status == "detected"
    assert incident.timeline == ["IC assigned: Alice", "Responder added: Bob (Database)"]


def test_seed_class_rejects_unknown_status_and_severity() -> None:
    incident = Incident("SEV-1", "api-gateway", "502s")
    with pytest.raises(InvalidInput, match="valid statuses: detected, triaging"):
        incident.update_status("fixed", "done")
    with pytest.raises(InvalidInput, match="valid severities: SEV-1, SEV-2, SEV-3, SEV-4"):
        Incident("SEV-9", "api-gateway", "502s")
