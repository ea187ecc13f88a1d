"""Run the `tocsin` CLI in-process against the test database, with a controllable clock."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
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


@dataclass
class Cli:
    db_url: str
    clock: FixedClock
    actor: str = "alice"

    def __call__(self, *args: str, input: str | None = None) -> Result:
        # As the real CLI: settings from the environment (TOCSIN_TEMPLATE_DIR...), this database.
        settings = replace(Settings.from_env(), database_url=self.db_url)
        state = State(settings=settings, clock=self.clock)
        runner = CliRunner()
        result = runner.invoke(
            app,
            ["--as", self.actor, *args],
            obj=state,
            input=input,
            env={"COLUMNS": "132"},  # a terminal's width; piped output would be 80
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.code == 0, result.stderr
        return result


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url, FixedClock(T0))
