"""One SEV-1 run twice, once with only the CLI and once with only HTTP: the same timeline."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin.clock import FixedClock


def run_with_cli(cli: Cli) -> list[tuple[str, str, str, str]]:
    cli.ok("incident", "declare", "All requests returning 502", "-s", "SEV-1", "-S", "api-gateway")
    cli.clock.advance(minutes=1)
    cli.ok("incident", "assign", "INC-1", "alice")
    cli.ok("incident", "add-responder", "INC-1", "bob", "-p", "Networking")
    cli.ok("incident", "add-responder", "INC-1", "carol", "-p", "Backend")
    cli.ok("incident", "ack", "INC-1")
    cli.clock.advance(minutes=1)
    cli.ok("incident", "status", "INC-1", "triaging", "Looking at the gateway")
    cli.ok("incident", "severity", "INC-1", "SEV-2", "--reason", "only EU affected")
    cli.ok("incident", "update", "INC-1", "Errors in EU", "--public")
    cli.ok("incident", "update", "INC-1", "Suspect v2.3.1")
    cli.ok("incident", "note", "INC-1", "v2.3.1 deployed 10:27")
    cli.clock.advance(minutes=6)
    cli.ok("incident", "status", "INC-1", "mitigating", "Rolling back last deployment")
    cli.clock.advance(minutes=4)
    cli.ok("incident", "resolve", "INC-1", "Rollback complete, traffic restored")
    events = cli.ok("incident", "timeline", "INC-1", "--json").json()
    return [(e["at"], e["actor"], e["kind"], e["message"]) for e in events]


def run_with_http(api: Api) -> list[tuple[str, str, str, str]]:
    c, w, inc = api.client, api.writer, "/api/v1/incidents/INC-1"

    def post(path: str, body: dict[str, object] | None = None) -> None:
        answer = c.post(path, json=body, headers=w)
        assert answer.status_code in (200, 201), answer.text

    post(
        "/api/v1/incidents",
        {"title": "All requests returning 502", "severity": "SEV-1", "services": ["api-gateway"]},
    )
    api.clock.advance(minutes=1)
    post(f"{inc}/roles", {"user": "alice"})
    post(f"{inc}/responders", {"user": "bob", "speciality": "Networking"})
    post(f"{inc}/responders", {"user": "carol", "speciality": "Backend"})
    post(f"{inc}/acknowledge")
    api.clock.advance(minutes=1)
    post(f"{inc}/status", {"status": "triaging", "message": "Looking at the gateway"})
    post(f"{inc}/severity", {"severity": "SEV-2", "reason": "only EU affected"})
    post(f"{inc}/updates", {"message": "Errors in EU", "visibility": "public"})
    post(f"{inc}/updates", {"message": "Suspect v2.3.1"})
    post(f"{inc}/notes", {"message": "v2.3.1 deployed 10:27"})
    api.clock.advance(minutes=6)
    post(f"{inc}/status", {"status": "mitigating", "message": "Rolling back last deployment"})
    api.clock.advance(minutes=4)
    post(f"{inc}/resolve", {"message": "Rollback complete, traffic restored"})
    events = c.get(f"{inc}/timeline", headers=api.reader).json()
    return [(e["at"], e["actor"], e["kind"], e["message"]) for e in events]


def test_cli_and_http_write_the_same_timeline(api: Api, tmp_path) -> None:
    http_timeline = run_with_http(api)

    cli = Cli(f"sqlite:///{tmp_path / 'cli.db'}", FixedClock(T0))
    cli.ok("db", "upgrade")
    for handle in ("alice", "bob", "carol"):
        cli.ok("user", "add", handle, "--name", handle.capitalize())
    cli.ok("service", "add", "api-gateway")
    cli_timeline = run_with_cli(cli)

    assert cli_timeline == http_timeline
    assert [kind for _, _, kind, _ in cli_timeline] == [
        "declared",
        "role_assigned",
        "role_assigned",
        "role_assigned",
        # no "acknowledged": taking command already acknowledged it
        "status_changed",
        "severity_changed",
        "status_update",
        "status_update",
        "note",
        "status_changed",
        "status_changed",
    ]
    assert cli_timeline[-1] == (
        "2024-06-20T10:42:00Z",
        "alice",
        "status_changed",
        "[RESOLVED] Rollback complete, traffic restored",
    )
