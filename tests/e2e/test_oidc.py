"""Sign in with OpenID Connect, end to end, against a real provider process.

The fixture starts the provider (tests/e2e/oidc_pkce_provider.py, which insists on PKCE
S256 and a nonce) and a second gateway process configured with it; both on loopback,
both stopped afterwards. The "user at the provider" is played by posting its login form.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from helper_processes import Processes, free_port

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent


class Oidc:
    def __init__(self, provider: str, gateway: str) -> None:
        self.provider = provider
        self.gateway = gateway

    def user(self, sub: str, **claims: object) -> str:
        response = httpx.put(f"{self.provider}/users/{sub}", json=claims)
        assert response.status_code == 204
        return sub

    def sign_in_at_provider(self, authorize_url: str, sub: str) -> str:
        """Log in at the provider as `sub`; returns the URL it sends the browser back to."""
        response = httpx.post(authorize_url, data={"sub": sub})
        assert response.status_code == 302, response.text
        return response.headers["location"]


@pytest.fixture(scope="module")
def oidc(processes: Processes) -> Oidc:
    port = free_port()
    provider = f"http://127.0.0.1:{port}"
    processes.start([sys.executable, str(HERE / "oidc_pkce_provider.py"), "--host", "127.0.0.1",
                     "--port", str(port), "--require-nonce"],
                    f"{provider}/.well-known/openid-configuration")
    gateway = processes.gateway(STRIDE_OIDC_PROVIDERS=json.dumps([{
        "name": "mock", "issuer": provider, "client_id": "stride-tests",
        "client_secret": "tests-client-secret"}]))
    return Oidc(provider, f"http://{gateway}")


def _start(oidc: Oidc, http: httpx.Client) -> str:
    response = http.get("/v1/auth/oidc/mock/start")
    assert response.status_code in (302, 303, 307), response.text
    authorize = response.headers["location"]
    query = parse_qs(urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["nonce"][0] and query["state"][0]
    return authorize


def _callback(http: httpx.Client, back: str) -> httpx.Response:
    parsed = urlparse(back)
    return http.get(parsed.path + "?" + parsed.query)


def test_sign_in_creates_an_account_once(oidc: Oidc) -> None:
    sub = oidc.user(f"alice-{time.time_ns()}", email=f"alice{time.time_ns()}@example.org",
                    email_verified=True, name="Alice")
    with httpx.Client(base_url=oidc.gateway, timeout=30) as http:
        assert http.get("/v1/auth/oidc/providers").json() == ["mock"]
        back = oidc.sign_in_at_provider(_start(oidc, http), sub)
        first = _callback(http, back)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["created"] is True and body["token"]
        me = http.get("/v1/users/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
        assert me["first_name"] == "Alice" and me["id"] == body["user_id"]
        # The same callback again: the attempt was used up.
        replay = _callback(http, back)
        assert replay.status_code == 400 and replay.json()["code"] == "invalid_state"
        again = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub)).json()
    assert again["created"] is False and again["user_id"] == body["user_id"]


def test_an_account_links_a_provider_and_then_signs_in_with_it(oidc: Oidc, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    sub = oidc.user(f"bob-{time.time_ns()}", email="bob-elsewhere@example.org", email_verified=True)
    with httpx.Client(base_url=oidc.gateway, timeout=30) as http:
        started = http.post("/v1/auth/oidc/mock/link", headers=user.headers)
        assert started.status_code == 200
        linked = _callback(http, oidc.sign_in_at_provider(started.json()["authorize_url"], sub))
        assert linked.status_code == 200 and linked.json()["linked"] is True
        signed_in = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub)).json()
        assert signed_in["user_id"] == str(user.id) and signed_in["created"] is False
        # Nobody else can link the same provider account.
        other = account()
        url = http.post("/v1/auth/oidc/mock/link", headers=other.headers).json()["authorize_url"]
        taken = _callback(http, oidc.sign_in_at_provider(url, sub))
    assert taken.status_code == 409 and taken.json()["code"] == "already_linked"


def test_an_existing_email_is_not_taken_over(oidc: Oidc, account) -> None:  # type: ignore[no-untyped-def]
    victim = account()
    sub = oidc.user(f"mallory-{time.time_ns()}", email=victim.email, email_verified=True)
    with httpx.Client(base_url=oidc.gateway, timeout=30) as http:
        response = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub))
    assert response.status_code == 409 and response.json()["code"] == "email_taken"


def test_unverified_email_and_forged_state_are_refused(oidc: Oidc) -> None:
    sub = oidc.user(f"eve-{time.time_ns()}", email=f"eve{time.time_ns()}@example.org",
                    email_verified=False)
    with httpx.Client(base_url=oidc.gateway, timeout=30) as http:
        unverified = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub))
        forged = http.get("/v1/auth/oidc/mock/callback", params={"code": "x", "state": "forged"})
        unknown = http.get("/v1/auth/oidc/nope/start")
    assert unverified.status_code == 403 and unverified.json()["code"] == "email_unverified"
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_state"
    assert unknown.status_code == 404
