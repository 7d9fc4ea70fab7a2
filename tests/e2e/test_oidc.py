"""Sign in with OpenID Connect, end to end, against a real provider process.

The fixture starts the provider (tests/e2e/oidc_pkce_provider.py, which insists on PKCE
S256 and a nonce) and a second gateway process configured with it, with the production
limits and 127.0.0.1 as a trusted proxy (each test's browser gets an address of its own in
X-Forwarded-For); both on loopback, both stopped afterwards. The "user at the provider" is
played by posting its login form. Each `httpx.Client` is one browser, with its cookies.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest
from helper_processes import PROXY_SETTINGS, Processes, http_url, oidc_provider, oidc_setting, some_address

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
    provider = oidc_provider(processes)
    gateway = processes.gateway(production_limits=True, **oidc_setting(provider), **PROXY_SETTINGS)
    return Oidc(provider, http_url(gateway))


def browser(oidc: Oidc) -> httpx.Client:
    """A browser of its own: its own cookies, its own client address."""
    return httpx.Client(base_url=oidc.gateway, timeout=30, headers={"X-Forwarded-For": some_address()})


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
    with browser(oidc) as http:
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


def _link(oidc: Oidc, http: httpx.Client, user, sub: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    """Ask to link, sign in at the provider, come back: the callback's proposal."""
    started = http.post("/v1/auth/oidc/mock/link", headers=user.headers)
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    return _callback(http, oidc.sign_in_at_provider(started.json()["authorize_url"], sub))


def test_an_account_links_a_provider_and_then_signs_in_with_it(oidc: Oidc, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    sub = oidc.user(f"bob-{time.time_ns()}", email="bob-elsewhere@example.org", email_verified=True,
                    name="Bob Elsewhere")
    with browser(oidc) as http:
        proposal = _link(oidc, http, user, sub)
        assert proposal.status_code == 200, proposal.text
        link = proposal.json()["link"]
        # Shown before anything is linked: which provider account it is.
        assert (link["subject"], link["email"], link["name"]) == (sub, "bob-elsewhere@example.org",
                                                                  "Bob Elsewhere")
        other = account()
        foreign = http.post(link["confirm"], headers=other.headers)
        assert foreign.status_code == 404  # only the session that asked may confirm
        linked = http.post(link["confirm"], headers=user.headers)
        assert linked.status_code == 200 and linked.json()["linked"] is True
        # Nobody else can link the same provider account.
        taken = http.post(_link(oidc, http, other, sub).json()["link"]["confirm"],
                          headers=other.headers)
    assert taken.status_code == 409 and taken.json()["code"] == "already_linked"


def test_an_account_links_then_signs_in_with_the_provider(oidc: Oidc, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    sub = oidc.user(f"cy-{time.time_ns()}", email=f"cy{time.time_ns()}@example.org", email_verified=True)
    with browser(oidc) as http:
        link = _link(oidc, http, user, sub).json()["link"]
        assert http.post(link["confirm"], headers=user.headers).status_code == 200
        signed_in = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub))
    assert signed_in.headers["cache-control"] == "no-store"
    assert signed_in.json()["user_id"] == str(user.id) and signed_in.json()["created"] is False


def test_login_csrf_a_flow_started_by_an_attacker_cannot_be_finished_by_a_victim(  # type: ignore[no-untyped-def]
        oidc: Oidc, account, stack) -> None:
    """The attacker starts linking a provider to *their* account and sends the victim the
    authorize URL; the victim signs in at the provider and is sent back to the callback.
    Without the binding the victim's provider identity would end up on the attacker's
    account (and the victim's later sign-ins with it in the attacker's account)."""
    attacker = account()
    victim_sub = oidc.user(f"victim-{time.time_ns()}", email=f"v{time.time_ns()}@example.org",
                           email_verified=True)
    with browser(oidc) as attacker_browser:
        lure = attacker_browser.post("/v1/auth/oidc/mock/link",
                                     headers=attacker.headers).json()["authorize_url"]
    with browser(oidc) as victim_browser:
        back = oidc.sign_in_at_provider(lure, victim_sub)
        refused = _callback(victim_browser, back)
    assert refused.status_code == 400 and refused.json()["code"] == "browser_mismatch"
    with psycopg.connect(stack.pg_dsn) as conn:
        linked = conn.execute("SELECT count(*) FROM social_logins WHERE external_id = %s",
                              (victim_sub,)).fetchone()
    assert linked == (0,)


def test_sign_in_flows_started_are_limited_per_address(oidc: Oidc) -> None:
    from gateway.quotas import Quotas

    with browser(oidc) as http:
        codes = [http.get("/v1/auth/oidc/mock/start").status_code
                 for _ in range(Quotas().oidc_flows_per_min + 1)]
        refused = http.get("/v1/auth/oidc/mock/start")
    assert codes[:-1] == [302] * Quotas().oidc_flows_per_min
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_oidc_flows"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    with browser(oidc) as elsewhere:  # another address is not affected
        assert elsewhere.get("/v1/auth/oidc/mock/start").status_code == 302


def test_an_existing_email_is_not_taken_over(oidc: Oidc, account) -> None:  # type: ignore[no-untyped-def]
    victim = account()
    sub = oidc.user(f"mallory-{time.time_ns()}", email=victim.email, email_verified=True)
    with browser(oidc) as http:
        response = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub))
    assert response.status_code == 409 and response.json()["code"] == "email_taken"


def test_unverified_email_and_forged_state_are_refused(oidc: Oidc) -> None:
    sub = oidc.user(f"eve-{time.time_ns()}", email=f"eve{time.time_ns()}@example.org",
                    email_verified=False)
    with browser(oidc) as http:
        unverified = _callback(http, oidc.sign_in_at_provider(_start(oidc, http), sub))
        forged = http.get("/v1/auth/oidc/mock/callback", params={"code": "x", "state": "forged"})
        unknown = http.get("/v1/auth/oidc/nope/start")
    assert unverified.status_code == 403 and unverified.json()["code"] == "email_unverified"
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_state"
    assert unknown.status_code == 404
