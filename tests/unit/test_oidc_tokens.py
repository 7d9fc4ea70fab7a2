"""The gateway trusts an ID token only if signature, issuer (the configured one), audience,
expiry and nonce hold; it trusts a provider only under the issuer it was configured with;
and it follows key rotation without letting made-up key ids hammer the provider.

The provider here is a local stand-in of its documented endpoints (OpenID Connect
Discovery and a JWKS), served by httpx's MockTransport; the e2e tests use a real one.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from gateway import oidc
from gateway.oidc import OidcClient, OidcError, OidcProvider, pkce_pair

pytestmark = pytest.mark.unit

ISSUER = "https://id.example.org"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
ROTATED = RSAKey.generate_key(2048, parameters={"kid": "k2"})


class Provider:
    """Discovery and JWKS documents, with the keys it publishes now."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.keys = [KEY]
        self.jwks_requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json={
                "issuer": self.issuer, "jwks_uri": f"{ISSUER}/jwks",
                "authorization_endpoint": f"{ISSUER}/auth", "token_endpoint": f"{ISSUER}/token"})
        if request.url.path == "/jwks":
            self.jwks_requests += 1
            return httpx.Response(200, json=KeySet(self.keys).as_dict(private=False))
        return httpx.Response(404)


def _client(provider: Provider | None = None) -> OidcClient:
    provider = provider or Provider()
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    return OidcClient(OidcProvider(name="ex", issuer=ISSUER, client_id="stride", client_secret="s"),
                      "http://127.0.0.1/cb", http)


def _token(key: RSAKey = KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "stride", "sub": "u1", "iat": now, "exp": now + 300,
              "nonce": "n-123", "email": "a@example.org", "email_verified": True} | overrides
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


async def test_a_good_token_is_accepted() -> None:
    claims = await _client().validated_claims(_token(), "n-123")
    assert claims["sub"] == "u1" and claims["email_verified"] is True


@pytest.mark.parametrize("bad", [
    {"nonce": "someone-elses"},
    {"aud": "another-client"},
    {"iss": "https://evil.example.org"},
    {"exp": int(time.time()) - 3600},
])
async def test_a_token_with_a_wrong_claim_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(OidcError):
        await _client().validated_claims(_token(**bad), "n-123")


async def test_a_token_without_a_subject_is_refused() -> None:
    now = int(time.time())
    token = jwt.encode({"alg": "RS256", "kid": "k1"},
                       {"iss": ISSUER, "aud": "stride", "exp": now + 300, "nonce": "n-123"}, KEY)
    with pytest.raises(OidcError):
        await _client().validated_claims(token, "n-123")


async def test_a_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(OidcError):
        await _client().validated_claims(_token(key=OTHER_KEY), "n-123")


async def test_a_provider_claiming_another_issuer_is_not_trusted() -> None:
    with pytest.raises(OidcError, match="not the configured"):
        await _client(Provider(issuer="https://evil.example.org")).discovery()


async def test_rotated_keys_are_fetched_on_an_unknown_key_id(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider()
    client = _client(provider)
    await client.validated_claims(_token(), "n-123")
    assert provider.jwks_requests == 1
    provider.keys = [ROTATED]  # the provider rotates its signing key
    monkeypatch.setattr(oidc, "JWKS_RETRY_S", 0.0)
    claims = await client.validated_claims(_token(key=ROTATED), "n-123")
    assert claims["sub"] == "u1" and provider.jwks_requests == 2


async def test_made_up_key_ids_do_not_hammer_the_provider() -> None:
    provider = Provider()
    client = _client(provider)
    await client.validated_claims(_token(), "n-123")
    forged = RSAKey.generate_key(2048, parameters={"kid": "nope"})
    for _ in range(20):
        with pytest.raises(OidcError):
            await client.validated_claims(_token(key=forged), "n-123")
    assert provider.jwks_requests == 1  # one refresh a JWKS_RETRY_S at most


async def test_the_keys_are_fetched_again_after_their_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider()
    client = _client(provider)
    await client.validated_claims(_token(), "n-123")
    monkeypatch.setattr(oidc, "JWKS_TTL_S", 0.0)
    await client.validated_claims(_token(), "n-123")
    assert provider.jwks_requests == 2


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == digest.decode()
