"""The OpenAPI document is true: generated requests to every operation get documented answers.

Schemathesis reads /openapi.json and sends requests built from it to the app in-process, with
an admin token, on a migrated SQLite database. No answer may be a 5xx, and every answer must
have a documented status, content type, headers and body shape. Examples are few and
derandomized, so the run is short and repeatable.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from tests.conftest import T0, seed_people
from tocsin.clock import FixedClock
from tocsin.server import create_app
from tocsin.services import incidents
from tocsin.settings import Settings
from tocsin.store import tokens, users
from tocsin.store.db import make_engine, make_sessionmaker

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Far from the small ids generated requests try first, so DELETE /tokens/{id} does not
# revoke the token the run uses.
TOKEN_ID = 1_000_000
EXAMPLES = 4


def _database(tmp_path: Path, template: Path) -> tuple[str, str]:
    path = tmp_path / "tocsin.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_people(session)
        users.create(session, handle="root", name="Root", role="admin", now=T0)
        _, secret = tokens.create(session, handle="root", name="fuzz", scopes="admin", now=T0)
        # INC-1, the documented example of every incident route, exists.
        incidents.declare(session, title="Checkout slow", severity="SEV-2", actor="alice", now=T0)
        session.flush()
        session.execute(text("UPDATE api_tokens SET id = :big"), {"big": TOKEN_ID})
    engine.dispose()
    return url, secret


def _run(operation: Any, strategy: Any, mode: str, headers: dict[str, str]) -> list[str]:
    """Run requests from `strategy` against one operation; return its failures, one line each."""
    failures: list[str] = []

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def requests(case: Any) -> None:
        # Generated requests carry made-up bearer tokens: send the real one instead.
        case.headers = {**(case.headers or {}), **headers}
        try:
            case.call_and_validate(checks=CHECKS)
        except FailureGroup as found:
            for failure in found.exceptions:
                failures.append(f"{operation.label} ({mode}): {failure.title}: {failure}")
        except Exception as exc:  # the app raised instead of answering: a 500 to a client
            failures.append(f"{operation.label} ({mode}): raised {exc!r}")

    try:
        requests()
    except Unsatisfiable:
        # Nothing can be made invalid in an operation without parameters or body.
        assert mode == "negative", operation.label
    return failures


@pytest.mark.slow
def test_every_answer_is_documented(tmp_path: Path, sqlite_template: Path) -> None:
    url, secret = _database(tmp_path, sqlite_template)
    app = create_app(Settings(database_url=url), clock=FixedClock(T0), run_engine=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {secret}"}
    failures: list[str] = []
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            # The documented examples first (INC-1 exists), then generated requests.
            for example in schema.get_strategies_from_examples(operation):
                failures += _run(operation, example, "example", headers)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode)
                failures += _run(operation, strategy, mode.value, headers)
    finally:
        asgi.shutdown_lifespans()
        app.state.engine.dispose()
    assert operations > 60
    unique = sorted(set(failures))
    assert not unique, f"{len(unique)} failures:\n\n" + "\n\n".join(unique)
