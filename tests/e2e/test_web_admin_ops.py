"""The admin area's operations pages on the internal origin, in headless Chromium: Stack health
(every probe of the running stack answers, consumer lag as a chart with a table beside it, the
dead-letter count) and Dead letters (a poisoned record listed, its cause fixed, replayed from its
page with the keyboard alone, after a note and a confirmation, and then written). axe-core on
every page and state, screenshots, and the pages at phone width in Russian and the dark theme.
"""

from __future__ import annotations

import time
import uuid

import psycopg
import pyotp
import pytest
from playwright.async_api import expect
from user_accounts import Account
from web_browser import PHONE, WebPage, web_page

from stack.settings import Settings
from streams import dead_letters, events, topics
from streams.producer import EventProducer

pytestmark = pytest.mark.e2e
COMPONENTS = ("PostgreSQL", "Redis", "Kafka", "Stream worker", "Public gateway")


async def sign_in(web: WebPage, admin: Account) -> None:
    assert admin.totp_secret
    await web.open("/")
    await web.heading("Operations sign-in")
    # The current step's code went to the enrolment: the next one (within the drift).
    await web.sign_in(admin.email, admin.password, pyotp.TOTP(admin.totp_secret).at(time.time() + 30))
    await expect(web.page.get_by_role("button", name="Sign out")).to_be_visible()


async def poisoned_start(stack: Settings, eventually) -> tuple[uuid.UUID, uuid.UUID, str]:  # type: ignore[no-untyped-def]
    """A workout's start for an account the database does not have: (workout, user,
    `partition:offset` of its dead letter)."""
    workout, user = uuid.uuid4(), uuid.uuid4()
    producer = EventProducer(stack.kafka, topic_prefix=stack.topic_prefix)
    try:
        await producer.publish([(topics.LIFECYCLE, events.WorkoutStarted(
            workout_id=workout, user_id=user, summary=events.WorkoutSummary(
                version=1, status="active", sport="ride", started_at_ms=int(time.time() * 1000))))])
    finally:
        await producer.stop()

    async def dead_lettered() -> str | None:
        found = await dead_letters.newest(stack.kafka, stack.topic_prefix, 200)
        mine = [d for d in found if d.workout_id == workout]
        return f"{mine[0].partition}:{mine[0].offset}" if mine else None
    return workout, user, await eventually(dead_lettered, timeout_s=90)


async def restore_account(stack: Settings, user: uuid.UUID) -> None:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        await conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)",
                           (user, f"restored-{user.hex[:10]}@example.org"))


async def workout_owner(stack: Settings, workout: uuid.UUID) -> uuid.UUID | None:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
        cur = await conn.execute("SELECT user_id FROM workouts WHERE id = %s", (workout,))
        row = await cur.fetchone()
    return None if row is None else row[0]


async def test_an_admin_checks_stack_health_and_replays_a_dead_letter_with_the_keyboard(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    admin: Account = account(roles=("admin",))
    workout, user, where = await poisoned_start(stack, eventually)
    async with web_page(stack, base_url=stack.internal_gateway_url) as web:
        page = web.page
        await sign_in(web, admin)

        # Stack health: every probe of the running stack answers.
        await page.get_by_role("link", name="Stack health").click()
        await web.heading("Stack health")
        await expect(page.get_by_role("status").filter(has_text="All 5 probes answered.")
                     ).to_be_visible()
        probes = page.get_by_role("table").first.locator("tbody tr")
        await expect(probes).to_have_count(len(COMPONENTS))
        for name in COMPONENTS:
            await expect(probes.filter(has=page.get_by_role("rowheader", name=name, exact=True))
                         ).to_contain_text("OK")
        await expect(page.get_by_text("Failed")).to_have_count(0)
        await expect(page.get_by_role("img", name="Consumer lag per topic: ")).to_contain_text(
            "workout.lifecycle")
        await expect(page.get_by_role("rowheader", name="workout.lifecycle", exact=True)).to_be_visible()
        await expect(page.get_by_text("Records on the dead-letter topic:")).to_be_visible()
        await web.axe("admin-health")
        await web.screenshot("admin-health")
        # Refresh, with the keyboard: asked again, answered again.
        await page.get_by_role("button", name="Refresh").focus()
        async with page.expect_response(lambda r: r.url.endswith("/graphql")) as asked:
            await page.keyboard.press("Enter")
        assert "stackHealth" in (await (await asked.value).json())["data"]
        await expect(page.get_by_role("status").filter(has_text="Checked")).to_be_visible()
        await expect(page.get_by_text("All 5 probes answered.")).to_be_visible()

        # Dead letters: the poisoned record is listed, unsettled.
        await page.get_by_role("link", name="Open the dead letters").click()
        await web.heading("Dead letters")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"Record {where}",
                                                                   exact=True))
        await expect(row).to_contain_text("workout.lifecycle")
        await expect(row).to_contain_text("workout_started")
        await expect(row).to_contain_text("ForeignKeyViolation")
        await expect(row).to_contain_text("Unsettled")
        await web.axe("admin-dead-letters")
        await web.screenshot("admin-dead-letters")

        # The admin restores the account, then opens the record and replays it, keyboard only.
        await restore_account(stack, user)
        await row.get_by_role("link").focus()
        await page.keyboard.press("Enter")
        await web.heading(f"Dead letter {where}")
        await expect(page.get_by_text(str(user))).to_be_visible()
        await web.axe("admin-dead-letter")
        note = page.get_by_label("Note")
        replay = page.get_by_role("button", name="Replay…")
        await replay.focus()
        await page.keyboard.press("Enter")  # without a note: refused, the note focused
        await expect(page.get_by_text("Say why, in a few words.")).to_be_visible()
        await expect(note).to_be_focused()
        await web.axe("admin-dead-letter-note-missing")
        await page.keyboard.type("account restored from the backup")
        await page.keyboard.press("Tab")
        await expect(replay).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("button", name="Discard…")).to_be_focused()
        await page.keyboard.press("Enter")  # asked to confirm; Escape takes it back
        await expect(page.get_by_role("button", name="Yes, discard it")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("button", name="Discard…")).to_be_focused()
        await page.keyboard.press("Shift+Tab")
        await expect(replay).to_be_focused()
        await page.keyboard.press("Enter")
        confirm = page.get_by_role("button", name="Yes, replay it")
        await expect(confirm).to_be_focused()
        await expect(page.get_by_role("group", name=f"Replay record {where}?")).to_contain_text(
            "It goes back to workout.lifecycle")
        await web.axe("admin-dead-letter-confirm")
        await web.screenshot("admin-dead-letter-confirm")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("status").filter(has_text="Replayed into workout.lifecycle.")
                     ).to_be_visible()
        await expect(page.get_by_role("heading", name="Journal")).to_be_focused()
        journal = page.get_by_role("region", name="Journal")
        await expect(journal).to_contain_text("account restored from the backup")
        await expect(journal).to_contain_text(str(admin.id))
        await expect(page.get_by_role("button", name="Replay…")).to_have_count(0)
        await web.axe("admin-dead-letter-replayed")
        await web.screenshot("admin-dead-letter-replayed")

        # The stream worker wrote it; the list shows it replayed.
        assert await eventually(lambda: workout_owner(stack, workout), timeout_s=60) == user
        await page.get_by_role("link", name="All dead letters").click()
        await web.heading("Dead letters")
        await expect(page.get_by_role("link", name=f"Record {where}", exact=True)).to_have_count(0)
        await page.get_by_label("Show").select_option("all")
        await expect(row).to_contain_text("Replayed")
        await web.axe("admin-dead-letters-all")
        web.assert_no_errors()


async def test_the_operations_pages_at_phone_width_in_russian_and_dark(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    admin: Account = account(roles=("admin",))
    _, _, where = await poisoned_start(stack, eventually)
    async with web_page(stack, base_url=stack.internal_gateway_url, viewport=PHONE,
                        color_scheme="dark", locale="ru-RU") as web:
        page = web.page
        assert admin.totp_secret
        await web.open("/")
        await web.sign_in(admin.email, admin.password, pyotp.TOTP(admin.totp_secret).at(time.time() + 30))
        await expect(page.get_by_role("button", name="Выйти")).to_be_visible()

        await web.open("/app/admin/health")
        await web.heading("Состояние стека")
        await expect(page.get_by_text("Все проверки (5) прошли.")).to_be_visible()
        await expect(page.get_by_role("img", name="Отставание по топикам:")).to_be_visible()
        await web.assert_fits_width()
        await web.axe("admin-health-ru-dark-phone")
        await web.screenshot("admin-health-ru-dark-phone")

        await web.open("/app/admin/dead-letters")
        await web.heading("Недоставленные записи")
        await expect(page.get_by_role("link", name=f"Запись {where}", exact=True)).to_be_visible()
        await web.assert_fits_width()
        await web.axe("admin-dead-letters-ru-dark-phone")
        await web.screenshot("admin-dead-letters-ru-dark-phone")

        await page.get_by_role("link", name=f"Запись {where}", exact=True).click()
        await web.heading(f"Недоставленная запись {where}")
        await page.get_by_role("button", name="Отбросить…").click()
        await expect(page.get_by_text("Коротко напишите почему.")).to_be_visible()
        await page.get_by_label("Пояснение").fill("проверка на телефоне")
        await page.get_by_role("button", name="Отбросить…").click()
        await expect(page.get_by_role("button", name="Да, отбросить")).to_be_focused()
        await web.assert_fits_width()
        await web.axe("admin-dead-letter-confirm-ru-dark-phone")
        await web.screenshot("admin-dead-letter-confirm-ru-dark-phone")
        await page.get_by_role("button", name="Да, отбросить").click()
        await expect(page.get_by_text("Отброшена.", exact=True)).to_be_visible()
        await web.assert_fits_width()
        await web.axe("admin-dead-letter-discarded-ru-dark-phone")

        # A record that is not there (an offset past the end) says so.
        await web.open("/app/admin/dead-letters/0/999999999999")
        await expect(page.get_by_text("В топике недоставленных нет такой записи")).to_be_visible()
        await web.axe("admin-dead-letter-missing-ru-dark-phone")
        web.assert_no_errors()
