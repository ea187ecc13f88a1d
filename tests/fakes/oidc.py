"""A fake OpenID Connect provider, served on 127.0.0.1, for the single sign-on tests.

Built from OpenID Connect Core 1.0 and Discovery 1.0 and RFC 7636 (PKCE): a discovery document,
a JWKS of RSA keys (`rotate` publishes a new one and signs with it from then on), an
authorization endpoint that shows a sign-in page and redirects back with a one-time code, and a
token endpoint that checks the client's secret (HTTP Basic or in the body), the redirect URI
and the PKCE verifier, refuses a code used twice or unknown with `invalid_grant` (RFC 6749
5.2), and answers an RS256-signed ID token.

The knobs make it misbehave the ways a relying party must catch: an ID token for another
audience, one already expired, one signed by a key it does not publish, one without the nonce.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes import JsonHandler, serving

CLIENT_ID = "tocsin-test"
CLIENT_SECRET = "s3cret-of-the-client"


@functools.cache
def _key(kid: str) -> RSAKey:
    """Return the RSA key named `kid`, made once per test process (making one takes ~0.1 s)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class FakeOidc:
    url: str = ""
    # Who signs in next, as the claims the ID token carries besides the protocol's own.
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-1001",
            "email": "alice@example.com",
            "email_verified": True,
            "name": "Alice Adams",
            "groups": [],
        }
    )
    keys: list[RSAKey] = field(default_factory=lambda: [_key("k1")])
    # Misbehaviour, for the refusal tests.
    audience: str | None = None
    lifetime: int = 300
    sign_with_unpublished: bool = False
    drop_nonce: bool = False
    hang_up_on_token: bool = False  # close the connection without an answer
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rotate(self) -> None:
        """Publish a new key and sign with it from now on (the old one stays published)."""
        self.keys.append(_key(f"k{len(self.keys) + 1}"))

    def retire_old_keys(self) -> None:
        """Publish only the newest key."""
        self.keys = self.keys[-1:]

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims = {
            **self.claims,
            "iss": self.url,
            "aud": self.audience or CLIENT_ID,
            "iat": now,
            "exp": now + self.lifetime,
        }
        if nonce is not None and not self.drop_nonce:
            claims["nonce"] = nonce
        key = _key("rogue") if self.sign_with_unpublished else self.keys[-1]
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _handler(fake: FakeOidc) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                self.answer(200, fake.discovery())
            elif parts.path == "/jwks":
                self.answer(200, {"keys": [k.as_dict(private=False) for k in fake.keys]})
            elif parts.path == "/authorize":
                self._sign_in_page(query)
            else:
                self.answer(404, {"error": "not_found"})

        def _sign_in_page(self, query: dict[str, str]) -> None:
            problems = [
                name
                for name in ("client_id", "redirect_uri", "state", "code_challenge")
                if not query.get(name)
            ]
            if query.get("client_id") not in (None, CLIENT_ID):
                problems.append("unknown client_id")
            if query.get("response_type") != "code":
                problems.append("response_type must be code")
            if query.get("code_challenge_method") != "S256":
                problems.append("code_challenge_method must be S256")
            if "openid" not in query.get("scope", "").split():
                problems.append("scope must include openid")
            if problems:
                self.answer(400, {"error": "invalid_request", "error_description": str(problems)})
                return
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in query.items()
            )
            page = (
                "<!doctype html><title>Fake IdP</title><h1>Fake identity provider</h1>"
                f'<form method="post" action="/authorize">{hidden}'
                f"<p>Signing in as {html.escape(str(fake.claims.get('email')))}</p>"
                '<button type="submit" id="approve">Sign in</button></form>'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            path = urlsplit(self.path).path
            if path == "/authorize":
                code = secrets.token_urlsafe(24)
                with fake.lock:
                    fake.codes[code] = form
                target = (
                    form["redirect_uri"] + "?" + urlencode({"code": code, "state": form["state"]})
                )
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/token" and fake.hang_up_on_token:
                self.close_connection = True
            elif path == "/token":
                self._token(form)
            else:
                self.answer(404, {"error": "not_found"})

        def _token(self, form: dict[str, str]) -> None:
            fake.token_requests.append(form)
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = self.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            if client_id != CLIENT_ID or secret != CLIENT_SECRET:
                self.answer(401, {"error": "invalid_client"})
                return
            if form.get("grant_type") != "authorization_code":
                self.answer(400, {"error": "unsupported_grant_type"})
                return
            code = form.get("code", "")
            with fake.lock:
                issued = fake.codes.get(code)
                replayed = code in fake.used
                fake.used.add(code)
            if issued is None or replayed:
                self.answer(
                    400, {"error": "invalid_grant", "error_description": "code unknown or used"}
                )
                return
            if form.get("redirect_uri") != issued["redirect_uri"]:
                self.answer(400, {"error": "invalid_grant", "error_description": "redirect_uri"})
                return
            if _challenge(form.get("code_verifier", "")) != issued["code_challenge"]:
                self.answer(400, {"error": "invalid_grant", "error_description": "PKCE verifier"})
                return
            self.answer(
                200,
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": fake.id_token(issued.get("nonce")),
                },
            )

    return Handler


@contextmanager
def fake_oidc() -> Iterator[FakeOidc]:
    """Serve a fake provider for the block."""
    fake = FakeOidc()
    with serving(_handler(fake)) as url:
        fake.url = url
        yield fake
