"""A fake of Twilio's REST API (the Messages resource), served on 127.0.0.1.

Built from Twilio's documented shapes: HTTP basic auth with the account SID and auth token,
form-encoded requests to /2010-04-01/Accounts/{AccountSid}/Messages.json, a 201 with the
message resource as JSON, and errors as JSON with Twilio's own `code` (20003 bad credentials,
21211 a 'To' number that is not a phone number, 21610 a recipient that replied STOP).
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.fakes import JsonHandler, serving

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token-" + "9" * 16
FROM = "+15005550006"
_MESSAGES = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json")
_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")


@dataclass
class FakeTwilio:
    """What the fake received, and how it should answer next."""

    url: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)  # numbers that replied STOP
    fail_next: list[int] = field(default_factory=list)  # statuses to answer, one per request
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler(state: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            found = _MESSAGES.fullmatch(self.path)
            if found is None:
                self.answer(404, _error(404, 20404, "The requested resource was not found"))
                return
            expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if found.group(1) != ACCOUNT_SID or self.headers.get("Authorization") != (
                f"Basic {expected}"
            ):
                self.answer(401, _error(401, 20003, "Authenticate"))
                return
            with state.lock:
                if state.fail_next:
                    status = state.fail_next.pop(0)
                    self.answer(status, _error(status, 20500, "Internal Server Error"))
                    return
            to = form.get("To", "")
            if not _PHONE.fullmatch(to):
                self.answer(
                    400, _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
                )
                return
            if to in state.stopped:
                self.answer(
                    400,
                    _error(400, 21610, "Attempt to send to unsubscribed recipient"),
                )
                return
            resource = {
                "sid": "SM" + secrets.token_hex(16),
                "account_sid": ACCOUNT_SID,
                "to": to,
                "from": form.get("From", ""),
                "body": form.get("Body", ""),
                "status": "queued",
                "num_segments": str(max(1, -(-len(form.get("Body", "")) // 153))),
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
            }
            with state.lock:
                state.messages.append({**form, "Sid": resource["sid"]})
            self.answer(201, resource)

    return Handler


@contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    """Serve a fake Twilio on a free port of 127.0.0.1 for the length of the block."""
    state = FakeTwilio()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
