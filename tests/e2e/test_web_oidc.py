"""Signing in with an OpenID Connect provider from the web app, in headless Chromium.

The provider is the real one of tests/e2e/test_oidc.py (tests/e2e/oidc_pkce_provider.py),
on loopback with a gateway of its own. A browser coming back from the provider is sent to
the app's `/app/signin/oidc` page with a single-use code in the URL fragment; the page
collects the result (`POST /v1/auth/oidc/handoff`) from the same browser and signs in. The
token never appears in a URL.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import httpx
import pytest
from helper_processes import Processes, http_url, oidc_provider, oidc_setting
from playwright.async_api import expect
from web_browser import web_page

from stack.settings import Settings

pytestmark = pytest.mark.e2e


class Provider:
    def __init__(self, issuer: str, gateway: str) -> None:
        self.issuer = issuer
        self.gateway = gateway

    def user(self, sub: str, **claims: object) -> str:
        assert httpx.put(f"{self.issuer}/users/{sub}", json=claims).status_code == 204
        return sub


@pytest.fixture(scope="module")
def provider(processes: Processes) -> Provider:
    issuer = oidc_provider(processes)
    return Provider(issuer, http_url(processes.gateway(**oidc_setting(issuer))))


def _html_callback(http: httpx.Client, sub: str, issuer: str, start: httpx.Response) -> httpx.Response:
    """As a browser: sign in at the provider, follow it back to the callback asking for HTML."""
    back = httpx.post(start.headers["location"], data={"sub": sub}).headers["location"]
    parsed = urlparse(back)
    return http.get(f"{parsed.path}?{parsed.query}", headers={"Accept": "text/html"})


async def test_sign_in_with_the_provider_in_the_browser(stack: Settings, provider: Provider) -> None:
    stamp = time.time_ns()
    sub = provider.user(f"web-{stamp}", email=f"web{stamp}@example.org", email_verified=True,
                        name="Wen Provider")
    async with web_page(stack, base_url=provider.gateway) as web:
        seen: list[str] = []
        web.page.on("request", lambda r: seen.append(r.url))
        await web.open("/")
        await web.heading("Sign in")
        await web.page.get_by_role("link", name="Sign in with mock").click()
        # The provider's own login page: who to sign in as.
        await web.page.locator("input[name=sub]").fill(sub)
        await web.page.locator("form [type=submit]").first.click()
        await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
        # Off the hand-off page, its code gone from the address bar.
        home = re.compile(rf"^{re.escape(provider.gateway)}/(app/(?!signin).*)?$")
        await expect(web.page).to_have_url(home)
        token = await web.page.evaluate("sessionStorage.getItem('stride.token')")
        await web.axe("oidc-signed-in")
        web.assert_no_errors()
    assert token and not any(token in url for url in seen), "the token appeared in a URL"
    async with httpx.AsyncClient(base_url=provider.gateway) as http:
        me = await http.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == f"web{stamp}@example.org"


def test_a_handoff_is_single_use_and_bound_to_its_browser(provider: Provider) -> None:
    stamp = time.time_ns()
    sub = provider.user(f"hand-{stamp}", email=f"hand{stamp}@example.org", email_verified=True)
    with httpx.Client(base_url=provider.gateway) as browser, \
            httpx.Client(base_url=provider.gateway) as elsewhere:
        back = _html_callback(browser, sub, provider.issuer, browser.get("/v1/auth/oidc/mock/start"))
        assert back.status_code in (302, 303) and back.headers["cache-control"] == "no-store"
        page, _, fragment = back.headers["location"].partition("#")
        assert page == "/app/signin/oidc" and fragment.startswith("handoff=")
        code = fragment.removeprefix("handoff=")
        # Another browser (without the flow's cookie) cannot collect it…
        stolen = elsewhere.post("/v1/auth/oidc/handoff", json={"code": code})
        assert stolen.status_code == 400 and stolen.json()["code"] == "browser_mismatch"
        # …a stolen attempt used it up, so the owner starts again (nothing leaked).
        again = _html_callback(browser, sub, provider.issuer, browser.get("/v1/auth/oidc/mock/start"))
        code = again.headers["location"].partition("#handoff=")[2]
        got = browser.post("/v1/auth/oidc/handoff", json={"code": code})
        assert got.status_code == 200 and got.json()["token"], got.text
        assert got.headers["cache-control"] == "no-store"
        replay = browser.post("/v1/auth/oidc/handoff", json={"code": code})
        assert replay.status_code == 400 and replay.json()["code"] == "invalid_handoff"
        bad = browser.post("/v1/auth/oidc/handoff", json={"code": "short"})
        assert bad.status_code == 400 and "code" in bad.json()
        # An API client (no HTML asked for) still gets the JSON answer, as before.
        plain = browser.get("/v1/auth/oidc/mock/start")
        answer = httpx.post(plain.headers["location"], data={"sub": sub}).headers["location"]
        parsed = urlparse(answer)
        direct = browser.get(f"{parsed.path}?{parsed.query}")
    assert direct.status_code == 200 and direct.json()["token"]
