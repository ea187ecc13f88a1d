"""`tocsin apply --keys`: integrations take the keys their senders already use, so moving a
sender from PagerDuty or Opsgenie to Tocsin changes only its URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.conftest import LiveServer

CONFIG = """\
services:
  - slug: api
    integrations: [{type: pagerduty, name: pd}, {type: opsgenie}]
  - slug: web
    integrations: [{type: alertmanager}]
"""
PD_KEY = "0123456789abcdef0123456789abcdef"
OG_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"


def _files(tmp_path: Path, keys: str, mode: int = 0o600) -> tuple[str, str]:
    config = tmp_path / "tocsin.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    secrets = tmp_path / "tocsin.keys.yaml"
    secrets.write_text(keys, encoding="utf-8")
    os.chmod(secrets, mode)
    return str(config), str(secrets)


def test_kept_keys_are_the_integrations_keys(
    cli: Cli, tmp_path: Path, stepped_server: LiveServer
) -> None:
    keys = f"integrations:\n  api/pd: {PD_KEY}\n  api/opsgenie: {OG_KEY}\n"
    config, secrets = _files(tmp_path, keys)
    applied = cli.ok("apply", "-f", config, "--keys", secrets)
    lines = applied.stdout.splitlines()
    assert "create integration api/pd (pagerduty, kept key)" in lines
    assert "create integration api/opsgenie (opsgenie, kept key)" in lines
    assert PD_KEY not in applied.stdout and OG_KEY not in applied.stdout  # already in the file
    made = [line for line in lines if line.startswith("create integration web/alertmanager")]
    assert len(made) == 1 and " key=" in made[0]  # not kept: a new key, shown once
    listed = {i["name"]: i["key_hint"] for i in cli.ok("integration", "list", "--json").json()}
    assert listed["pd"] == PD_KEY[-4:] and listed["opsgenie"] == OG_KEY[-4:]
    # A PagerDuty sender with its old routing key: only the URL changed.
    import pdpyras

    sender = pdpyras.EventsAPISession(PD_KEY)
    sender.url = stepped_server.url
    sender.trigger("Checkout failing", "api-1", dedup_key="checkout", severity="critical")
    sender.close()
    [incident] = cli.ok("incident", "list", "--json").json()
    assert incident["title"] == "Checkout failing"
    again = cli.ok("apply", "-f", config, "--keys", secrets)
    assert again.stdout == ""  # the same keys: nothing to change


@pytest.mark.parametrize(
    ("keys", "mode", "problem"),
    [
        ("integrations:\n  api/pd: short-key\n", 0o600, "must be 20 to 200 visible characters"),
        (
            f"integrations:\n  api/pd: {PD_KEY}\n  api/opsgenie: {PD_KEY}\n",
            0o600,
            "api/opsgenie reuses the key of api/pd",
        ),
        (f"integrations:\n  api/nope: {PD_KEY}\n", 0o600, "api/nope is not an integration of"),
        ("integrations:\n  api/pd: " + "ab" * 12 + "\n", 0o600, "is too easy to guess"),
        (f"integrations:\n  api/pd: {PD_KEY}\n", 0o644, "others may read it; chmod 600"),
    ],
)
def test_bad_keys_files_are_refused_and_nothing_is_applied(
    cli: Cli, tmp_path: Path, keys: str, mode: int, problem: str
) -> None:
    config, secrets = _files(tmp_path, keys, mode)
    result = cli("apply", "-f", config, "--keys", secrets)
    assert result.code == 2
    assert problem in result.stderr
    assert "short-key" not in result.stderr and PD_KEY not in result.stderr  # never quoted back
    assert cli.ok("integration", "list", "--json").json() == []
