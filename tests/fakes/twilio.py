"""A fake of Twilio's REST API (the Messages and Calls resources), served on 127.0.0.1, and of
the phone network behind it.

Built from Twilio's documented shapes: HTTP basic auth with the account SID and auth token,
form-encoded requests to /2010-04-01/Accounts/{AccountSid}/Messages.json and Calls.json, a 201
with the resource as JSON, and errors as JSON with Twilio's own `code` (20003 bad credentials,
21211 a 'To' number that is not a phone number, 21610 a recipient that replied STOP).

What happens on the phone is driven by the test: `report` posts a status callback of a text or
call to the URL it was created with, `press` posts the key a person pressed to the call's
`<Gather action>`, and `text_in` posts an SMS a person sent; each request is signed with the
auth token in X-Twilio-Signature, as Twilio signs them.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

from tests.fakes import JsonHandler, serving

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token-" + "9" * 16
FROM = "+15005550006"
_RESOURCE = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/(Messages|Calls)\.json")
_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")


@dataclass
class FakeTwilio:
    """What the fake received, and how it should answer next."""

    url: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)  # numbers that replied STOP
    fail_next: list[int] = field(default_factory=list)  # statuses to answer, one per request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, sid: str, status: str, **fields: str) -> int:
        """Post the status callback of text or call `sid`; return Tocsin's HTTP status."""
        return _report(self, sid, status, **fields)

    def press(self, sid: str, digits: str) -> tuple[int, str]:
        """Press `digits` in call `sid`; return Tocsin's status and TwiML answer."""
        return _press(self, sid, digits)

    def text_in(self, url: str, sender: str, body: str) -> tuple[int, str]:
        """A person texts `body` from `sender` to the paging number, whose incoming-message
        webhook is `url`; return Tocsin's status and TwiML answer."""
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "SmsSid": "",
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": FROM,
            "Body": body,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        form["SmsSid"] = form["MessageSid"]
        return _post(url, form)


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
            found = _RESOURCE.fullmatch(self.path)
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
            if found.group(2) == "Calls":
                self.call(form, to)
            else:
                self.message(form, to)

        def message(self, form: dict[str, str], to: str) -> None:
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

        def call(self, form: dict[str, str], to: str) -> None:
            if not form.get("Twiml") and not form.get("Url"):
                self.answer(400, _error(400, 21205, "Url or Twiml is required"))
                return
            sid = "CA" + secrets.token_hex(16)
            resource = {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": to,
                "from": form.get("From", ""),
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "answered_by": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
            }
            with state.lock:
                state.calls.append({**form, "Sid": sid})
            self.answer(201, resource)

    return Handler


def _post(url: str, form: dict[str, str], *, token: str = AUTH_TOKEN) -> tuple[int, str]:
    """POST `form` to `url` as Twilio does, signed with `token`; return the status and body."""
    signature = RequestValidator(token).compute_signature(url, form)
    request = urllib.request.Request(
        url,
        data=urlencode(form).encode(),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _find(items: list[dict[str, str]], sid: str) -> dict[str, str]:
    found = [item for item in items if item["Sid"] == sid]
    if not found:
        raise KeyError(f"no text or call {sid}")
    return found[0]


def _report(state: FakeTwilio, sid: str, status: str, **fields: str) -> int:
    """Post the status callback of text or call `sid` (MessageStatus or CallStatus `status`,
    with `fields` such as AnsweredBy or ErrorCode); return Tocsin's HTTP status."""
    with state.lock:
        call = sid.startswith("CA")
        item = _find(state.calls if call else state.messages, sid)
    form = {
        "AccountSid": ACCOUNT_SID,
        "From": item.get("From", ""),
        "To": item.get("To", ""),
        "ApiVersion": "2010-04-01",
        **({"CallSid": sid, "CallStatus": status} if call else {"MessageSid": sid}),
        **({} if call else {"MessageStatus": status, "SmsSid": sid, "SmsStatus": status}),
        **fields,
    }
    return _post(item["StatusCallback"], form)[0]


def _press(state: FakeTwilio, sid: str, digits: str) -> tuple[int, str]:
    """Post the key a person pressed in call `sid` to its `<Gather action>`; return Tocsin's
    status and the TwiML it answered."""
    with state.lock:
        item = _find(state.calls, sid)
    gather = ElementTree.fromstring(item["Twiml"]).find("Gather")
    assert gather is not None, f"the call asks for no key: {item['Twiml']}"
    form = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "From": item.get("From", ""),
        "To": item.get("To", ""),
        "CallStatus": "in-progress",
        "Digits": digits,
        "FinishedOnKey": "",
    }
    return _post(gather.attrib["action"], form)


@contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    """Serve a fake Twilio on a free port of 127.0.0.1 for the length of the block."""
    state = FakeTwilio()
    with serving(_handler(state)) as url:
        state.url = url
        yield state
