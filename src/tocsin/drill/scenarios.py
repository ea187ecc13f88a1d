"""Find and read drill scenarios: the shipped ones in `tocsin/data/drills/`, or any YAML file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from tocsin.config import line_map, locate
from tocsin.core.drill import Scenario, parse_scenario
from tocsin.errors import InvalidInput


def _shipped() -> dict[str, str]:
    folder = resources.files("tocsin") / "data" / "drills"
    return {
        entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def shipped() -> list[Scenario]:
    """Return the scenarios that ship with Tocsin, by name."""
    return [parse(text, f"{name}.yaml") for name, text in sorted(_shipped().items())]


def load(name_or_path: str) -> Scenario:
    """Return a shipped scenario by name, or the scenario in a YAML file."""
    found = _shipped()
    if name_or_path in found:
        return parse(found[name_or_path], f"{name_or_path}.yaml")
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
        return parse(text, str(path), fallback_name=path.stem)
    raise InvalidInput(
        f"unknown drill scenario {name_or_path!r}; shipped: {', '.join(sorted(found))} "
        "(or give the path of a scenario .yaml file)"
    )


def parse(text: str, source: str, *, fallback_name: str = "") -> Scenario:
    """Return the scenario in YAML `text`; problems name the file, line and path."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise InvalidInput(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    lines = line_map(root)
    try:
        return parse_scenario(data, fallback_name=fallback_name)
    except InvalidInput as exc:
        problems = [_locate(problem, source, lines) for problem in exc.problems or [exc.message]]
        raise InvalidInput.of(problems) from None


def _locate(problem: str, source: str, lines: dict[str, int]) -> str:
    path, sep, _rest = problem.partition(": ")
    return f"{locate(lines, source, path if sep else '')}: {problem}"
