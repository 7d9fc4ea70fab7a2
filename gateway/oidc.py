"""OpenID Connect sign-in, the client side: authorization code flow with PKCE (S256).

One `OidcClient` per configured provider. It reads the provider's discovery document,
builds the authorize URL (state, nonce and a PKCE code challenge), exchanges the code
(client_secret_post, with the code verifier) and validates the ID token against the
provider's JWKS: signature, issuer, audience, expiry and nonce (OpenID Connect Core 1.0,
section 3.1.3.7; RFC 7636 for PKCE).
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
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet


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
    link_user_id: str | None = None
    """Set when a logged-in user links this provider to their account."""


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


class OidcClient:
    def __init__(self, provider: OidcProvider, redirect_uri: str, http: httpx.AsyncClient) -> None:
        self.provider = provider
        self.redirect_uri = redirect_uri
        self._http = http
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = await self._http.get(url)
            response.raise_for_status()
            self._discovery = response.json()
        return self._discovery

    async def start(self, link_user_id: str | None = None) -> tuple[str, str, PendingLogin]:
        """(authorize URL, state, what to keep until the callback)."""
        meta = await self.discovery()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier, challenge = pkce_pair()
        query = {"response_type": "code", "client_id": self.provider.client_id,
                 "redirect_uri": self.redirect_uri, "scope": self.provider.scopes,
                 "state": state, "nonce": nonce, "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        pending = PendingLogin(provider=self.provider.name, nonce=nonce, code_verifier=verifier,
                               link_user_id=link_user_id)
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
        claims = await self._validated_claims(id_token, pending.nonce, meta["issuer"])
        return Identity(subject=str(claims["sub"]), email=claims.get("email"),
                        email_verified=bool(claims.get("email_verified")), name=claims.get("name"))

    async def _validated_claims(self, id_token: str, nonce: str, issuer: str) -> dict[str, Any]:
        keys = await self._jwks()
        try:
            token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])
            registry = jwt.JWTClaimsRegistry(
                now=int(time.time()), leeway=60,
                iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": self.provider.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from None
        return dict(token.claims)

    async def _jwks(self) -> KeySet:
        if self._keys is None:
            response = await self._http.get((await self.discovery())["jwks_uri"])
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys
