"""Every scenario that ships with Tocsin runs clean on the example that ships with it.

A new user's first drill is a shipped scenario on `examples/three-tier`; a step that names a
person or a thing the example lacks shows up on the score card as something that went wrong,
and the drill then scores the scenario, not the response.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.conftest import T0
from tocsin.clock import FixedClock
from tocsin.drill import scenarios

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "three-tier" / "tocsin.yaml"
SHIPPED = [scenario.name for scenario in scenarios.shipped()]


def test_the_shipped_scenarios_are_the_three_the_readme_names() -> None:
    assert SHIPPED == ["api-latency", "bad-deploy", "database-failure"]


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_drill_runs_every_step_on_the_shipped_example(
    name: str, tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "tocsin.db"
    shutil.copy(sqlite_template, path)
    cli = Cli(f"sqlite:///{path}", FixedClock(T0))
    postmortem = tmp_path / "postmortem.md"
    result = cli(
        "drill", name, "-c", str(EXAMPLE), "--speed", "0", "--postmortem-out", str(postmortem)
    )
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Went wrong:" in lines or "Went well:" in lines  # the score card was printed
    failed = [line for line in lines if "could not" in line]
    assert failed == [], "\n".join(failed)
    assert "could not" not in postmortem.read_text(encoding="utf-8")
