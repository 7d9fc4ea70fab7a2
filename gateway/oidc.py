"""OpenID Connect sign-in, the client side: authorization code flow with PKCE (S256).

One `OidcClient` per configured provider. It reads the provider's discovery document —
whose `issuer` must be exactly the configured one (OpenID Connect Discovery 1.0, 4.3), so
a provider cannot speak for another — builds the authorize URL (state, nonce and a PKCE
code challenge), exchanges the code (client_secret_post, with the code verifier) and
validates the ID token against the provider's JWKS: signature, issuer (the configured
one), audience, expiry and nonce (OpenID Connect Core 1.0, 3.1.3.7; RFC 7636 for PKCE).
The JWKS is fetched again after `JWKS_TTL_S`, and at once when a token names a key id it
does not hold (the provider rotated its keys) — at most once per `JWKS_RETRY_S`, so
tokens with made-up key ids cannot make the gateway hammer the provider.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

JWKS_TTL_S = 3600.0
JWKS_RETRY_S = 60.0


class OidcProvider(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"


class PendingLogin(msgspec.Struct, frozen=True, kw_only=True):
    """What the callback needs to finish what `start` began; kept server-side by state."""

    provider: str
    nonce: str
    code_verifier: str
    browser: str
    """SHA-256 of the secret in the browser's binding cookie: the callback must come from
    the browser that started the flow."""
    link_user_id: str | None = None
    """Set when a logged-in user links this provider to their account …"""
    link_session_id: str | None = None
    """… from this session, which must still be open when the link is confirmed."""


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


class OidcError(Exception):
    """The provider's answer could not be trusted or used; the message says why."""


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def _same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class OidcClient:
    def __init__(self, provider: OidcProvider, redirect_uri: str, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self.redirect_uri = redirect_uri
        self._http = http
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = await self._http.get(url)
            response.raise_for_status()
            meta = response.json()
            if not _same_issuer(str(meta.get("issuer", "")), self.provider.issuer):
                raise OidcError(f"the provider's discovery document names the issuer "
                                f"{meta.get('issuer')!r}, not the configured {self.provider.issuer!r}")
            self._discovery = meta
        return self._discovery

    async def start(self, browser: str, link_user_id: str | None = None,
                    link_session_id: str | None = None) -> tuple[str, str, PendingLogin]:
        """(authorize URL, state, what to keep until the callback)."""
        meta = await self.discovery()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        query = {"response_type": "code", "client_id": self.provider.client_id,
                 "redirect_uri": self.redirect_uri, "scope": self.provider.scopes,
                 "state": state, "nonce": nonce, "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        pending = PendingLogin(provider=self.provider.name, nonce=nonce, code_verifier=verifier,
                               browser=browser, link_user_id=link_user_id,
                               link_session_id=link_session_id)
        return f"{meta['authorization_endpoint']}?{urlencode(query)}", state, pending

    async def finish(self, code: str, pending: PendingLogin) -> Identity:
        meta = await self.discovery()
        response = await self._http.post(meta["token_endpoint"], data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": pending.code_verifier, "client_id": self.provider.client_id,
            "client_secret": self.provider.client_secret})
        if response.status_code != 200:
            raise OidcError(f"the provider refused the code ({response.status_code})")
        id_token = response.json().get("id_token")
        if not id_token:
            raise OidcError("the provider sent no ID token")
        claims = await self.validated_claims(id_token, pending.nonce)
        return Identity(subject=str(claims["sub"]), email=claims.get("email"),
                        email_verified=bool(claims.get("email_verified")), name=claims.get("name"))

    async def validated_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        keys = await self._jwks(self._key_id(id_token))
        try:
            token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
            registry = jwt.JWTClaimsRegistry(
                now=int(time.time()), leeway=60,
                iss={"essential": True, "value": self.provider.issuer},
                aud={"essential": True, "value": self.provider.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from None
        return dict(token.claims)

    @staticmethod
    def _key_id(id_token: str) -> str | None:
        try:
            kid = jws.extract_compact(id_token.encode()).protected.get("kid")
        except (JoseError, ValueError):
            raise OidcError("the ID token is not a signed JWT") from None
        return str(kid) if kid is not None else None

    async def _jwks(self, kid: str | None) -> KeySet:
        now = time.monotonic()
        stale = self._keys is None or now - self._keys_at > JWKS_TTL_S
        unknown = (kid is not None and self._keys is not None
                   and not any(k.kid == kid for k in self._keys.keys)
                   and now - self._keys_at > JWKS_RETRY_S)
        if stale or unknown:
            response = await self._http.get((await self.discovery())["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
            self._keys_at = now
        assert self._keys is not None
        return self._keys
