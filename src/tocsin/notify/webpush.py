"""Web Push: pages shown as notifications by a responder's browser or phone home screen.

The browser subscribes on the profile page (the Push API, with Tocsin's VAPID public key) and
hands Tocsin its push service's endpoint and its encryption keys. Each page is a small JSON
document, encrypted for that browser (RFC 8291, aes128gcm) and posted to the endpoint with a
VAPID JWT signed by Tocsin's private key (RFC 8292), by the `pywebpush` library. Tocsin's
service worker (`/sw.js`) shows it with Acknowledge and Open buttons.

A push service answers 404 or 410 for a subscription that is gone (the browser unsubscribed or
was reset): that page fails for good, with a word on subscribing again; 429 and 5xx are tried
again.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid, b64urlencode
from pywebpush import WebPushException, webpush

from tocsin.core.push import check_keys
from tocsin.errors import InvalidInput
from tocsin.notify import Message, Outcome, SendResult, http_outcome, parse_retry_after
from tocsin.notify.webhook import check_timeout, check_url

__all__ = ["VapidKey", "WebPushAdapter", "generate", "notification"]

# The library logs each request's headers (the VAPID JWT) when verbose; keep it quiet anyway.
logging.getLogger("pywebpush").setLevel(logging.WARNING)

# How long a push service keeps a page for a browser that is offline: a page older than an hour
# is better seen on the incident page than popping up late.
TTL_SECONDS = 3600
BODY_LIMIT = 1000  # push services take about 4 KB; the notification shows a few lines


class VapidKey:
    """Tocsin's VAPID key pair (`TOCSIN_VAPID_PRIVATE_KEY`) and contact (`TOCSIN_VAPID_SUBJECT`)."""

    def __init__(self, private_key: str, subject: str) -> None:
        problems = []
        vapid = None
        try:
            vapid = Vapid.from_string(private_key.strip()) if private_key.strip() else None
        except Exception:  # the library raises whatever its decoders raise
            vapid = None
        if vapid is None:
            # The value is never quoted back: it is a secret even when it is malformed.
            problems.append(
                "TOCSIN_VAPID_PRIVATE_KEY is not set or is not a P-256 private key"
                " (`tocsin vapid-keys` makes one)"
            )
        if not subject.startswith(("mailto:", "https://")):
            problems.append(
                f"TOCSIN_VAPID_SUBJECT must be a mailto: or https: contact, got {subject!r}"
            )
        if problems or vapid is None:
            raise InvalidInput.of(problems)
        self.vapid = vapid
        self.subject = subject

    def __repr__(self) -> str:
        return f"VapidKey({self.public_key})"

    @property
    def public_key(self) -> str:
        """The application server key a browser subscribes with (base64url, uncompressed)."""
        return public_key_of(self.vapid)


def public_key_of(vapid: Vapid) -> str:
    point = vapid.public_key.public_numbers()
    raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
    return str(b64urlencode(raw))


def generate() -> tuple[str, str]:
    """Return a new VAPID key pair: (private key, public key), both base64url."""
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return str(b64urlencode(raw)), public_key_of(vapid)


def notification(message: Message) -> dict[str, Any]:
    """Return what the service worker shows: title, body, and where its buttons go."""
    body = message.text if not message.items else "\n".join(message.items)
    return {
        "title": message.subject,
        "body": body[:BODY_LIMIT],
        "tag": message.incident or message.idempotency_key,
        "severity": message.severity,
        "url": message.url,
        "ack_url": message.ack_url,
    }


class WebPushAdapter:
    """Push each message to one browser's subscription."""

    def __init__(
        self, key: VapidKey, endpoint: str, keys_json: str, *, timeout: float = 10.0
    ) -> None:
        self.endpoint = check_url(endpoint, "webpush endpoint")
        self._keys = check_keys(keys_json)
        self.key = key
        self.timeout = check_timeout(timeout)
        self._session = requests.Session()
        # A redirect would send the page elsewhere than the endpoint the browser gave.
        self._session.max_redirects = 0

    def __repr__(self) -> str:  # the endpoint is a capability: whoever has it can push
        return f"WebPushAdapter({urlsplit(self.endpoint).netloc})"

    def send(self, message: Message) -> SendResult:
        """Encrypt and post the message once, and classify the push service's answer."""
        data = json.dumps(notification(message), separators=(",", ":"))
        try:
            webpush(
                {"endpoint": self.endpoint, "keys": dict(self._keys)},
                data=data,
                vapid_private_key=self.key.vapid,
                vapid_claims={"sub": self.key.subject},
                ttl=TTL_SECONDS,
                timeout=self.timeout,
                headers={"Urgency": "high", "Topic": _topic(message)},
                requests_session=self._session,
            )
        except WebPushException as exc:
            status = exc.status_code or 0
            host = urlsplit(self.endpoint).netloc
            if status in (404, 410):
                return SendResult(
                    Outcome.PERMANENT,
                    f"HTTP {status} from {host}: the browser's push subscription is gone;"
                    " subscribe again on the profile page",
                )
            outcome = http_outcome(status) if status else Outcome.TEMPORARY
            if outcome is Outcome.SENT:
                outcome = Outcome.TEMPORARY
            return SendResult(
                outcome, f"HTTP {status} from {host}", parse_retry_after(exc.retry_after)
            )
        except (requests.RequestException, OSError) as exc:
            return SendResult(Outcome.TEMPORARY, f"push service unreachable: {type(exc).__name__}")
        return SendResult(Outcome.SENT, f"pushed to {urlsplit(self.endpoint).netloc}")

    def close(self) -> None:
        self._session.close()


def _topic(message: Message) -> str:
    """Return the push Topic header: a later push of the same incident replaces an undelivered
    one (RFC 8030 §5.4: at most 32 base64url characters)."""
    raw = (message.incident or message.idempotency_key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")[:32]
