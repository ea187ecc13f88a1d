"""What every `tocsin` command owes a terminal and a pipe, whichever command it is.

Results go to standard output and problems to standard error; a reader that stops early ends the
command quietly; help names what a value is; the commands a responder needs come first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from tests.cli.conftest import Cli
from tests.cli.test_postmortem_cli import resolved_incident
from tests.conftest import T0
from tocsin.cli.main import app
from tocsin.clock import FixedClock
from tocsin.services import incidents
from tocsin.store.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "three-tier" / "tocsin.yaml"


@pytest.fixture
def no_db(tmp_path: Path) -> Cli:
    return Cli(f"sqlite:///{tmp_path / 'never-created.db'}", FixedClock(T0))


# --- results on standard output --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "result"),
    [
        pytest.param(
            ["schedule", "check", "-c", str(EXAMPLE), "--days", "14"],
            "primary: covered around the clock for the next 14 days\n"
            "secondary: covered around the clock for the next 14 days\n",
            id="schedule-check",
        ),
        pytest.param(
            ["runbook", "check", "-c", str(EXAMPLE)],
            "3 runbook(s): every service has one, in the seed's structure\n",
            id="runbook-check",
        ),
    ],
)
def test_a_check_that_passes_says_so_on_standard_output(
    no_db: Cli, args: list[str], result: str
) -> None:
    passed = no_db(*args)
    assert (passed.code, passed.stdout, passed.stderr) == (0, result, "")


def test_a_schedule_gap_is_still_a_result_with_exit_1(no_db: Cli, tmp_path: Path) -> None:
    config = tmp_path / "tocsin.yaml"
    config.write_text(
        "schedules:\n"
        "  - name: office\n"
        "    time_zone: UTC\n"
        "    layers:\n"
        "      - {name: day, rotation: 1 week, start: 2020-01-06T09:00, participants: [a],\n"
        "         restrictions: [{from: '09:00', to: '17:00'}]}\n"
    )
    found = no_db("schedule", "check", "-c", str(config), "--days", "2")
    assert found.code == 1
    assert "office: 2 uncovered window(s) in the next 2 days" in found.stdout
    assert found.stderr == ""


def test_a_blameless_postmortem_check_says_so_on_standard_output(cli: Cli) -> None:
    resolved_incident(cli)
    cli.ok("postmortem", "draft", "INC-1")
    passed = cli("postmortem", "check", "INC-1")
    assert (passed.code, passed.stdout, passed.stderr) == (0, "No sentence blames a person.\n", "")


def test_a_missing_runbook_is_a_problem_on_standard_error(cli: Cli) -> None:
    cli.ok("service", "add", "web")
    missing = cli("runbook", "show", "web")
    assert (missing.code, missing.stdout, missing.stderr) == (1, "", "web has no runbook\n")


# --- a reader that stops early -----------------------------------------------------------------


def _many_incidents(tmp_path: Path, template: Path, count: int) -> str:
    path = tmp_path / "tocsin.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        for number in range(count):
            incidents.declare(
                session,
                title=f"Checkout {number} fails for every customer in every region",
                severity="SEV-3",
                actor="alice",
                now=T0,
            )
    engine.dispose()
    return url


@pytest.mark.parametrize(
    "args", [pytest.param([], id="table"), pytest.param(["--json"], id="json")]
)
def test_a_closed_pipe_ends_the_command_quietly(
    tmp_path: Path, sqlite_template: Path, args: list[str]
) -> None:
    # More than a pipe buffer of output, and a reader gone before the first byte: the way
    # `tocsin incident list | head -1` meets a closed pipe. Rich's table and the JSON echo
    # write through different paths, so both are tried.
    url = _many_incidents(tmp_path, sqlite_template, 150)
    env = {**os.environ, "TOCSIN_DATABASE_URL": url}
    command = [sys.executable, "-m", "tocsin", "incident", "list", "--limit", "1000", *args]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)
    # As a Unix tool killed by SIGPIPE: status 128 + 13, not a failure, and no words about it.
    assert (code, stderr) == (141, "")


# --- the order of commands ------------------------------------------------------------------

RESPONDER_FIRST = ["incident", "alert", "oncall", "schedule"]
ADMIN = {
    "init",
    "import",
    "apply",
    "export",
    "db",
    "user",
    "token",
    "audit",
    "vapid-keys",
    "serve",
    "engine",
}


def test_help_lists_what_a_responder_needs_first_and_setup_last(no_db: Cli) -> None:
    shown = no_db.ok("--help").stdout.splitlines()
    panel = shown[next(i for i, line in enumerate(shown) if "Commands" in line) + 1 :]
    # A row starts with the command's name; a wrapped description starts with spaces.
    names = [line.split()[1] for line in panel if line.startswith("│ ") and line[2] != " "]
    assert names[: len(RESPONDER_FIRST)] == RESPONDER_FIRST
    assert set(names[-len(ADMIN) :]) == ADMIN
    assert len(names) == len(set(names)) == 28  # every top-level command, each once


# --- help names values the way a person reads them ------------------------------------------


def _command_paths(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _command_paths(sub, (*path, name))
    return found


COMMAND_PATHS = _command_paths(typer.main.get_command(app))
PYTHON_TYPE = re.compile(r"<(str|bool|int|float|list\[\w+\]|datetime|Path)>")


def test_the_command_tree_is_all_there() -> None:
    assert len(COMMAND_PATHS) > 70
    assert ("incident", "declare") in COMMAND_PATHS and ("db", "upgrade") in COMMAND_PATHS


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda path: " ".join(path) or "tocsin")
def test_help_shows_no_python_types(no_db: Cli, path: tuple[str, ...]) -> None:
    shown = no_db.ok(*path, "--help").stdout
    assert PYTHON_TYPE.findall(shown) == []
    # a flag takes no value, so none is shown for it
    assert [line for line in shown.splitlines() if "--help" in line] == [
        line for line in shown.splitlines() if re.search(r"--help\s+Show this message", line)
    ]


def test_help_names_values_by_what_they_are(no_db: Cli) -> None:
    shown = no_db.ok("incident", "declare", "--help").stdout
    named = {
        name: match.group(1) if (match := re.search(rf"{name}\s+(?:-\w\s+)?(\S+)", shown)) else None
        for name in ("title", "--commander", "--started-at", "--severity", "--json")
    }
    assert named == {
        "title": "TEXT",
        "--commander": "HANDLE",
        "--started-at": "TIME",
        "--severity": "TEXT",
        "--json": "Print",  # the help text itself: no value to name
    }
