"""`tocsin postmortem`, `tocsin action` and `tocsin report` from the terminal."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli


def resolved_incident(cli: Cli) -> None:
    for handle in ("alice", "bob"):
        cli.ok("user", "add", handle, "--name", handle.capitalize())
    cli.ok("service", "add", "api-gateway", "--owner", "alice")
    cli.ok(
        "incident",
        "declare",
        "All requests returning 502",
        "-s",
        "SEV-1",
        "-S",
        "api-gateway",
        "--started-at",
        "2m ago",
    )
    cli.clock.advance(minutes=1)
    cli.ok("incident", "assign", "INC-1", "alice")
    cli.clock.advance(minutes=11)
    cli.ok("incident", "resolve", "INC-1", "Traffic restored")


def test_draft_edit_review_publish(cli: Cli, tmp_path: Path) -> None:
    resolved_incident(cli)
    drafted = cli.ok("postmortem", "draft", "INC-1").stdout
    assert drafted.startswith("# Postmortem: INC-1 All requests returning 502\n")
    assert "- Duration: 12 minutes\n" in drafted
    again = cli("postmortem", "draft", "INC-1")
    assert (again.code, again.stderr) == (
        4,
        "error: INC-1 already has a postmortem; edit it instead\n",
    )
    text = drafted.replace(
        "## What Went Wrong\n-",
        "## What Went Wrong\n- Bob forgot to validate nginx.conf before the deploy.",
    )
    edited = tmp_path / "pm.md"
    edited.write_text(text)
    cli.ok("postmortem", "edit", "INC-1", "-f", str(edited))
    check = cli("postmortem", "check", "INC-1")
    assert check.code == 1
    assert "Bob forgot" in check.stdout
    cli.ok("postmortem", "status", "INC-1", "in_review")
    published = cli.ok("postmortem", "status", "INC-1", "published")
    assert "warning: line" in published.stderr and "puts the blame on people" in published.stderr
    html = cli.ok("postmortem", "show", "INC-1", "--format", "html").stdout
    assert "<h1>Postmortem: INC-1 All requests returning 502</h1>" in html
    assert cli.ok("postmortem", "show", "INC-1", "--json").json()["status"] == "published"


def test_unresolved_and_unknown_incidents_are_refused(cli: Cli) -> None:
    cli.ok("incident", "declare", "x", "-s", "SEV-3")
    result = cli("postmortem", "draft", "INC-1")
    assert result.stderr == ("error: INC-1 is detected; draft its postmortem once it is resolved\n")
    assert cli("postmortem", "draft", "INC-9").stderr == "error: unknown incident INC-9\n"
    assert cli("postmortem", "show", "INC-1").stderr.startswith(
        "error: INC-1 has no postmortem yet"
    )


def test_action_items_from_the_terminal(cli: Cli) -> None:
    resolved_incident(cli)
    added = cli.ok(
        "action",
        "add",
        "INC-1",
        "Validate nginx config in CI",
        "--owner",
        "bob",
        "--priority",
        "P0",
        "--due",
        "2024-06-25",
        "--json",
    ).json()
    assert (added["priority"], added["owner"], added["due"]) == ("P0", "bob", "2024-06-25")
    listed = cli.ok("action", "list", "--json").json()
    assert [i["priority"] for i in listed] == ["P0", "P2"]  # P2: the runbook reminder
    assert cli.ok("action", "list", "--overdue", "--json").json() == []  # due on the 25th
    cli.clock.advance(days=6)
    overdue = cli.ok("action", "list", "--overdue", "--json").json()
    assert [i["id"] for i in overdue] == [added["id"]]  # P2 items are never "overdue" here
    bad = cli("action", "add", "INC-1", "x", "--owner", "zed", "--priority", "P7")
    assert bad.code == 2
    assert bad.stderr.splitlines() == [
        "error: owner: unknown user 'zed'",
        "error: unknown priority 'P7'; valid priorities: P0, P1, P2, P3",
    ]
    cli.ok("action", "done", str(added["id"]))
    assert cli("action", "done", str(added["id"])).code == 4


def test_report(cli: Cli) -> None:
    resolved_incident(cli)
    data = cli.ok("report", "--since", "all", "--json").json()
    assert data["overall"]["count"] == 1
    assert data["overall"]["mttr_seconds"] == 720.0  # detected 10:30 -> resolved 10:42
    assert data["overall"]["mtta_seconds"] == 60.0  # the IC took command at 10:31
    shown = cli.ok("report", "--since", "all").stdout
    assert "By severity" in shown and "SEV-1" in shown and "12.0 min" in shown


def test_report_plots_png_and_svg(cli: Cli, tmp_path: Path) -> None:
    resolved_incident(cli)
    png, svg = tmp_path / "mttr.png", tmp_path / "mttr.svg"
    cli.ok("report", "--since", "all", "--plot", str(png))
    cli.ok("report", "--since", "all", "--plot", str(svg))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    drawing = svg.read_text()
    assert drawing.startswith("<?xml") and "<svg" in drawing
    bad = cli("report", "--plot", str(tmp_path / "chart.gif"))
    assert bad.code == 2
    assert bad.stderr == "error: the chart file must end in .png or .svg, not 'chart.gif'\n"
