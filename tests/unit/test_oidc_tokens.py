"""The gateway trusts an ID token only if signature, issuer, audience, expiry and nonce hold."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from gateway.oidc import OidcClient, OidcError, OidcProvider, pkce_pair

pytestmark = pytest.mark.unit

ISSUER = "https://id.example.org"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _client() -> OidcClient:
    client = OidcClient(OidcProvider(name="ex", issuer=ISSUER, client_id="stride",
                                     client_secret="s"), "http://127.0.0.1/cb", httpx.AsyncClient())
    client._keys = KeySet([KEY])  # the provider's published key
    return client


def _token(key: RSAKey = KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "stride", "sub": "u1", "iat": now, "exp": now + 300,
              "nonce": "n-123", "email": "a@example.org", "email_verified": True} | overrides
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


async def test_a_good_token_is_accepted() -> None:
    claims = await _client()._validated_claims(_token(), "n-123", ISSUER)
    assert claims["sub"] == "u1" and claims["email_verified"] is True


@pytest.mark.parametrize("bad", [
    {"nonce": "someone-elses"},
    {"aud": "another-client"},
    {"iss": "https://evil.example.org"},
    {"exp": int(time.time()) - 3600},
])
async def test_a_token_with_a_wrong_claim_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(OidcError):
        await _client()._validated_claims(_token(**bad), "n-123", ISSUER)


async def test_a_token_without_a_subject_is_refused() -> None:
    now = int(time.time())
    token = jwt.encode({"alg": "RS256", "kid": "k1"},
                       {"iss": ISSUER, "aud": "stride", "exp": now + 300, "nonce": "n-123"}, KEY)
    with pytest.raises(OidcError):
        await _client()._validated_claims(token, "n-123", ISSUER)


async def test_a_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(OidcError):
        await _client()._validated_claims(_token(key=OTHER_KEY), "n-123", ISSUER)


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == digest.decode()
