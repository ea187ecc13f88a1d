"""The console adapter, writing to an in-memory stream."""

from __future__ import annotations

import io

import pytest

from tests.notify.conftest import page
from tocsin.notify import Adapter, Message, Outcome
from tocsin.notify.console import ConsoleAdapter, render


def test_writes_subject_text_items_and_links() -> None:
    stream = io.StringIO()
    message = page(items=("INC-7 api-gateway: 502s", "INC-8 billing: backlog"))

    result = ConsoleAdapter(stream).send(message)

    assert (result.outcome, result.detail) == (Outcome.SENT, "written to the console")
    assert stream.getvalue() == (
        "[SEV-1] INC-7 api-gateway: All requests returning 502\n"
        + "=" * 53
        + "\n"
        + "Severity: SEV-1\n"
        "Service: api-gateway\n"
        "All requests returning 502 since 10:30 UTC.\n"
        "Acknowledge: https://tocsin.example/ack/abc\n"
        "\n"
        "  - INC-7 api-gateway: 502s\n"
        "  - INC-8 billing: backlog\n"
        "\n"
        "Incident:    https://tocsin.example/incidents/INC-7\n"
        "Acknowledge: https://tocsin.example/ack/abc?sig=xyz\n"
        "Runbook:     https://runbooks.example/api-gateway\n"
        "\n"
    )


def test_minimal_message() -> None:
    assert render(Message("k", "[SEV-4] disk 80%", "", "SEV-4")) == (
        "[SEV-4] disk 80%\n================\n\n"
    )


def test_messages_follow_each_other() -> None:
    stream = io.StringIO()
    adapter = ConsoleAdapter(stream)

    adapter.send(page(subject="first"))
    adapter.send(page(subject="second"))

    assert stream.getvalue().index("first") < stream.getvalue().index("second")


def test_defaults_to_stdout_at_send_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert ConsoleAdapter().send(page()).outcome is Outcome.SENT

    assert capsys.readouterr().out.startswith("[SEV-1] INC-7 api-gateway")


def test_closed_stream_is_reported_not_raised() -> None:
    stream = io.StringIO()
    stream.close()

    result = ConsoleAdapter(stream).send(page())

    assert result.outcome is Outcome.PERMANENT
    assert result.detail.startswith("cannot write to the console:")


def test_is_an_adapter() -> None:
    assert isinstance(ConsoleAdapter(io.StringIO()), Adapter)
