"""An OpenID Connect relying party: discovery, the authorization code flow with PKCE, and the ID
token's validation, with authlib's OAuth 2 client and joserfc (authlib's JOSE library).

Nothing here knows Tocsin's users: it turns a provider's answer into verified claims, or
refuses with `SignInRefused` saying why in words a person can act on. Every check the
specification asks of a relying party for the code flow is made: the signature against the
provider's published keys (fetched again once when a token names a key not yet seen, so a key
rotation needs no restart), the issuer, the audience (and the authorized party when there are
several), the expiry, the time of issue, and the nonce this browser was given.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
LEEWAY = 60  # seconds of clock difference tolerated in exp and iat
DISCOVERY_TTL = 3600.0


class SignInRefused(Exception):
    """The provider's answer cannot sign anyone in; the message says why."""


@dataclass(frozen=True)
class Provider:
    """What the provider's discovery document says, of what the code flow needs."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None


class OidcClient:
    """One provider and one client registration at it; safe to share between threads."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: str = "openid email profile",
        timeout: float = 10.0,
        verify: bool | str = True,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self._timeout = timeout
        self._verify = verify
        self._lock = threading.Lock()
        self._provider: Provider | None = None
        self._provider_at = 0.0
        self._keys: KeySet | None = None

    def _client(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self._secret,
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self._timeout,
            verify=self._verify,
        )

    def _get(self, url: str) -> Any:
        try:
            answer = httpx2.get(url, timeout=self._timeout, verify=self._verify)
            answer.raise_for_status()
            return answer.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise SignInRefused(f"the identity provider could not be reached ({exc})") from exc

    def provider(self) -> Provider:
        """Return the provider's endpoints, from its discovery document (kept an hour)."""
        with self._lock:
            if self._provider is not None and time.monotonic() - self._provider_at < DISCOVERY_TTL:
                return self._provider
        found = self._get(f"{self.issuer}/.well-known/openid-configuration")
        if not isinstance(found, dict):
            raise SignInRefused("the identity provider's discovery document is not an object")
        missing = [
            name
            for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
            if not isinstance(found.get(name), str)
        ]
        if missing:
            raise SignInRefused(
                f"the identity provider's discovery document lacks {', '.join(missing)}"
            )
        if found["issuer"].rstrip("/") != self.issuer:
            raise SignInRefused(
                f"the discovery document names issuer {found['issuer']!r}, not {self.issuer!r}"
            )
        provider = Provider(
            found["issuer"],
            found["authorization_endpoint"],
            found["token_endpoint"],
            found["jwks_uri"],
            found.get("end_session_endpoint") or None,
        )
        with self._lock:
            self._provider, self._provider_at = provider, time.monotonic()
        return provider

    def authorization_url(self, redirect_uri: str, *, state: str, nonce: str, verifier: str) -> str:
        """Return where to send the browser to sign in (the code flow, with PKCE S256)."""
        url, _state = self._client(redirect_uri).create_authorization_url(
            self.provider().authorization_endpoint,
            state=state,
            code_verifier=verifier,
            nonce=nonce,
        )
        return str(url)

    def exchange(self, code: str, redirect_uri: str, *, verifier: str) -> str:
        """Return the ID token the provider gives for `code`; raise SignInRefused if it won't."""
        try:
            with self._client(redirect_uri) as client:
                token = client.fetch_token(
                    self.provider().token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                )
        except OAuthError as exc:
            said = f"{exc.error}: {exc.description}" if exc.description else exc.error
            raise SignInRefused(f"the identity provider refused the sign-in ({said})") from exc
        except httpx2.HTTPError as exc:
            raise SignInRefused(f"the identity provider could not be reached ({exc})") from exc
        except ValueError as exc:  # an answer that is not the JSON the protocol says
            raise SignInRefused(
                f"the identity provider's token answer is unreadable ({exc})"
            ) from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("the identity provider answered without an ID token")
        return id_token

    def verify(self, id_token: str, *, nonce: str, now: float) -> dict[str, Any]:
        """Return the ID token's claims once every check holds; raise SignInRefused if one
        does not."""
        decoded = self._decode(id_token)
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(now),
            leeway=LEEWAY,
            iss={"essential": True, "value": self.provider().issuer},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise SignInRefused(f"the ID token is not valid: {exc.description or exc}") from exc
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise SignInRefused(
                f"the ID token was issued for {audience!r}, not for this Tocsin "
                f"({self.client_id!r})"
            )
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("the ID token names several audiences but not this one as azp")
        if not nonce or claims.get("nonce") != nonce:
            raise SignInRefused(
                "the ID token does not carry the nonce this browser was given (a replayed or "
                "foreign token)"
            )
        return dict(claims)

    def _decode(self, id_token: str) -> Any:
        for fresh in (False, True):
            keys = self._key_set(fresh)
            try:
                return jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except JoseError as exc:
                if not fresh and exc.error in ("invalid_key_id", "missing_key"):
                    continue  # a key published since we looked: fetch the set again, once
                raise SignInRefused(
                    f"the ID token's signature does not verify ({exc.error})"
                ) from exc
            except ValueError as exc:
                if not fresh:
                    continue
                raise SignInRefused(f"the ID token cannot be read ({exc})") from exc
        raise SignInRefused("the ID token is signed with a key the provider does not publish")

    def _key_set(self, fresh: bool) -> KeySet:
        with self._lock:
            if self._keys is not None and not fresh:
                return self._keys
        found = self._get(self.provider().jwks_uri)
        try:
            keys = KeySet.import_key_set(found)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise SignInRefused(f"the identity provider's keys cannot be read ({exc})") from exc
        with self._lock:
            self._keys = keys
        return keys
