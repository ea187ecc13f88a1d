"""Run the `tocsin` CLI in-process against the test database, with a controllable clock."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlalchemy import Engine
from typer.core import TyperGroup
from typer.testing import CliRunner

from tests.conftest import T0
from tocsin.cli.common import State
from tocsin.cli.main import app
from tocsin.clock import FixedClock
from tocsin.settings import Settings


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@cache
def command() -> TyperGroup:
    """Return the command tree, built once: `CliRunner.invoke` rebuilds it from the Typer app on
    every call, about 0.1 s of CPU each time, for over a thousand calls in the suite."""
    built = typer.main.get_command(app)
    assert isinstance(built, TyperGroup)
    return built


@dataclass
class Cli:
    db_url: str
    clock: FixedClock
    actor: str = "alice"
    # One engine for the test's invocations, as for the test's other code: a new one each call
    # would set up its dialect and compile every statement again (a third of the CLI tests' CPU).
    engines: dict[str, Engine] = field(default_factory=dict)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        # As the real CLI: settings from the environment (TOCSIN_TEMPLATE_DIR...), this database.
        settings = replace(Settings.from_env(), database_url=self.db_url)
        state = State(settings=settings, clock=self.clock, engines=self.engines)
        # What `CliRunner.invoke` does, on the command tree built once.
        runner = CliRunner()
        env = {"COLUMNS": "132"}  # a terminal's width; piped output would be 80
        with runner.isolation(input=input, env=env) as (stdout, stderr, _):
            code = 0
            try:
                command().main(["--as", self.actor, *args], prog_name="tocsin", obj=state)
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
                if exit.code is not None and not isinstance(exit.code, int):
                    sys.stdout.write(f"{exit.code}\n")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                said = [
                    stream.getvalue().decode(runner.charset, "replace")
                    for stream in (stdout, stderr)
                ]
        out, err = (text.replace("\r\n", "\n") for text in said)
        return Result(code, out, err)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.code == 0, result.stderr
        return result


@pytest.fixture
def cli(db_url: str) -> Iterator[Cli]:
    runner = Cli(db_url, FixedClock(T0))
    yield runner
    for engine in runner.engines.values():
        engine.dispose()


def run_import(
    source: str, cli: Cli, out: Path, *args: str, verify: bool = False
) -> tuple[int, str, str]:
    """Run `tocsin import SOURCE ARGS` writing into folder `out` (made if missing): the config,
    the report, and the kept keys, or the schedules checked with `verify`."""
    out.mkdir(exist_ok=True)
    extra = ("--verify",) if verify else ("--keep-keys",)
    result = cli(
        "import",
        source,
        *args,
        "-o",
        str(out / "tocsin.yaml"),
        *extra,
        "--report",
        str(out / "report.md"),
    )
    return result.code, result.stdout, result.stderr


@pytest.fixture
def dst_cli(db_url: str) -> Iterator[Cli]:
    """The CLI on 2024-10-14: the next 8 weeks hold Berlin's clock change (10-27) and New
    York's (11-03), which the importers' schedule fixtures cross."""
    from datetime import UTC, datetime

    cli = Cli(db_url, FixedClock(datetime(2024, 10, 14, tzinfo=UTC)))
    cli.ok("db", "upgrade")
    yield cli
    for engine in cli.engines.values():
        engine.dispose()
