"""Config as code: `tocsin.yaml` read into validated models, every problem with file and line.

    users:      [{handle, name, email, time_zone, role}]
    services:   [{slug, name, owner, description, severity_definitions}]
    severities: [{name, definition, response_time, example, update_cadence, notify_executives}]

Problems are reported all at once, as `tocsin.yaml:12: services[2].owner: unknown user "zed"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.core.severity import Severity
from tocsin.core.timeutil import parse_duration
from tocsin.errors import InvalidInput, TocsinError


class Spec(BaseModel):
    """Base of every section: unknown keys are an error (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserSpec(Spec):
    handle: str
    name: str | None = None
    email: str | None = None
    time_zone: str = "UTC"
    role: str = "responder"


class ServiceSpec(Spec):
    slug: str
    name: str | None = None
    owner: str | None = None
    description: str = ""
    severity_definitions: dict[str, str | dict[str, str]] = Field(default_factory=dict)


class SeveritySpec(Spec):
    name: str
    definition: str
    response_time: str = Field(description="Like 5m or 1h, or 'next business day'.")
    example: str = ""
    update_cadence: str | None = None
    notify_executives: bool = False


class ConfigSpec(Spec):
    users: list[UserSpec] = Field(default_factory=list)
    services: list[ServiceSpec] = Field(default_factory=list)
    severities: list[SeveritySpec] | None = None


@dataclass
class Config:
    """A loaded config file and where each of its paths sits in the file."""

    spec: ConfigSpec
    path: str = "<config>"
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, path: str) -> str:
        """Return "file:line" for a path like services[2].owner (the nearest known line)."""
        probe = path
        while probe:
            if probe in self.lines:
                return f"{self.path}:{self.lines[probe]}"
            probe = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
        return self.path

    def problem(self, path: str, message: str) -> str:
        """Return a problem line that names the file, the line and the path."""
        return f"{self.where(path)}: {path}: {message}" if path else f"{self.path}: {message}"

    def severity_levels(self) -> list[Severity] | None:
        """Return the file's severity scale, ranked in the order written, or None."""
        if self.spec.severities is None:
            return None
        return [
            Severity(
                name=s.name,
                rank=i + 1,
                definition=s.definition,
                example=s.example,
                response_time=_response_time(s.response_time),
                business_hours=_is_business_day(s.response_time),
                update_cadence=parse_duration(s.update_cadence) if s.update_cadence else None,
                notify_executives=s.notify_executives,
            )
            for i, s in enumerate(self.spec.severities)
        ]


def _is_business_day(text: str) -> bool:
    return text.strip().lower() in {"next business day", "business day"}


def _response_time(text: str) -> timedelta | None:
    return None if _is_business_day(text) else parse_duration(text)


def _line_map(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            lines[child] = key.start_mark.line + 1
            _line_map(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, f"{path}[{i}]", lines)


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse(text: str, path: str = "<config>") -> Config:
    """Return the config in YAML `text`, or raise InvalidInput listing every problem."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{where}: not valid YAML: {reason}") from exc
    lines: dict[str, int] = {}
    if root is not None:
        _line_map(root, "", lines)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: the top level must be a mapping with users:, services: ...")
    config = Config(ConfigSpec(), path=path, lines=lines)
    try:
        config.spec = ConfigSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _dotted(tuple(err["loc"]))
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(config.problem(where, message))
        raise InvalidInput.of(problems) from None
    problems = []
    for i, s in enumerate(config.spec.severities or []):
        for name in ("response_time", "update_cadence"):
            value = getattr(s, name)
            if value is None or (name == "response_time" and _is_business_day(value)):
                continue
            try:
                parse_duration(value)
            except TocsinError as exc:
                problems.append(config.problem(f"severities[{i}].{name}", exc.message))
    if problems:
        raise InvalidInput.of(problems)
    return config


def load(path: Path | str) -> Config:
    """Return the config in file `path`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
    return parse(text, str(file))


def dump(data: dict[str, Any]) -> str:
    """Return `data` as YAML in the file's layout (keys in the order given)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
