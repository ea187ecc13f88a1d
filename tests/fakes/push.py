"""A fake Web Push service (RFC 8030), served on 127.0.0.1, and browsers subscribed to it.

It checks what a real push service checks and a browser then does: the VAPID header
(`Authorization: vapid t=<JWT>, k=<key>`, RFC 8292: an ES256 JWT signed by the application
server's key, its `aud` the service's origin, `exp` within 24 hours, a `sub` contact), the
`TTL` header, and that the body decrypts (`Content-Encoding: aes128gcm`, RFC 8291) with the
subscription's private key and auth secret, which only the browser holds. A subscription that
is gone is answered 410, as push services answer it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.fakes import JsonHandler, serving


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's subscription: what it hands the server, and the keys only it holds."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def subscription(self) -> dict[str, Any]:
        """Return `PushSubscription.toJSON()`, as the browser gives it."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(public), "auth": b64(self.auth)},
        }


@dataclass
class FakePush:
    url: str = ""
    browsers: dict[str, Browser] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    received: list[dict[str, Any]] = field(default_factory=list)  # decrypted, with headers
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def browser(self) -> Browser:
        """Subscribe a new browser."""
        name = secrets.token_urlsafe(12)
        found = Browser(
            f"{self.url}/push/{name}", ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        )
        self.browsers[name] = found
        return found


def _check_vapid(header: str, origin: str) -> str | None:
    """Return what is wrong with a VAPID Authorization header, or None."""
    if not header.startswith("vapid "):
        return "no vapid authorization"
    parts = dict(p.strip().split("=", 1) for p in header[6:].split(","))
    token, key = parts.get("t", ""), parts.get("k", "")
    try:
        head, claims, signature = token.split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        raw = unb64(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return "bad vapid signature"
    if json.loads(unb64(head)).get("alg") != "ES256":
        return "vapid alg is not ES256"
    body = json.loads(unb64(claims))
    if body.get("aud") != origin:
        return f"vapid aud {body.get('aud')!r} is not {origin!r}"
    if not 0 < int(body.get("exp", 0)) - time.time() <= 24 * 3600:
        return "vapid exp is not within 24 hours"
    if not str(body.get("sub", "")).startswith(("mailto:", "https://")):
        return "vapid sub is not a contact"
    return None


def _handler(state: FakePush) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            name = self.path.removeprefix("/push/")
            browser = state.browsers.get(name)
            if browser is None or name in state.gone:
                self.answer(410, {"code": 410, "errno": 106, "error": "Gone"})
                return
            problem = _check_vapid(self.headers.get("Authorization", ""), state.url)
            if problem is None and self.headers.get("TTL") is None:
                problem = "no TTL header"
            if problem is None and self.headers.get("Content-Encoding") != "aes128gcm":
                problem = "not aes128gcm"
            if problem is not None:
                with state.lock:
                    state.refused.append(problem)
                self.answer(401, {"code": 401, "errno": 109, "error": problem})
                return
            try:
                plain = http_ece.decrypt(
                    body,
                    private_key=browser.private_key,
                    auth_secret=browser.auth,
                    version="aes128gcm",
                )
            except Exception as exc:  # http_ece raises what its decoders raise
                self.answer(400, {"code": 400, "errno": 110, "error": f"cannot decrypt: {exc}"})
                return
            with state.lock:
                state.received.append(
                    {
                        "to": name,
                        "payload": json.loads(plain),
                        "urgency": self.headers.get("Urgency"),
                        "ttl": self.headers.get("TTL"),
                        "topic": self.headers.get("Topic"),
                    }
                )
            self.send_response(201)
            self.send_header("Location", f"{state.url}/message/{secrets.token_hex(8)}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def fake_push(ca_file: str) -> Iterator[FakePush]:
    """Serve a fake push service over HTTPS (push endpoints are https URLs) on a free port of
    127.0.0.1 for the length of the block; its certificate's CA is written to `ca_file`."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    state = FakePush()
    with serving(_handler(state), tls=context) as url:
        state.url = url
        yield state
