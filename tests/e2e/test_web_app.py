"""The web app's shell in headless Chromium: what every page stands on.

Sign-in with the keyboard alone (and its refusals, announced), the role-aware navigation,
Russian and English, light and dark themes, phone width, deep links and the page that is
not there — each state checked by axe-core (WCAG 2.1 AA: no serious or critical
violation) and free of page errors, CSP violations included. The first load's JavaScript
is measured against its 300 KB (gzipped) budget.
"""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.async_api import expect
from user_accounts import Account
from web_browser import PHONE, artifacts, first_load_js_gzip_bytes, web_page

from stack.settings import Settings

pytestmark = pytest.mark.e2e

JS_BUDGET_GZIP_BYTES = 300 * 1024


async def test_sign_in_with_the_keyboard_and_out_again(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(first_name="Kira")
    async with web_page(stack) as web:
        await web.open("/")
        await web.heading("Sign in")
        await web.axe("sign-in")
        await web.screenshot("sign-in")
        # A wrong password is refused where a screen reader announces it (role=alert).
        await web.sign_in(athlete.email, "not the password")
        await expect(web.page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")
        await expect(web.page.locator("#password")).to_be_focused()
        await web.page.locator("#password").fill("")
        await web.page.keyboard.type(athlete.password)
        await web.page.keyboard.press("Enter")
        await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
        await expect(web.page.locator("h1")).not_to_have_text("Sign in")
        await web.axe("signed-in-home")
        # A reload keeps the session (the tab's storage); signing out ends it on the server too.
        await web.page.reload()
        await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
        token = await web.page.evaluate("sessionStorage.getItem('stride.token')")
        await web.page.get_by_role("button", name="Sign out").click()
        await web.heading("Sign in")
        await expect(web.page.get_by_role("alert")).to_have_text("You are signed out.")
        web.assert_no_errors()
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        me = await http.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401, "the token still works after signing out"


async def test_an_ended_session_sends_the_page_to_sign_in(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack) as web:
        await web.open("/")
        await web.sign_in(athlete.email, athlete.password)
        await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
        token = await web.page.evaluate("sessionStorage.getItem('stride.token')")
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            ended = await http.post("/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert ended.status_code == 204
        await web.page.reload()
        await web.heading("Sign in")
        web.assert_no_errors()


async def test_russian_dark_and_phone_width(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack, viewport=PHONE, color_scheme="dark", locale="ru-RU") as web:
        await web.open("/")
        # The browser's language picks Russian; the system's dark scheme the dark theme.
        await web.heading("Вход")
        assert await web.page.evaluate("document.documentElement.lang") == "ru"
        background = await web.page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 26)", background
        await web.axe("sign-in-ru-dark-phone")
        await web.screenshot("sign-in-ru-dark-phone")
        await web.sign_in(athlete.email, athlete.password)
        menu = web.page.get_by_role("button", name="Меню")
        await expect(web.page.get_by_role("button", name="Выйти")).to_be_visible()
        if await menu.count():  # at phone width the navigation folds behind a button
            await expect(web.page.locator("#main-nav")).to_be_hidden()
            await menu.click()
            await expect(menu).to_have_attribute("aria-expanded", "true")
            await expect(web.page.locator("#main-nav")).to_be_visible()
        await web.axe("home-ru-dark-phone")
        # Switching to English and to the light theme holds across a reload.
        await web.page.get_by_label("Язык").select_option("en")
        await web.page.get_by_label("Theme").select_option("light")
        await web.page.reload()
        await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
        assert await web.page.evaluate("document.documentElement.dataset.theme") == "light"
        await web.axe("home-en-light-phone")
        # Nothing overflows sideways at phone width.
        await web.assert_fits_width()
        web.assert_no_errors()


async def test_deep_links_and_a_page_that_is_not_there(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack) as web:
        await web.open("/app/no/such/page")
        await web.heading("Sign in")  # nothing is shown before signing in
        await web.sign_in(athlete.email, athlete.password)
        await web.heading("Page not found")
        await web.axe("not-found")
        web.assert_no_errors()
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        page = await http.get("/app/anything")
        api = await http.get("/v1/no-such-route")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe" not in csp
    config = page.text.split('name="stride-config" content="', 1)[1].split('"', 1)[0]
    assert json.loads(config.replace("&quot;", '"'))["origin"] == "public"
    assert api.status_code == 404 and api.json()["code"] == "not_found"


def test_first_load_javascript_within_budget(stack: Settings) -> None:
    size, scripts = first_load_js_gzip_bytes()
    (artifacts(stack) / "bundle.json").write_text(json.dumps(
        {"first_load_js_gzip_bytes": size, "budget_bytes": JS_BUDGET_GZIP_BYTES, "scripts": scripts}))
    print(f"first load: {size / 1024:.1f} KB of JavaScript gzipped ({', '.join(scripts)})")
    assert scripts, "the built index.html loads no script"
    assert size <= JS_BUDGET_GZIP_BYTES, f"{size / 1024:.1f} KB gzipped > 300 KB"
