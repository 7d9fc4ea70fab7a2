"""The admin area of the web app on the internal origin, in headless Chromium, against the
running stack: users (search, roles, sessions, lock), groups and their members, the consent
journal and the audit log — each page and state checked with axe-core, at desktop and phone
width, in English and once in Russian.

An admin signs in with a TOTP code (the step after the one enrolment used). The accounts
acted on are made through the public API; what the admin does is then checked where a user
would notice it: a revoked session's token stops working, a locked account's public login
is refused until it is unlocked, a removed member's consent to the group ends — and every
change is in the audit log.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pyotp
import pytest
from playwright.async_api import expect
from user_accounts import Account
from web_browser import PHONE, WebPage, web_page

from stack.settings import Settings

pytestmark = pytest.mark.e2e


async def sign_in_admin(web: WebPage, admin: Account) -> None:
    assert admin.totp_secret
    await web.open("/app/admin/users")
    await web.heading("Operations sign-in")
    await web.sign_in(admin.email, admin.password, pyotp.TOTP(admin.totp_secret).at(time.time() + 30))
    # Password hashing on a busy 2-core node can take a while.
    await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible(timeout=30_000)
    await web.heading("Users")  # the address asked for opens once signed in


def status(web: WebPage, text: str | re.Pattern[str]):  # type: ignore[no-untyped-def]
    """The announced message (role=status) that says `text`."""
    return web.page.get_by_role("status").filter(has_text=text)


async def test_an_admin_finds_a_user_changes_roles_ends_a_session_locks_and_audits(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    admin: Account = account(roles=("admin",))
    name = f"Lockable{uuid.uuid4().hex[:8]}"
    target: Account = account(first_name=name, last_name="Petrova")
    credentials = {"email": target.email, "password": target.password}
    async with web_page(stack, base_url=stack.internal_gateway_url) as web:
        page = web.page
        await sign_in_admin(web, admin)
        await web.axe("admin-users")

        # Search by name: the account is listed and opens its page.
        await page.get_by_label("E-mail or name contains").fill(name)
        await page.get_by_role("button", name="Search", exact=True).click()
        await expect(page.get_by_role("heading", name=f"Accounts matching “{name}”")).to_be_visible()
        await expect(status(web, "1 shown.")).to_be_visible()
        row = page.get_by_role("row").filter(has_text=target.email)
        await expect(row).to_contain_text(f"{name} Petrova")
        await expect(row).to_contain_text("Athlete")
        await web.axe("admin-users-found")
        await web.screenshot("admin-users-found")
        await page.get_by_role("link", name=target.email).click()
        await web.heading(target.email)
        await web.axe("admin-user")
        await web.screenshot("admin-user")

        # Grant a role, then revoke it after confirming.
        await page.get_by_label("Role to grant").select_option("coach")
        await page.get_by_role("button", name="Grant role").click()
        await expect(status(web, f"The role Coach was granted to {target.email}.")).to_be_visible()
        await expect(page.get_by_role("button", name="Revoke the role Coach")).to_be_visible()
        await page.get_by_role("button", name="Revoke the role Coach").click()
        await expect(page.get_by_role("button", name="Revoke Coach")).to_be_focused()
        await web.axe("admin-user-revoke-confirm")
        await page.get_by_role("button", name="Revoke Coach").click()
        await expect(status(web, f"The role Coach was revoked from {target.email}.")).to_be_visible()
        await expect(page.get_by_role("button", name="Revoke the role Coach")).to_have_count(0)

        # End the target's public session: its token stops working.
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as public:
            assert (await public.get("/v1/users/me", headers=target.headers)).status_code == 200
            sessions = page.get_by_role("region", name="Open sessions")
            await expect(sessions.get_by_role("row").filter(has_text="Public site")).to_have_count(1)
            await sessions.get_by_role("button", name=re.compile("^End the session started")).click()
            await expect(status(web, re.compile("has ended"))).to_be_visible()
            await expect(sessions.get_by_text("No open session.")).to_be_visible()
            assert (await public.get("/v1/users/me", headers=target.headers)).status_code == 401

            # Lock: a reason is required, then a confirmation; the public login is refused.
            await page.get_by_role("button", name="Lock account…").click()
            await expect(page.get_by_text("Say why the account is locked.")).to_be_visible()
            await expect(page.get_by_label("Reason")).to_be_focused()
            await web.axe("admin-user-lock-no-reason")
            await page.get_by_label("Reason").fill("Reported stolen phone")
            await page.get_by_role("button", name="Lock account…").click()
            confirm = page.get_by_role("group").filter(has_text=f"Lock {target.email}?")
            await expect(confirm).to_contain_text("Reason: Reported stolen phone")
            await web.axe("admin-user-lock-confirm")
            await web.screenshot("admin-user-lock-confirm")
            await confirm.get_by_role("button", name="Lock account").click()
            await expect(status(web, f"{target.email} is locked; their sessions ended.")).to_be_visible()
            await expect(page.get_by_role("region", name="Lock")).to_contain_text("Locked since")
            await web.axe("admin-user-locked")
            login = await public.post("/v1/auth/login", json=credentials)
            assert login.status_code == 403 and login.json()["code"] == "account_locked", login.text

            await page.get_by_role("button", name="Unlock account…").click()
            await page.get_by_role("button", name="Unlock account", exact=True).click()
            await expect(status(web, f"{target.email} is unlocked and can sign in again.")).to_be_visible()
            login = await public.post("/v1/auth/login", json=credentials)
            assert login.status_code == 200, login.text

        # The audit log on this account: every change, newest first, the lock with its reason.
        await page.get_by_role("link", name="Admin actions on this account").click()
        await web.heading("Audit log")
        await expect(page.get_by_label("Target")).to_have_value(f"user:{target.id}")
        rows = page.get_by_role("table").get_by_role("row")
        await expect(rows).to_have_count(5)  # the header and four changes
        await expect(rows.nth(1)).to_contain_text("Account unlocked")
        await expect(rows.nth(2)).to_contain_text("Account locked")
        await expect(rows.nth(2)).to_contain_text("reason: Reported stolen phone")
        await expect(rows.nth(3)).to_contain_text("Role revoked")
        await expect(rows.nth(4)).to_contain_text("Role granted")
        await expect(rows.nth(4)).to_contain_text("role: coach")
        for i in range(1, 5):
            await expect(rows.nth(i)).to_contain_text("Done")
        await web.axe("admin-audit")
        await web.screenshot("admin-audit")

        # Filters: by actor and action (the session ended was on a session, not the user) …
        await page.get_by_role("button", name="Clear filters").click()
        await page.get_by_label("Who (account ID)").fill(str(admin.id))
        await page.get_by_label("Action").select_option("revokeSession")
        await page.get_by_role("button", name="Apply filters").click()
        await expect(status(web, "1 shown.")).to_be_visible()
        await expect(rows.nth(1)).to_contain_text("Session ended")
        await expect(rows.nth(1)).to_contain_text(f"user_id: {target.id}")
        # … a time range that holds nothing, and an ID that is none: said, not sent.
        await page.get_by_label("From").fill("2999-01-01T00:00")
        await page.get_by_role("button", name="Apply filters").click()
        await expect(status(web, "No entry matches these filters.")).to_be_visible()
        await page.get_by_label("Who (account ID)").fill("not-an-id")
        await page.get_by_role("button", name="Apply filters").click()
        await expect(page.get_by_text("This is not an ID")).to_be_visible()
        await web.axe("admin-audit-bad-filter")

        # Phone width: nothing scrolls sideways.
        await page.set_viewport_size(PHONE)
        for path, title, shot in ((f"/app/admin/users?q={name}", "Users", "admin-phone-users"),
                                  (f"/app/admin/users/{target.id}", target.email, "admin-phone-user"),
                                  (f"/app/admin/audit?target=user:{target.id}", "Audit log",
                                   "admin-phone-audit")):
            await web.open(path)
            await web.heading(title)
            await expect(page.get_by_role("status").filter(has_text=re.compile("shown|No ")))\
                .not_to_have_count(0)
            await web.assert_fits_width()
            await web.axe(shot)
            await web.screenshot(shot)

        # In Russian, dark.
        await page.emulate_media(color_scheme="dark")
        await page.get_by_label("Language").select_option("ru")
        await web.heading("Журнал аудита")
        await expect(page.get_by_role("button", name="Применить фильтры")).to_be_visible()
        await web.assert_fits_width()
        await web.axe("admin-audit-ru-dark-phone")
        await web.screenshot("admin-audit-ru-dark-phone")
        await web.open(f"/app/admin/users/{target.id}")
        await web.heading(target.email)
        await expect(page.get_by_role("heading", name="Открытые сеансы")).to_be_visible()
        await web.assert_fits_width()
        await web.axe("admin-user-ru-dark-phone")
        await web.screenshot("admin-user-ru-dark-phone")
        web.assert_no_errors()


async def test_an_admin_adds_and_removes_a_member_and_reads_the_consent_journal(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    admin: Account = account(roles=("admin",))
    coach: Account = account(roles=("coach",))
    name = f"Athlete{uuid.uuid4().hex[:8]}"
    athlete: Account = account(first_name=name)
    group_name = f"Track club {uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as public:
        made = await public.post("/v1/groups", headers=coach.headers,
                                 json={"name": group_name, "sport": "run"})
        assert made.status_code == 201, made.text
        group = made.json()["id"]

        async with web_page(stack, base_url=stack.internal_gateway_url) as web:
            page = web.page
            await sign_in_admin(web, admin)
            await page.get_by_role("link", name="Groups").click()
            await web.heading("Groups")
            await page.get_by_label("Name contains").fill(group_name)
            await page.keyboard.press("Enter")
            await page.get_by_role("link", name=group_name).click()
            await web.heading(group_name)
            members = page.get_by_role("region", name="Members")
            await expect(members.get_by_role("row")).to_have_count(2)  # the header and its coach
            await expect(members).to_contain_text(coach.email)
            await web.axe("admin-group")

            # Find the athlete and add them.
            await page.get_by_label("Find an account by e-mail or name").fill(name)
            await page.get_by_label("Find an account by e-mail or name").press("Enter")
            await page.get_by_role("button", name=f"Add {athlete.email} as an athlete").click()
            added = f"{athlete.email} was added to {group_name} as an athlete."
            await expect(status(web, added)).to_be_visible()
            await expect(members.get_by_role("row").filter(has_text=athlete.email)).to_contain_text("Athlete")
            await web.axe("admin-group-added")
            await web.screenshot("admin-group-added")

            # The athlete consents; the journal shows it.
            consent = await public.post("/v1/consents", headers=athlete.headers,
                                        json={"group_id": group, "scope": "live"})
            assert consent.status_code == 201, consent.text
            await page.get_by_role("link", name="Consents given to this group").click()
            await web.heading("Consent journal")
            rows = page.get_by_role("table").get_by_role("row")
            await expect(rows).to_have_count(2)
            await expect(rows.nth(1)).to_contain_text("Granted")
            await expect(rows.nth(1)).to_contain_text("The athlete")
            await web.axe("admin-consents")

            # Removing the member (confirmed) withdraws the consent, by the admin.
            await page.go_back()
            await web.heading(group_name)
            await page.get_by_role("button", name=f"Remove {athlete.email} from the group").click()
            await web.axe("admin-group-remove-confirm")
            await page.get_by_role("button", name="Remove member").click()
            await expect(status(web, f"{athlete.email} was removed from {group_name}.")).to_be_visible()
            await expect(members.get_by_role("row").filter(has_text=athlete.email)).to_have_count(0)
            active = (await public.get("/v1/consents", headers=athlete.headers)).json()
            assert all(c["withdrawn_at"] is not None for c in active if c["group_id"] == group), active

            await web.open(f"/app/admin/consents?group={group}")
            await web.heading("Consent journal")
            await page.get_by_label("Change").select_option("withdrawn")
            await page.get_by_role("button", name="Apply filters").click()
            await expect(status(web, "1 shown.")).to_be_visible()
            await expect(rows.nth(1)).to_contain_text("Withdrawn")
            await page.get_by_role("row").nth(1).get_by_role("link").last.click()  # by: the admin
            await web.heading(re.compile(re.escape(admin.email)))
            # The athlete's grants: the group's and, from sign-up, the processing of health data.
            await web.open(f"/app/admin/consents?athlete={athlete.id}&action=granted")
            await expect(status(web, "2 shown.")).to_be_visible()
            await expect(rows.filter(has_text="Processing of health data")).to_have_count(1)
            await page.get_by_label("Scope").select_option("health_processing")
            await page.get_by_role("button", name="Apply filters").click()
            await expect(status(web, "1 shown.")).to_be_visible()
            await expect(rows.nth(1)).to_contain_text("Processing of health data")
            await web.axe("admin-consents-filtered")

            await page.set_viewport_size(PHONE)
            for path, title in ((f"/app/admin/groups/{group}", group_name),
                                (f"/app/admin/consents?group={group}", "Consent journal")):
                await web.open(path)
                await web.heading(title)
                await expect(page.get_by_role("status").filter(has_text=re.compile("shown")))\
                    .not_to_have_count(0)
                await web.assert_fits_width()
                await web.screenshot(f"admin-phone-{'group' if 'groups' in path else 'consents'}")
            web.assert_no_errors()


async def test_the_admin_pages_are_not_for_an_ml_engineer(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    from user_accounts import enrol_totp

    ml: Account = account(roles=("ml_engineer",))
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as public:
        ml.totp_secret, _ = enrol_totp(public, ml.token)
    async with web_page(stack, base_url=stack.internal_gateway_url) as web:
        await web.open("/app/admin/users")
        await web.sign_in(ml.email, ml.password, pyotp.TOTP(ml.totp_secret).at(time.time() + 30))
        await web.heading("Not for your role")
        nav = web.page.get_by_role("navigation", name="Main")
        await expect(nav.get_by_role("link", name="Models")).to_be_visible()
        await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
        await web.axe("admin-forbidden")
        web.assert_no_errors()
