"""The privacy page's health-data card in headless Chromium, against the running stack: the
athlete sees their consent and who read their health data (a coach's read, with the group
whose consent allowed it), withdraws the consent with the keyboard after a confirmation, and
gives it again. axe-core (WCAG 2.1 AA) and a screenshot in every state, and in Russian at
phone width in the dark theme."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from playwright.async_api import expect
from user_accounts import Account, remember
from web_browser import PHONE, web_page

from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


async def _read_by_a_coach(stack: Settings, http: httpx.AsyncClient, athlete: Account,
                           coach: Account) -> None:
    """The coach of the athlete's group, with a live consent, reads a live workout of theirs;
    returns once the read is in the athlete's access log."""
    group = (await http.post("/v1/groups", headers=coach.headers,
                             json={"name": "Track Tuesdays", "sport": "run"})).json()["id"]
    await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                    json={"user_id": str(athlete.id), "role": "athlete"})
    assert (await http.post("/v1/consents", headers=athlete.headers,
                            json={"group_id": group, "scope": "live"})).status_code == 201
    wid, t0 = uuid.uuid4(), int(time.time() * 1000) - 10_000
    async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
        await device.start(wid, "run", t0)
        await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0, 7.0, None, 150.0, 97.0)
                                           for i in range(3)])

    async def stored() -> bool:
        return (await http.get(f"/v1/workouts/{wid}", headers=athlete.headers)).status_code == 200

    async def logged() -> bool:
        return bool((await http.get("/v1/me/access-log", headers=athlete.headers)).json())

    assert await wait_until_async(stored, 20, interval_s=0.1)
    assert (await http.get(f"/v1/workouts/{wid}", headers=coach.headers)).status_code == 200
    assert await wait_until_async(logged, 20, interval_s=0.1)


async def test_the_athlete_sees_who_read_and_withdraws_and_gives_consent(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(first_name="Ada")
    coach: Account = account(first_name="Cleo", last_name="Coach")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        await _read_by_a_coach(stack, http, athlete, coach)
        async with web_page(stack) as web:
            page = web.page
            await web.open("/app/account/privacy")
            await web.sign_in(athlete.email, athlete.password)
            await web.heading("Privacy")
            card = page.get_by_role("heading", name="Your health data", exact=True)
            await expect(card).to_be_visible()
            consented = page.get_by_text("You consented to the processing of your heart rate")
            await expect(consented).to_be_visible()
            log = page.get_by_role("region", name="Who read your health data")
            row = log.get_by_role("row").filter(has_text="Cleo Coach (coach)")
            await expect(row).to_contain_text("a workout")
            await expect(row).to_contain_text("your consent to Track Tuesdays")
            await web.axe("health-consent-given")
            await web.screenshot("health-consent-given")

            await page.get_by_role("button", name="Withdraw consent").click()
            confirm = page.get_by_role("group").get_by_role("button", name="Withdraw consent")
            await expect(confirm).to_be_focused()  # the keyboard lands on it: Enter confirms
            await web.axe("health-consent-withdraw-asked")
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("status")).to_contain_text("Consent withdrawn")
            standing = (await http.get("/v1/me/health-consent", headers=athlete.headers)).json()
            assert not standing["health_consent"] and not standing["health_processing"]
            await web.axe("health-consent-withdrawn")
            await web.screenshot("health-consent-withdrawn")

            await page.get_by_role("button", name="Consent to processing my health data").click()
            await expect(page.get_by_role("status")).to_contain_text("Consent given")
            assert (await http.get("/v1/me/health-consent", headers=athlete.headers)).json()[
                "health_processing"]
            journal = (await http.get("/v1/consents/journal", headers=athlete.headers)).json()
            assert [e["action"] for e in journal if e["scope"] == "health_processing"] == [
                "granted", "withdrawn", "granted"]
            web.assert_no_errors()

        async with web_page(stack, viewport=PHONE, color_scheme="dark", locale="ru-RU") as web:
            await web.open("/app/account/privacy")
            await web.sign_in(athlete.email, athlete.password)
            title = web.page.get_by_role("heading", name="Ваши данные о здоровье", exact=True)
            await expect(title).to_be_visible()
            await web.assert_fits_width()
            await web.axe("health-consent-ru-dark-phone")
            await web.screenshot("health-consent-ru-dark-phone")
            web.assert_no_errors()


async def test_sign_up_asks_for_the_consent_on_its_own_unticked_checkbox(
        stack: Settings) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        for consent in (True, False):
            email = f"signup-{uuid.uuid4().hex[:10]}@example.org"
            password = "a sign-up passphrase " + uuid.uuid4().hex[:6]
            remember(password)
            async with web_page(stack) as web:
                page = web.page
                await web.open("/app/account/privacy")
                await web.heading("Sign in")
                await page.get_by_role("button", name="Create an account").click()
                await web.heading("Create an account")
                box = page.get_by_label(re.compile("I consent to Stride processing my heart rate"))
                await expect(box).not_to_be_checked()
                await expect(box).to_be_enabled()  # the policy's version has loaded
                await page.get_by_label("E-mail").fill(email)
                await page.get_by_label("Password").fill(password)
                if consent:
                    await box.check()
                    await web.axe("sign-up")
                    await web.screenshot("sign-up")
                await page.get_by_role("button", name="Create account").click()
                await web.heading("Privacy")  # signed in, on the page first asked for
                shown = ("You consented to the processing" if consent
                         else "You have not consented to the processing")
                await expect(page.get_by_text(shown)).to_be_visible()
                web.assert_no_errors()
            token = (await http.post("/v1/auth/login", json={"email": email, "password": password}
                                     )).json()["token"]
            remember(token)
            standing = (await http.get("/v1/me/health-consent",
                                       headers={"Authorization": f"Bearer {token}"})).json()
            assert standing["health_consent"] is consent
            assert standing["policy_version"] == (standing["current_policy_version"] if consent else None)
