"""`tocsin --help` must not load the database layer, the web stack or the services.

Help is what a responder types first, under pressure; loading SQLAlchemy, alembic, pydantic and
the services only to list the commands once made it take more than a second. Whether a module is
imported is checked here, not how long it takes, so the test means the same on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import tocsin

# What help never needs; each pulled in more than a second of imports when it did.
HEAVY = (
    "alembic",
    "fastapi",
    "httpx",
    "jinja2",
    "matplotlib",
    "pydantic",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "yaml",
    "tocsin.api",
    "tocsin.app",
    "tocsin.config",
    "tocsin.drill",
    "tocsin.engine",
    "tocsin.schemas",
    "tocsin.server",
    "tocsin.services",
    "tocsin.store",
    "tocsin.web",
)

# Print the help of the root, of every group and of every command, as a user would ask for it,
# then the modules this process loaded.
EVERY_HELP = """
import json, sys

import typer.main
from typer.testing import CliRunner

from tocsin.cli.main import app

def paths(command, path):
    yield path
    context = command.context_class(command)
    for name in getattr(command, "list_commands", lambda _ctx: [])(context):
        yield from paths(command.get_command(context, name), [*path, name])

helped = 0
for path in paths(typer.main.get_command(app), []):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0 and "Usage: tocsin" in result.stdout, (path, result.output)
    helped += 1
print(json.dumps({"helped": helped, "modules": sorted(sys.modules)}))
"""


def _last_line(code: str) -> Any:
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(run.stdout.splitlines()[-1])


def test_help_of_every_command_loads_nothing_heavy() -> None:
    found = _last_line(EVERY_HELP)
    assert found["helped"] > 50  # the walk reached every group and command
    heavy = [m for m in found["modules"] if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]
    assert heavy == []


def test_importing_the_package_loads_none_of_its_modules() -> None:
    found = _last_line("import json, sys, tocsin; print(json.dumps(sorted(sys.modules)))")
    assert [m for m in found if m.startswith("tocsin.")] == []


def test_every_public_name_is_still_there() -> None:
    assert set(tocsin.__all__) <= set(dir(tocsin))
    for name in tocsin.__all__:
        assert getattr(tocsin, name) is not None, name
