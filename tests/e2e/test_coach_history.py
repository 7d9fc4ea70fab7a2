"""The coach area's athletes and their history (`/app/coach/athletes…`) in headless Chromium:
a coach reads the past workouts of an athlete who let the group read their history, down to
a workout's summary, and sees "no access" — not an error — for an athlete who did not (the
API answers 404 there). The group's member list names only the athletes who consent.
Every page is checked by axe-core, in the light theme and in the dark one at phone width.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from web_browser import PHONE, web_page

from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e

SAMPLES = 300


async def _finished_workout(stack: Settings, token: str, t0: int) -> uuid.UUID:
    """Five minutes of a run an hour ago, sent as a device syncing its backlog, then finished."""
    samples = [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0 + 1.5e-5 * i, 300.0, 130.0 + i % 20, 97.0)
               for i in range(SAMPLES)]
    workout = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, token) as device:
        await device.start(workout, "run", t0)
        for seq in range(0, SAMPLES, 100):
            await device.send_samples(workout, seq, samples[seq:seq + 100])
        await device.finish(workout, samples[-1][0] + 1000)
    return workout


async def _group(http: httpx.AsyncClient, coach: Any, reader: Any, private: Any, since: dt.datetime) -> str:
    made = await http.post("/v1/groups", headers=coach.headers,
                           json={"name": f"History {uuid.uuid4().hex[:6]}", "sport": "run"})
    assert made.status_code == 201, made.text
    group = made.json()["id"]
    for athlete in (reader, private):
        added = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                json={"user_id": str(athlete.id), "role": "athlete"})
        assert added.status_code == 200, added.text
    granted = await http.post("/v1/consents", headers=reader.headers, json={
        "group_id": group, "scope": "history", "purpose": "training review",
        "history_from": since.isoformat()})
    assert granted.status_code == 201, granted.text
    return group


async def test_a_coach_reads_history_where_consent_allows_and_sees_no_access_elsewhere(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    coach = account(roles=("coach",), first_name="Greta", last_name="Coach")
    reader = account(first_name="Hana", last_name="History")
    private = account(first_name="Ivo", last_name="Private")
    t0 = (int(time.time()) - 3600) * 1000
    since = dt.datetime.fromtimestamp(t0 / 1000 - 86_400, tz=dt.UTC)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        group = await _group(http, coach, reader, private, since)
        read, hidden = await asyncio.gather(_finished_workout(stack, reader.token, t0),
                                            _finished_workout(stack, private.token, t0))

        async def listed() -> bool:
            got = await http.get("/v1/workouts", headers=coach.headers, params={"athlete": str(reader.id)})
            return got.status_code == 200 and any(
                w["id"] == str(read) and w["status"] == "finished" for w in got.json())
        assert await wait_until_async(listed, 60, interval_s=0.3), "the workout never reached the coach"
        refused = await http.get("/v1/workouts", headers=coach.headers, params={"athlete": str(private.id)})
        assert refused.status_code == 404, refused.text
        members = {m["user_id"]: m for m in (await http.get(
            f"/v1/groups/{group}/members", headers=coach.headers)).json()}
    # Only an athlete who consents is named to the coach; the other is not, even by e-mail.
    assert members[str(reader.id)]["name"] == "Hana History"
    assert members[str(reader.id)]["consents"] == ["history"]
    assert members[str(private.id)]["name"] is None and members[str(private.id)]["consents"] == []
    assert members[str(coach.id)]["name"] == "Greta Coach"

    async with web_page(stack) as web:
        page = web.page
        await web.open("/app/coach/athletes")
        await web.sign_in(coach.email, coach.password)
        await web.heading("Athletes")
        reader_row = page.locator(f'tr[data-athlete-id="{reader.id}"]')
        private_row = page.locator(f'tr[data-athlete-id="{private.id}"]')
        await expect(reader_row).to_contain_text("Hana History")
        await expect(reader_row.locator("td").nth(1)).to_have_text("history")
        await expect(private_row).to_contain_text(f"Athlete {str(private.id)[:8]}")
        await expect(private_row.locator("td").nth(1)).to_have_text("nothing yet")
        await expect(page.get_by_role("link", name="Athletes")).to_have_attribute("aria-current", "page")
        await web.axe("coach-athletes")

        await reader_row.get_by_role("link", name="Hana History").click()
        await web.heading("Hana History")
        row = page.locator(f'tr[data-workout-id="{read}"]')
        await expect(row).to_contain_text(re.compile(r"\d+ m"))
        await expect(row).to_contain_text("run")
        await web.axe("coach-history")

        await row.get_by_role("link").click()
        await web.heading(re.compile(r"^run, "))
        facts = page.locator("dl.facts")
        await expect(facts).to_contain_text("finished")
        await expect(facts).to_contain_text("Average heart rate")
        await expect(facts).to_contain_text(re.compile(r"\d+ bpm"))
        await web.axe("coach-workout")
        await page.get_by_role("link", name="All workouts of this athlete").click()
        await web.heading("Hana History")

        # Without a history consent: "no access", said as a fact, not as a failure.
        await web.open(f"/app/coach/athletes/{private.id}")
        await web.heading(f"Athlete {str(private.id)[:8]}")
        await expect(page.get_by_role("status").filter(has_text="No access")).to_be_visible()
        await expect(page.get_by_role("alert")).to_have_count(0)
        await expect(page.locator(f'tr[data-workout-id="{hidden}"]')).to_have_count(0)
        await web.axe("coach-history-no-access")
        await web.open(f"/app/coach/athletes/{private.id}/workouts/{hidden}")
        await expect(page.get_by_role("status").filter(has_text="No access")).to_be_visible()
        await web.axe("coach-workout-no-access")

        # The dark theme at phone width: no sideways scrolling, contrast still AA.
        await page.set_viewport_size(PHONE)
        await page.get_by_label("Theme").select_option("dark")
        await web.open(f"/app/coach/athletes/{reader.id}")
        await expect(page.locator(f'tr[data-workout-id="{read}"]')).to_be_visible()
        await web.assert_fits_width()
        await web.axe("coach-history-dark-phone")
        await web.screenshot("coach-history-dark-phone")
        web.assert_no_errors()
