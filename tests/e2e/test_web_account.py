"""The athlete's account pages in headless Chromium, against the running stack.

Profile and training preferences (a refused field marked where it is), privacy, password
and e-mail with re-authentication, two-step sign-in enrolled end to end with a real TOTP
code (then signing in again with one), device tokens shown once, sessions, groups and
invitations, and consents granted and withdrawn with the keyboard alone, with their
journal. Groups and invitations are set up through the REST API as a coach would. Every
page and state is checked by axe-core (WCAG 2.1 AA) and photographed; the pages are also
walked at phone width in the dark theme, in Russian.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psycopg
import pyotp
import pytest
from playwright.async_api import Locator, Page, expect
from user_accounts import Account, remember
from web_browser import PHONE, WebPage, web_page

from stack.settings import Settings

pytestmark = pytest.mark.e2e

ACCOUNT_PAGES = ["/app/account", "/app/account/privacy", "/app/account/security", "/app/account/mfa",
                 "/app/account/devices", "/app/account/sessions", "/app/groups", "/app/consents"]


@asynccontextmanager
async def rest(stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        yield http


async def call(http: httpx.AsyncClient, who: Account, method: str, path: str,
               json: object | None = None, status: int = 200) -> httpx.Response:
    """A REST call as `who` that must answer `status`."""
    resp = await http.request(method, path, headers=who.headers, json=json)
    assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
    return resp


def password_is_stale(stack: Settings, user: Account) -> None:
    """As if the password was last given an hour ago on every session of `user`: the next
    sensitive change answers 403 `reauth_required` (the window is 10 minutes)."""
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET reauth_at = now() - interval '1 hour' WHERE user_id = %s",
                     (user.id,))


async def signed_in(web: WebPage, user: Account, path: str, heading: str) -> None:
    await web.open(path)
    await web.sign_in(user.email, user.password)
    await web.heading(heading)


async def check(web: WebPage, name: str) -> None:
    """What every state gets: axe-core's WCAG 2.1 AA rules and a screenshot."""
    await web.axe(name)
    await web.screenshot(name)


async def said(page: Page, text: str) -> None:
    """A success the page announces (role=status)."""
    await expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


async def recovery_codes(web: WebPage) -> list[str]:
    codes: list[str] = await web.page.get_by_role("list", name="Recovery codes").get_by_role(
        "listitem").all_inner_texts()
    return codes


async def tab_to(web: WebPage, target: Locator, most: int = 25) -> int:
    """Presses Tab until `target` has the focus (the keyboard path a person takes); how
    many presses it took. Fails when it is not reached."""
    for presses in range(1, most + 1):
        await web.page.keyboard.press("Tab")
        if await target.evaluate("(el) => el === document.activeElement"):
            return presses
    raise AssertionError(f"{target} not reached with {most} presses of Tab")


async def test_profile_saves_and_marks_a_refused_field(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(first_name="Kira")
    async with web_page(stack) as web, rest(stack) as http:
        page = web.page
        await signed_in(web, athlete, "/app/account", "Profile and training preferences")
        nav = page.get_by_role("navigation", name="Main")
        for item in ("Account", "Groups", "Consents"):
            await expect(nav.get_by_role("link", name=item, exact=True)).to_be_visible()
        await expect(page.get_by_label("First name")).to_have_value("Kira")
        await check(web, "account-profile")
        await page.get_by_label("Last name").fill("Ivanova")
        await page.get_by_label("Date of birth").fill("1994-05-17")
        await page.get_by_label("Sex").select_option("female")
        await page.get_by_label("Weight (kg)").fill("61.5")
        await page.get_by_label("Resting heart rate (bpm)").fill("52")
        await page.get_by_label("Maximum heart rate (bpm)").fill("188")
        await page.get_by_label("VO2max (ml/kg/min)").fill("51")
        await page.get_by_label("Country").fill("ru")
        await page.get_by_label("City").fill("Kazan")
        await page.get_by_label("Goal").select_option("endurance")
        await page.get_by_label("Equipment at hand").select_option("treadmill")
        await page.get_by_role("button", name="Save").click()
        await said(page, "Saved.")
        me = (await call(http, athlete, "GET", "/v1/users/me")).json()
        assert {k: me[k] for k in ("last_name", "birth_date", "sex", "weight_kg", "hr_rest", "hr_max",
                                   "vo2max", "country", "city", "goal", "inventory")} == {
            "last_name": "Ivanova", "birth_date": "1994-05-17", "sex": "female", "weight_kg": 61.5,
            "hr_rest": 52, "hr_max": 188, "vo2max": 51.0, "country": "RU", "city": "Kazan",
            "goal": "endurance", "inventory": "treadmill"}
        await check(web, "account-profile-saved")

        # A resting heart rate the API refuses is marked at its field, which takes the focus.
        rest_hr = page.get_by_label("Resting heart rate (bpm)")
        await rest_hr.fill("5")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("alert")).to_have_text("Not saved: correct the marked field.")
        await expect(page.locator("#profile-hr_rest-error")).to_have_text(
            "Enter a whole number from 20 to 150 bpm.")
        await expect(rest_hr).to_have_attribute("aria-invalid", "true")
        await expect(rest_hr).to_be_focused()
        await check(web, "account-profile-refused")
        # A maximum below the resting rate: the database's check, marked at the maximum.
        await rest_hr.fill("100")
        await page.get_by_label("Maximum heart rate (bpm)").fill("90")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("#profile-hr_max-error")).to_have_text(
            "Enter a whole number from 60 to 250 bpm, above your resting heart rate.")
        await expect(page.locator("#profile-hr_rest-error")).to_have_count(0)
        me = (await call(http, athlete, "GET", "/v1/users/me")).json()
        assert (me["hr_rest"], me["hr_max"]) == (52, 188), "a refused change was stored"
        web.assert_no_errors()


async def test_privacy_settings_and_an_ended_session(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack) as web, rest(stack) as http:
        page = web.page
        await signed_in(web, athlete, "/app/account/privacy", "Privacy")
        await expect(page.get_by_label("Your profile")).to_have_value("private")
        await expect(page.get_by_label("Show my name on leaderboards")).not_to_be_checked()
        await check(web, "account-privacy")
        await page.get_by_label("Your profile").select_option("followers")
        await page.get_by_label("Show my name on leaderboards").check()
        await page.get_by_role("button", name="Save").click()
        await said(page, "Saved.")
        assert (await call(http, athlete, "GET", "/v1/users/me/privacy")).json() == {
            "leaderboard_name": True, "profile_visibility": "followers", "workout_visibility": "private",
            "in_percentiles": False}
        # The page's session is ended elsewhere: saving says so and asks to sign in again.
        sessions = (await call(http, athlete, "GET", "/v1/sessions")).json()
        browser_session = next(s["id"] for s in sessions if not s["current"])
        await call(http, athlete, "DELETE", f"/v1/sessions/{browser_session}", status=204)
        await page.get_by_label("Count me in percentiles").check()
        await page.get_by_role("button", name="Save").click()
        await web.heading("Sign in")
        await expect(page.get_by_role("alert")).to_have_text("Your session has ended; sign in again.")
        await check(web, "account-privacy-session-ended")
        assert (await call(http, athlete, "GET", "/v1/users/me/privacy")).json()["in_percentiles"] is False
        web.assert_no_errors()


async def test_password_and_email_changes_with_reauthentication(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    other: Account = account()
    async with web_page(stack) as web, rest(stack) as http:
        page = web.page
        await signed_in(web, athlete, "/app/account/security", "Password and e-mail")
        await expect(page.get_by_text(f"You sign in as {athlete.email}.")).to_be_visible()
        await check(web, "account-security")

        # A wrong current password is refused at its field; the session goes on.
        await page.get_by_label("Current password").fill("not my password at all")
        await page.get_by_label("New password", exact=True).fill("a brand new passphrase 1")
        await page.get_by_label("New password again").fill("a brand new passphrase 1")
        await page.get_by_role("button", name="Change the password").click()
        await expect(page.locator("#password-current-error")).to_have_text(
            "This is not your current password.")
        await expect(page.get_by_label("Current password")).to_be_focused()
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        await check(web, "account-password-refused")
        new_password = "a brand new passphrase " + uuid.uuid4().hex[:6]
        remember(new_password)
        await page.get_by_label("Current password").fill(athlete.password)
        await page.get_by_label("New password", exact=True).fill(new_password)
        await page.get_by_label("New password again").fill(new_password)
        await page.get_by_role("button", name="Change the password").click()
        await said(page, "Password changed")
        assert (await http.get("/v1/users/me", headers=athlete.headers)).status_code == 401, \
            "the other session still works after the password changed"

        # An address another account has is refused at the field.
        await page.get_by_label("New e-mail").fill(other.email)
        await page.get_by_role("button", name="Change the e-mail").click()
        await expect(page.locator("#email-new-error")).to_have_text("Another account uses this address.")
        await check(web, "account-email-refused")

        # The password was given long ago: the change asks for it, and goes through after.
        password_is_stale(stack, athlete)
        new_email = f"moved-{uuid.uuid4().hex[:10]}@example.org"
        await page.get_by_label("New e-mail").fill(new_email)
        await page.get_by_role("button", name="Change the e-mail").click()
        dialog = page.get_by_role("dialog", name="Confirm it is you")
        await expect(dialog).to_be_visible()
        await expect(dialog.get_by_label("Your password")).to_be_focused()
        await check(web, "account-reauth-dialog")
        await page.keyboard.type("not my password at all")
        await page.keyboard.press("Enter")
        await expect(dialog.locator("#reauth-password-error")).to_have_text("Wrong password.")
        await dialog.get_by_label("Your password").fill(new_password)
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(dialog).to_be_hidden()
        await said(page, f"Your e-mail is now {new_email}.")
        await expect(page.get_by_text(f"You sign in as {new_email}.")).to_be_visible()
        await check(web, "account-email-changed")
        login = await http.post("/v1/auth/login", json={"email": new_email, "password": new_password})
        assert login.status_code == 200, login.text
        remember(login.json()["token"])
        web.assert_no_errors()


async def test_two_step_sign_in_enrolled_end_to_end(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack) as web, rest(stack) as http:
        page = web.page
        await signed_in(web, athlete, "/app/account/mfa", "Two-step sign-in")
        await expect(page.get_by_role("heading", name="Two-step sign-in is off")).to_be_visible()
        await check(web, "account-mfa-off")
        await page.get_by_role("button", name="Set up an authenticator app").click()
        await expect(page.get_by_role("heading", name="Add Stride to your authenticator app")).to_be_focused()
        uri = await page.locator("#mfa-uri").inner_text()
        shown = (await page.locator("#mfa-secret").inner_text()).replace(" ", "")
        secret = re.search(r"[?&]secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]
        assert uri.startswith("otpauth://totp/") and "issuer=Stride" in uri and shown == secret
        await expect(page.get_by_role("link", name="Open in an authenticator app")).to_have_attribute(
            "href", uri)
        await check(web, "account-mfa-enrolling")

        # A wrong code is refused at the field; the right one turns it on.
        code = page.get_by_label("The 6-digit code the app shows")
        totp = pyotp.TOTP(secret)
        wrong = "000000" if totp.now() != "000000" else "111111"
        await code.fill(wrong)
        await page.get_by_role("button", name="Turn on").click()
        await expect(page.locator("#mfa-code-error")).to_contain_text("Wrong or already used code")
        await expect(code).to_be_focused()
        await check(web, "account-mfa-code-refused")
        await code.fill(totp.now())
        await page.get_by_role("button", name="Turn on").click()
        codes_heading = page.get_by_role("heading", name="Two-step sign-in is on: save your recovery codes")
        await expect(codes_heading).to_be_focused()
        codes = await recovery_codes(web)
        assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes), codes
        remember(*codes)
        await check(web, "account-mfa-recovery-codes")
        await page.get_by_role("button", name="I have saved them").click()
        await expect(page.get_by_text("Recovery codes left: 10.")).to_be_visible()
        await check(web, "account-mfa-on")
        status = (await call(http, athlete, "GET", "/v1/users/me/mfa")).json()
        assert status["totp"] is True and status["recovery_codes_left"] == 10

        # Signed out, the password alone no longer opens the account; with the next code it does.
        await page.get_by_role("button", name="Sign out").click()
        await web.heading("Sign in")
        await web.sign_in(athlete.email, athlete.password)
        await expect(page.get_by_role("alert")).to_have_text("Enter the code from your app.")
        otp = page.get_by_label("Code from your authenticator app (or a recovery code)")
        await otp.fill(totp.at(int(time.time()) + 30))  # the enrolment used this step's code
        await otp.press("Enter")
        await web.heading("Two-step sign-in")
        await expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()

        # New recovery codes need the password again, and with MFA a code: a recovery code.
        password_is_stale(stack, athlete)
        await page.get_by_role("button", name="New recovery codes").click()
        dialog = page.get_by_role("dialog", name="Confirm it is you")
        await dialog.get_by_label("Your password").fill(athlete.password)
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(dialog.locator("#reauth-otp-error")).to_have_text(
            "Your account uses two-step sign-in: enter the code from your app.")
        await expect(dialog.locator("#reauth-otp")).to_be_focused()
        await check(web, "account-mfa-reauth-code")
        await page.keyboard.type(codes[0])
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Your new recovery codes")).to_be_focused()
        fresh = await recovery_codes(web)
        remember(*fresh)
        assert len(fresh) == 10 and not set(fresh) & set(codes)
        await page.get_by_role("button", name="I have saved them").click()

        # Turning it off asks first; then the password alone opens the account again.
        await page.get_by_role("button", name="Turn off").click()
        await check(web, "account-mfa-turn-off-ask")
        await page.get_by_role("button", name="Turn two-step sign-in off").click()
        await said(page, "Two-step sign-in is off.")
        await expect(page.get_by_role("heading", name="Two-step sign-in is off")).to_be_visible()
        login = await http.post("/v1/auth/login", json={"email": athlete.email, "password": athlete.password})
        assert login.status_code == 200, login.text
        remember(login.json()["token"])
        web.assert_no_errors()


async def test_device_tokens_shown_once_and_revoked(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack) as web, rest(stack) as http:
        page = web.page
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                             origin=stack.gateway_url)
        await signed_in(web, athlete, "/app/account/devices", "Devices")
        await expect(page.get_by_text("No devices yet.")).to_be_visible()
        await check(web, "account-devices-empty")
        # A nameless device is refused at the field.
        await page.get_by_role("button", name="Make a token").click()
        await expect(page.locator("#device-name-error")).to_contain_text("Give the device a name")
        await expect(page.get_by_label("Device name")).to_be_focused()
        await check(web, "account-devices-refused")
        # The password was given long ago: the dialog asks for it, then the token shows once.
        password_is_stale(stack, athlete)
        await page.get_by_label("Device name").fill("Forerunner 265")
        await page.get_by_role("button", name="Make a token").click()
        dialog = page.get_by_role("dialog", name="Confirm it is you")
        await dialog.get_by_label("Your password").fill(athlete.password)
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("heading", name="Token for Forerunner 265")).to_be_focused()
        token = await page.locator("#device-token").inner_text()
        remember(token)
        await page.get_by_role("button", name="Copy the token").click()
        await said(page, "Copied.")
        assert await page.evaluate("navigator.clipboard.readText()") == token
        await expect(page.get_by_role("rowheader", name="Forerunner 265")).to_be_visible()
        await check(web, "account-devices-token-shown")
        device = {"Authorization": f"Bearer {token}"}
        as_device = await http.get("/v1/users/me", headers=device)
        assert as_device.status_code == 403 and as_device.json()["code"] == "device_token"
        # Revoked: gone from the list, and the token opens nothing any more.
        await page.get_by_role("button", name="Revoke Forerunner 265").click()
        await said(page, "Forerunner 265 is revoked")
        await expect(page.get_by_role("heading", name="Token for Forerunner 265")).to_have_count(0)
        await expect(page.get_by_text("No devices yet.")).to_be_visible()
        assert (await http.get("/v1/users/me", headers=device)).status_code == 401
        await check(web, "account-devices-revoked")
        web.assert_no_errors()


async def test_sessions_this_one_marked_others_ended(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with web_page(stack) as web, rest(stack) as http:
        page = web.page
        await signed_in(web, athlete, "/app/account/sessions", "Sessions")
        rows = page.locator("tbody tr")
        await expect(rows).to_have_count(2)
        await expect(page.locator("tr.account-current")).to_contain_text("This session")
        this_one = page.locator("tr.account-current")
        await expect(this_one.get_by_role("button", name="Sign out")).to_be_visible()
        await check(web, "account-sessions")
        # Ending the other one ends the API's session.
        other_row = page.locator("tbody tr:not(.account-current)")
        end_other = other_row.get_by_role("button", name=re.compile("^End"))
        await end_other.click()
        await said(page, "The session is ended.")
        await expect(rows).to_have_count(1)
        assert (await http.get("/v1/users/me", headers=athlete.headers)).status_code == 401
        # A session that ended meanwhile: the page says so and brings the list up to date.
        login = await http.post("/v1/auth/login", json={"email": athlete.email, "password": athlete.password})
        remember(login.json()["token"])
        other = {"Authorization": f"Bearer {login.json()['token']}"}
        await page.reload()
        await web.heading("Sessions")
        await expect(rows).to_have_count(2)
        assert (await http.post("/v1/auth/logout", headers=other)).status_code == 204
        await end_other.click()
        await expect(page.get_by_role("alert")).to_have_text(
            "That session had already ended: the list is brought up to date.")
        await expect(rows).to_have_count(1)
        await check(web, "account-sessions-refused")
        # Ending this one is signing out.
        await this_one.get_by_role("button", name="Sign out").click()
        await web.heading("Sign in")
        web.assert_no_errors()


async def test_groups_invitations_and_leaving(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(first_name="Kira")
    coach: Account = account(roles=("coach",), first_name="Vera", last_name="Petrova")
    teammate: Account = account()
    async with rest(stack) as http:
        runners = (await call(http, coach, "POST", "/v1/groups", {"name": "Morning runners", "sport": "run"},
                              status=201)).json()["id"]
        await call(http, coach, "POST", f"/v1/groups/{runners}/members",
                   {"user_id": str(athlete.id), "role": "athlete"})
        track = (await call(http, coach, "POST", "/v1/groups", {"name": "Track club", "sport": "run"},
                            status=201)).json()["id"]
        swim = (await call(http, coach, "POST", "/v1/groups", {"name": "Swim squad", "sport": "swim"},
                           status=201)).json()["id"]
        for group in (track, swim):
            invited = await call(http, coach, "POST", f"/v1/groups/{group}/members",
                                 {"user_id": str(athlete.id), "role": "coach"})
            assert invited.json()["status"] == "invited"
        # A group the athlete made and is the only coach of, with a member.
        own = (await call(http, athlete, "POST", "/v1/groups", {"name": "Kira's club", "sport": "ride"},
                          status=201)).json()["id"]
        await call(http, athlete, "POST", f"/v1/groups/{own}/members",
                   {"user_id": str(teammate.id), "role": "athlete"})

        async with web_page(stack) as web:
            page = web.page
            await signed_in(web, athlete, "/app/groups", "Groups")
            groups = page.get_by_role("region", name="Your groups")
            runners_row = groups.get_by_role("row", name=re.compile("Morning runners"))
            await expect(runners_row).to_contain_text("Athlete")
            await expect(groups.get_by_role("row", name=re.compile("Kira's club"))).to_contain_text("Coach")
            await expect(page.get_by_text("You are invited to Track club as Coach.")).to_be_visible()
            await check(web, "account-groups")
            await page.get_by_role("button", name="Accept the invitation to Track club").click()
            await said(page, "You now coach Track club.")
            await expect(groups.get_by_role("row", name=re.compile("Track club"))).to_contain_text("Coach")
            await page.get_by_role("button", name="Decline the invitation to Swim squad").click()
            await said(page, "You declined the invitation to Swim squad.")
            await expect(page.get_by_role("region", name="Invitations")).to_have_count(0)
            await check(web, "account-groups-answered")

            # Leaving asks first, then the group is gone (and so is the athlete's membership).
            await page.get_by_role("button", name="Leave Morning runners").click()
            ask = page.get_by_role("group", name=re.compile("Leave Morning runners"))
            await expect(ask.get_by_role("button", name="Leave the group")).to_be_focused()
            await check(web, "account-groups-leave-ask")
            await page.keyboard.press("Enter")
            await said(page, "You left Morning runners.")
            await expect(runners_row).to_have_count(0)
            mine = {g["name"]: g["role"] for g in (await call(http, athlete, "GET", "/v1/groups")).json()}
            assert mine == {"Track club": "coach", "Kira's club": "coach"}, mine

            # The only coach of a group with members may not leave it: said, and nothing changes.
            await page.get_by_role("button", name="Leave Kira's club").click()
            await page.get_by_role("button", name="Leave the group").click()
            await expect(page.get_by_role("alert")).to_have_text(
                "You are the group's only coach and it has other members: invite another coach before "
                "leaving.")
            await expect(groups.get_by_role("row", name=re.compile("Kira's club"))).to_be_visible()
            await check(web, "account-groups-refused")
            web.assert_no_errors()


async def test_consents_granted_and_withdrawn_with_the_keyboard(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    # Signed up without the health-data consent, whose grant the journal would list too.
    athlete: Account = account(first_name="Kira", health_consent=None)
    coach: Account = account(roles=("coach",), first_name="Vera", last_name="Petrova")
    async with rest(stack) as http:
        group = (await call(http, coach, "POST", "/v1/groups", {"name": "Morning runners", "sport": "run"},
                            status=201)).json()["id"]
        await call(http, coach, "POST", f"/v1/groups/{group}/members",
                   {"user_id": str(athlete.id), "role": "athlete"})
        async with web_page(stack) as web:
            page = web.page
            keys = page.keyboard
            await signed_in(web, athlete, "/app/consents", "Consents")
            await expect(page.locator("h1")).to_be_focused()
            await expect(page.get_by_text("No coach may see your workouts.")).to_be_visible()
            await check(web, "account-consents")
            # From the page's heading: the group (already chosen, the only one), then the scopes.
            await tab_to(web, page.get_by_label("Group", exact=True))
            await expect(page.get_by_label("Group", exact=True)).to_have_value(group)
            # Nothing chosen: said, and the focus goes to the first choice.
            submit = page.get_by_role("button", name="Give consent")
            await tab_to(web, submit)
            await keys.press("Enter")
            await expect(page.get_by_role("alert")).to_have_text(
                "Choose live workouts, past workouts, or both.")
            live = page.get_by_label("My workouts live, while I record them")
            await expect(live).to_be_focused()
            await check(web, "account-consents-nothing-chosen")
            await keys.press("Space")
            await keys.press("Tab")
            await expect(page.get_by_label("My past workouts")).to_be_focused()
            await keys.press("Space")
            await expect(live).to_be_checked()
            await expect(page.get_by_label("My past workouts")).to_be_checked()
            await tab_to(web, submit)
            await keys.press("Enter")
            current = page.get_by_role("heading", name="Current consents")
            await expect(current).to_be_focused()
            await said(page, "Consent given to the coaches of Morning runners.")
            table = page.get_by_role("region", name="Current consents").get_by_role("table")
            for scope in ("Live workouts", "Past workouts from"):
                await expect(table.get_by_role("row", name=re.compile(scope))).to_contain_text("Vera Petrova")
            await check(web, "account-consents-granted")
            listed = (await call(http, athlete, "GET", "/v1/consents")).json()
            given = [c for c in listed if not c["withdrawn_at"]]
            assert sorted(c["scope"] for c in given) == ["history", "live"]
            assert {c["group_id"] for c in given} == {group}

            # Withdrawn from the heading with Tab and Enter, one after the other.
            for left in (1, 0):
                withdraw = page.get_by_role("button", name=re.compile("^Withdraw"))
                await tab_to(web, withdraw.first, most=3)
                await keys.press("Enter")
                await said(page, "Withdrawn:")
                await expect(current).to_be_focused()
                await expect(withdraw).to_have_count(left)
            await expect(page.get_by_text("No coach may see your workouts.")).to_be_visible()
            assert all(c["withdrawn_at"] for c in (await call(http, athlete, "GET", "/v1/consents")).json())
            # The journal lists every grant and withdrawal, by the athlete.
            journal = page.get_by_role("region", name="Consent journal").first.locator("tbody tr")
            await expect(journal).to_have_count(4)
            await expect(journal.filter(has_text="Withdrawn")).to_have_count(2)
            await expect(journal.filter(has_text="Given")).to_have_count(2)
            await expect(journal.filter(has_text="You")).to_have_count(4)
            await check(web, "account-consents-withdrawn")

            # Removed from the group meanwhile: granting is refused and said.
            await call(http, coach, "DELETE", f"/v1/groups/{group}/members/{athlete.id}", status=204)
            await live.check()
            await submit.click()
            await expect(page.get_by_role("alert")).to_have_text(
                "You are not a member of Morning runners any more, so you cannot give it consent.")
            await check(web, "account-consents-refused")
            web.assert_no_errors()


async def test_every_account_page_at_phone_width_dark_in_russian(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(first_name="Kira")
    coach: Account = account(roles=("coach",), first_name="Vera", last_name="Petrova")
    async with rest(stack) as http:
        group = (await call(http, coach, "POST", "/v1/groups",
                            {"name": "Утренние пробежки с очень длинным названием группы", "sport": "run"},
                            status=201)).json()["id"]
        await call(http, coach, "POST", f"/v1/groups/{group}/members",
                   {"user_id": str(athlete.id), "role": "athlete"})
        await call(http, athlete, "POST", "/v1/consents", {"group_id": group, "scope": "live"}, status=201)
        await call(http, athlete, "POST", "/v1/devices", {"name": "Forerunner 265"}, status=201)
        async with web_page(stack, viewport=PHONE, color_scheme="dark", locale="ru-RU") as web:
            page = web.page
            await signed_in(web, athlete, "/app/account", "Профиль и тренировочные предпочтения")
            for path in ACCOUNT_PAGES:
                await page.goto(stack.gateway_url + path)
                await expect(page.locator("h1")).to_be_focused()
                await expect(page.get_by_text("Загрузка…")).to_have_count(0)
                name = "phone-ru-dark" + path.replace("/app", "").replace("/", "-")
                await check(web, name)
                await web.assert_fits_width()
            # The secrets shown once fit too: a device token and the TOTP enrolment.
            await page.goto(stack.gateway_url + "/app/account/devices")
            await page.get_by_label("Название устройства").fill("Pixel")
            await page.get_by_role("button", name="Создать токен").click()
            await expect(page.get_by_role("heading", name="Токен для Pixel")).to_be_focused()
            remember(await page.locator("#device-token").inner_text())
            await check(web, "phone-ru-dark-device-token")
            await web.assert_fits_width()
            await page.goto(stack.gateway_url + "/app/account/mfa")
            await page.get_by_role("button", name="Настроить приложение-аутентификатор").click()
            await expect(page.locator("#mfa-uri")).to_be_visible()
            await check(web, "phone-ru-dark-mfa-enrolling")
            await web.assert_fits_width()
            web.assert_no_errors()
