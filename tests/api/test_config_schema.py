"""The JSON Schema of tocsin.yaml: published over HTTP and kept in the repository, in step."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Api
from tocsin.config import json_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_schema_is_the_current_one() -> None:
    committed = json.loads((ROOT / "schema" / "tocsin.schema.json").read_text())
    assert committed == json_schema(), (
        "schema/tocsin.schema.json is stale: regenerate it from tocsin.config.json_schema()"
    )


def test_the_schema_names_every_section_and_refuses_unknown_keys() -> None:
    schema = json_schema()
    assert set(schema["properties"]) == {
        "users",
        "teams",
        "components",
        "services",
        "severities",
        "schedules",
        "escalation_policies",
        "webhooks",
    }
    assert schema["additionalProperties"] is False
    restriction = schema["$defs"]["RestrictionSpec"]["properties"]
    assert "from" in restriction  # the file's spelling, not the Python one


def test_the_schema_is_served(api: Api) -> None:
    answer = api.client.get("/api/v1/config/schema.json")
    assert answer.status_code == 200
    assert answer.json() == json_schema()
