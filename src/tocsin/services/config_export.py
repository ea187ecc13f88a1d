"""Export the configuration in the database as a `tocsin.yaml` that `apply` reads back.

What export writes, applied to the same database, changes nothing; exporting again gives the same
bytes. Defaults are left out, so the file reads like one a person wrote.

Not written, on purpose:
- integration keys: only their hashes are stored, and a fresh install gets fresh keys;
- webhook signing secrets, unless asked for: `apply` keeps a stored secret when the file names
  none, so the round trip holds on this database without the secret in the file;
- incidents, alerts, maintenance windows and overrides people added by hand: operational state,
  not configuration.
Slack incoming-webhook URLs are written: the URL is the method, there is nothing else to write.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from sqlalchemy.orm import Session

from tocsin.services.config import FILE_ORDER, SECTIONS

__all__ = ["dump", "export", "has_secrets"]

HEADER = """\
# Written by `tocsin export`; apply it with `tocsin apply -f`.
"""
RUNBOOK_HEADER = """\
# Runbook paths are as they were applied: relative to the folder of the file that named them.
"""
SECRETS_HEADER = """\
# This file contains secrets (webhook signing secrets, Slack URLs): keep it out of public places.
"""


def export(session: Session, *, include_secrets: bool = False) -> dict[str, Any]:
    """Return the stored configuration in the config file's shape."""
    by_name = {section.name: section for section in SECTIONS}
    data = {
        name: by_name[name].export(session, include_secrets=include_secrets) for name in FILE_ORDER
    }
    return {key: value for key, value in data.items() if value or key == "severities"}


def has_secrets(data: dict[str, Any]) -> bool:
    """Return whether exported `data` holds a secret (a webhook secret or a Slack URL)."""
    return any(
        method.get("secret") or method["type"] == "slack"
        for user in data.get("users", [])
        for method in user.get("contact_methods", [])
    ) or any(webhook.get("secret") for webhook in data.get("webhooks", []))


def dump(data: dict[str, Any], *, header: str | None = None) -> str:
    """Return exported `data` as the text of a config file, with its header (or `header`)."""
    header = HEADER if header is None else header
    if any("runbook" in service for service in data.get("services", [])):
        header += RUNBOOK_HEADER
    if has_secrets(data):
        header += SECRETS_HEADER
    # One section at a time, with a blank line between them, as people write the file.
    sections = [
        yaml.dump(
            {key: value},
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
        for key, value in data.items()
    ]
    return header + "\n".join(sections)


class _Dumper(yaml.SafeDumper):
    """YAML as people write the file: lists indented under their key, short plain mappings and
    lists on one line, multi-line text as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_CLOCK = re.compile(r"^\d{1,2}:\d{2}$")
_ONE_LINE = 80


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Clock times quoted always: a YAML 1.1 reader takes some of them for base-60 numbers.
    style = "|" if "\n" in value else '"' if _CLOCK.match(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _plain(values: list[Any]) -> bool:
    return all(not isinstance(v, dict | list) and "\n" not in str(v) for v in values)


def _mapping(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.MappingNode:
    short = len(", ".join(f"{k}: {v}" for k, v in value.items())) <= _ONE_LINE
    flow = _plain(list(value.values())) and short
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=flow)


def _sequence(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = _plain(value) and len(", ".join(map(str, value))) <= _ONE_LINE
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)
