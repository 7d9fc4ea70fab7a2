"""The web app on the internal origin (gateway/internal), in headless Chromium.

The same bundle, told by its page config that it is the operations origin: its own
sign-in (password and a TOTP code, always), persisted GraphQL operations only, and none
of the public pages. A public-side session does not open it.
"""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.async_api import expect
from user_accounts import Account
from web_browser import web_page

from stack.settings import Settings

pytestmark = pytest.mark.e2e


async def test_an_admin_signs_in_with_a_code_on_the_internal_origin(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    admin: Account = account(roles=("admin",))
    assert admin.totp_secret
    async with web_page(stack, base_url=stack.internal_gateway_url) as web:
        await web.open("/")
        await web.heading("Operations sign-in")
        await expect(web.page.locator("#otp")).to_be_visible()  # the code is always asked for
        await web.axe("internal-sign-in")
        await web.screenshot("internal-sign-in")
        # Without a code: refused, the code field focused.
        await web.sign_in(admin.email, admin.password)
        await expect(web.page.get_by_role("alert")).to_be_visible()
        # The current step's code went to the enrolment: the next one (within the drift).
        await web.sign_in(admin.email, admin.password, pyotp.TOTP(admin.totp_secret).at(time.time() + 30))
        await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()
        # Public pages do not exist here.
        await web.open("/app/workouts")
        await web.heading("Page not found")
        await web.axe("internal-not-found")
        web.assert_no_errors()


async def test_a_public_session_does_not_open_the_internal_origin(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    admin: Account = account(roles=("admin",))  # its token is a public-side session
    async with web_page(stack, base_url=stack.internal_gateway_url) as web:
        await web.open("/")
        await web.page.evaluate("(t) => sessionStorage.setItem('stride.token', t)", admin.token)
        await web.page.reload()
        await web.heading("Operations sign-in")
        assert await web.page.evaluate("sessionStorage.getItem('stride.token')") is None
        web.assert_no_errors()
