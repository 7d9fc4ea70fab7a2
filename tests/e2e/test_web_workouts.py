"""The athlete's workout pages of the web app in headless Chromium, on the real stack.

Workouts are seeded as an athlete makes them: GPX files the tests write, uploaded through
`POST /v1/workouts/import`, and a workout streamed through the device WebSocket
(gateway/client.py DeviceClient, stack/simulator.py tracks). Then, in the browser:
- My workouts: the list a page at a time ("Show more"), filters in the URL (sport, days,
  status, title; a bad range refused in words), rename and re-sport, delete after a
  confirmation, upload of a good file and of bad ones (unreadable, no timed points, too
  large), and the path from the list to a workout with the keyboard alone;
- a workout: its facts, route drawn as vectors, charts (pace, heart rate, elevation, SpO2)
  with their text alternatives, splits and time in zones, risk;
- Live: no workout in progress, then one streaming with its numbers moving, then finished.
Every page and state is checked by axe-core (WCAG 2.1 AA) and screenshotted; phone width
without sideways scrolling. How long a 3-hour 1 Hz workout's page takes to draw its charts
is measured and written to test-artifacts/web/workout-render-3h.json (reported, not
asserted: a timed assert would fail on a busy machine, not on slow code).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import re
import statistics
import struct
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from helper_processes import Processes, http_url
from playwright.async_api import expect
from user_accounts import Account
from web_browser import PHONE, WebPage, artifacts, web_page

from gateway.client import DeviceClient
from stack.settings import Settings
from stack.simulator import simulate
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e

GPX_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="stride tests" '
            'xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"><trk><trkseg>\n')
GPX_TAIL = "</trkseg></trk></gpx>\n"
M_PER_DEG = 111_195.08
UPLOAD_LIMIT_BYTES = 20 * 1024 * 1024
"""The gateway's default STRIDE_INGEST_UPLOAD_MAX_BYTES (the test stack keeps it)."""
LIVE_RATE_HZ = 4.0
"""Samples per second of wall time while the live page watches (each 1 s of sample time)."""


def gpx(start: dt.datetime, n: int, *, speed_mps: float = 3.0, radius_m: float = 400.0,
        base: tuple[float, float] = (55.75, 37.60), heart_rate: bool = True) -> bytes:
    """A GPX file of `n` points a second apart: laps of a circle at `speed_mps`, with
    rolling elevation and (optionally) a Garmin heart-rate extension."""
    lat0, lon0 = base
    m_per_deg_lon = M_PER_DEG * math.cos(math.radians(lat0))
    points = []
    for i in range(n):
        angle = i * speed_mps / radius_m
        lat = lat0 + radius_m * math.sin(angle) / M_PER_DEG
        lon = lon0 + radius_m * math.cos(angle) / m_per_deg_lon
        at = (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        hr = (f"<extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>{125 + round(25 * math.sin(i / 300))}"
              "</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions>") if heart_rate else ""
        points.append(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>{150 + 12 * math.sin(i / 240):.1f}'
                      f"</ele><time>{at}</time>{hr}</trkpt>\n")
    return (GPX_HEAD + "".join(points) + GPX_TAIL).encode()


async def upload(http: httpx.AsyncClient, athlete: Account, content: bytes, *, sport: str = "run",
                 title: str | None = None, name: str = "track.gpx") -> dict[str, Any]:
    """Imports the file as the athlete; waits its turn while the gateway imports others'
    files (503 imports_busy: one at a time per gateway, a short waiting line)."""
    data = {"sport": sport, **({"title": title} if title else {})}

    async def attempt() -> httpx.Response | None:
        made = await http.post("/v1/workouts/import", headers=athlete.headers, data=data,
                               files={"file": (name, content, "application/gpx+xml")})
        return None if made.status_code == 503 and made.json()["code"] == "imports_busy" else made
    made = await wait_until_async(attempt, 120, interval_s=1.0)
    assert made is not None, "the gateway stayed busy importing for 120 s"
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def stream(stack: Settings, athlete: Account, samples: list[Any], *, sport: str = "run",
                 rate_hz: float | None = None, stop: asyncio.Event | None = None,
                 batch: int = 100) -> uuid.UUID:
    """Streams the samples as a device does and finishes the workout: all at once, or
    paced at `rate_hz` until `stop` is set."""
    workout = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
        await device.start(workout, sport, samples[0][0])  # type: ignore[arg-type]
        last_t = samples[0][0]
        for seq in range(0, len(samples), batch):
            if stop is not None and stop.is_set():
                break
            tick = time.monotonic()
            await device.send_samples(workout, seq, samples[seq:seq + batch])
            last_t = samples[min(seq + batch, len(samples)) - 1][0]
            if rate_hz:
                await asyncio.sleep(max(0.0, batch / rate_hz - (time.monotonic() - tick)))
        await device.finish(workout, last_t + 1000)
    return workout


async def stored(http: httpx.AsyncClient, athlete: Account, workout: uuid.UUID) -> None:
    """Waits until the finished workout's route and splits can be read back."""
    async def ready() -> bool:
        path = await http.get(f"/v1/workouts/{workout}/path", headers=athlete.headers)
        return path.status_code == 200 and path.json()["properties"]["ready"]
    assert await wait_until_async(ready, 90, interval_s=0.5), f"workout {workout} not stored in 90 s"


async def signed_in(web: WebPage, athlete: Account, path: str, heading: str | re.Pattern[str]) -> None:
    await web.open(path)
    await web.heading("Sign in")
    await web.sign_in(athlete.email, athlete.password)
    await web.heading(heading)


def items(web: WebPage) -> Any:
    return web.page.locator(".workout-list > li")


async def charts_drawn(web: WebPage, timeout_ms: float = 30_000) -> None:
    """Waits for the workout page's charts to be painted (it marks the moment)."""
    await expect(web.page.locator(".charts-card")).to_have_attribute(
        "data-charts-drawn", "true", timeout=timeout_ms)


# -- My workouts -----------------------------------------------------------------------------


async def test_the_list_pages_filters_edits_and_deletes(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(first_name="Lena")
    day = dt.datetime(2026, 2, 1, 7, 0, tzinfo=dt.UTC)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        # 20 short easy runs in February, then three named ones in March: 23 in all (one
        # at a time: an account's second upload while one runs is refused).
        for j in range(20):
            await upload(http, athlete, gpx(day + dt.timedelta(days=j), 90))
        tempo = await upload(http, athlete, gpx(dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC), 600),
                             title="Morning tempo")
        ride = await upload(http, athlete, gpx(dt.datetime(2026, 3, 5, 17, tzinfo=dt.UTC), 600,
                                               speed_mps=8.0, radius_m=1500.0),
                            sport="ride", title="Evening ride")
        walk = await upload(http, athlete, gpx(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), 300,
                                               speed_mps=1.4), sport="walk", title="Lunch walk")

        async with web_page(stack) as web:
            page = web.page
            await signed_in(web, athlete, "/app/workouts", "My workouts")
            await expect(items(web)).to_have_count(20)
            await expect(items(web).first).to_contain_text("Lunch walk")  # newest first
            await web.axe("workouts-list")
            await web.screenshot("workouts-list")
            await page.get_by_role("button", name="Show more").click()
            await expect(items(web)).to_have_count(23)
            await expect(page.get_by_role("button", name="Show more")).to_have_count(0)

            # Filters go into the address; a reload keeps them; Back goes to the previous set.
            await page.locator("#filter-sport").select_option("ride")
            await page.get_by_role("button", name="Apply filters").click()
            await expect(page).to_have_url(re.compile(r"/app/workouts\?sport=ride$"))
            await expect(items(web)).to_have_count(1)
            await expect(items(web).first).to_contain_text("Evening ride")
            await page.reload()
            await expect(items(web)).to_have_count(1)
            await expect(page.locator("#filter-sport")).to_have_value("ride")
            await web.axe("workouts-filtered")

            await page.locator("#filter-sport").select_option("")
            await page.locator("#filter-q").fill("TEMPO")
            await page.keyboard.press("Enter")
            await expect(page).to_have_url(re.compile(r"\?q=TEMPO$"))
            await expect(items(web)).to_have_count(1)
            await expect(items(web).first).to_contain_text("Morning tempo")
            await page.go_back()
            await expect(page).to_have_url(re.compile(r"\?sport=ride$"))
            await expect(items(web).first).to_contain_text("Evening ride")

            await page.goto(f"{stack.gateway_url}/app/workouts?from=2026-03-04&to=2026-03-10&status=finished")
            await expect(items(web)).to_have_count(2)
            await expect(items(web).nth(0)).to_contain_text("Lunch walk")
            await expect(items(web).nth(1)).to_contain_text("Evening ride")
            await expect(page.locator("#filter-from")).to_have_value("2026-03-04")
            await page.goto(f"{stack.gateway_url}/app/workouts?status=active")
            await expect(page.get_by_text("No workout matches these filters.")).to_be_visible()
            await web.axe("workouts-none-match")

            # A day range the wrong way round is refused on the form, in words, tied to the field.
            await page.locator("#filter-status").select_option("")
            await page.locator("#filter-from").fill("2026-03-10")
            await page.locator("#filter-to").fill("2026-03-01")
            await page.get_by_role("button", name="Apply filters").click()
            error = page.get_by_text("The “to” day must not be before the “from” day.")
            await expect(error).to_be_visible()
            await expect(page.locator("#filter-to")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#filter-to")).to_be_focused()
            await expect(page).to_have_url(re.compile(r"\?status=active$"))  # nothing applied
            await web.axe("workouts-bad-range")
            await page.get_by_role("button", name="Clear filters").click()
            await expect(page).to_have_url(re.compile(r"/app/workouts$"))
            await expect(items(web)).to_have_count(20)

            # Rename and correct the sport: the summary is computed again for the new sport.
            await page.get_by_role("button", name="Edit Morning tempo").click()
            form = page.get_by_role("form", name="Edit the workout")
            await expect(form.get_by_label("Title")).to_be_focused()
            await form.get_by_label("Title").fill("Tempo on the hill")
            await form.get_by_label("Sport").select_option("hike")
            await expect(form).to_contain_text("computed again")
            await web.axe("workouts-edit")
            await form.get_by_role("button", name="Save").click()
            row = page.locator(f'.workout-list > li[data-workout-id="{tempo["id"]}"]')
            await expect(row).to_contain_text("Tempo on the hill")
            await expect(row).to_contain_text("Hike")
            await expect(row).to_contain_text("Saved.")
            await expect(page.get_by_role("button", name="Edit Tempo on the hill")).to_be_focused()
            changed = (await http.get(f"/v1/workouts/{tempo['id']}", headers=athlete.headers)).json()
            assert (changed["title"], changed["sport"]) == ("Tempo on the hill", "hike"), changed

            # Delete asks first: Escape keeps the workout; confirming removes it everywhere.
            await page.get_by_role("button", name="Delete Lunch walk").click()
            dialog = page.get_by_role("dialog", name="Delete this workout?")
            await expect(dialog).to_be_visible()
            await expect(dialog).to_contain_text("“Lunch walk” will be deleted")
            await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
            await web.axe("workouts-delete-dialog")
            await web.screenshot("workouts-delete-dialog")
            await page.keyboard.press("Escape")
            await expect(dialog).to_have_count(0)
            assert (await http.get(f"/v1/workouts/{walk['id']}", headers=athlete.headers)).status_code == 200
            await page.get_by_role("button", name="Delete Lunch walk").click()
            await page.get_by_role("dialog").get_by_role("button", name="Delete for good").click()
            await expect(page.get_by_role("status").filter(has_text="Deleted “Lunch walk”.")).to_be_visible()
            await expect(page.locator(f'li[data-workout-id="{walk["id"]}"]')).to_have_count(0)
            assert (await http.get(f"/v1/workouts/{walk['id']}", headers=athlete.headers)).status_code == 404
            await web.axe("workouts-deleted")
            web.assert_no_errors()

        # At phone width, in Russian: nothing scrolls sideways.
        async with web_page(stack, viewport=PHONE, locale="ru-RU") as web:
            await web.open("/app/workouts?sport=ride")
            await web.sign_in(athlete.email, athlete.password)
            await web.heading("Мои тренировки")
            await expect(items(web)).to_have_count(1)
            await expect(items(web).first).to_contain_text(ride["title"])
            await web.assert_fits_width()
            await web.axe("workouts-ru-phone")
            await web.screenshot("workouts-ru-phone")
            web.assert_no_errors()


async def test_uploading_good_and_bad_files(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    good = gpx(dt.datetime(2026, 4, 2, 6, 30, tzinfo=dt.UTC), 1200)
    async with web_page(stack) as web:
        page = web.page
        await signed_in(web, athlete, "/app/workouts", "My workouts")
        await expect(page.get_by_text("No workouts yet")).to_be_visible()
        await web.axe("upload-empty")
        card = page.locator(".upload-card")

        # Nothing chosen: said on the field, which takes the focus.
        await card.get_by_role("button", name="Upload").click()
        await expect(card.get_by_text("Choose a GPX or FIT file first.")).to_be_visible()
        await expect(page.locator("#upload-file")).to_be_focused()

        # Not a track at all → 422 unreadable_file, in words.
        await page.locator("#upload-file").set_input_files(
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just some notes\n"}])
        await card.get_by_role("button", name="Upload").click()
        await expect(card.get_by_role("alert")).to_contain_text(
            "notes.txt is not a GPX or FIT file Stride can read")
        await web.axe("upload-unreadable")

        # A GPX without timed points → 422 no_track_points.
        untimed = (GPX_HEAD + '<trkpt lat="55.75" lon="37.6"><ele>150</ele></trkpt>' + GPX_TAIL).encode()
        await page.locator("#upload-file").set_input_files(
            files=[{"name": "untimed.gpx", "mimeType": "application/gpx+xml", "buffer": untimed}])
        await card.get_by_role("button", name="Upload").click()
        await expect(card.get_by_role("alert")).to_contain_text("untimed.gpx has no track points with a time")

        # Over the size limit → 413 too_large (told before the body is read).
        huge = b"<gpx>" + b" " * (UPLOAD_LIMIT_BYTES + 200_000) + b"</gpx>"
        await page.locator("#upload-file").set_input_files(
            files=[{"name": "huge.gpx", "mimeType": "application/gpx+xml", "buffer": huge}])
        await card.get_by_role("button", name="Upload").click()
        await expect(card.get_by_role("alert")).to_contain_text("huge.gpx is too large to upload",
                                                                timeout=30_000)
        await web.axe("upload-too-large")
        await web.screenshot("upload-too-large")

        # A good file with a sport and a title: progress, then a link to the new workout.
        await page.locator("#upload-file").set_input_files(
            files=[{"name": "morning.gpx", "mimeType": "application/gpx+xml", "buffer": good}])
        await page.locator("#upload-sport").select_option("run")
        await page.locator("#upload-title").fill("Uploaded sunrise run")
        await card.get_by_role("button", name="Upload").click()
        done = card.locator(".alert-ok")
        await expect(done).to_contain_text("Uploaded: Uploaded sunrise run", timeout=30_000)
        await expect(card.get_by_role("alert")).to_have_count(0)
        await expect(items(web)).to_have_count(1)
        await expect(items(web).first).to_contain_text("Uploaded sunrise run")
        await expect(items(web).first).to_contain_text(re.compile(r"3\.\d\d km"))
        await web.axe("upload-done")
        await web.screenshot("upload-done")
        await done.get_by_role("link", name="Uploaded sunrise run").click()
        await web.heading("Uploaded sunrise run")
        web.assert_no_errors()


# -- a workout ---------------------------------------------------------------------------------


async def test_a_workout_page_draws_route_charts_splits_and_zones(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(hr_max=190, hr_rest=55)
    t0 = (int(time.time()) - 6 * 3600) * 1000
    samples = simulate("web", "run", 1500, t0, seed=7).samples
    samples = [(*s[:5], 89.0 if 600 <= i < 700 else s[5]) for i, s in enumerate(samples)]  # a low-SpO2 spell
    workout = await stream(stack, athlete, samples)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        await stored(http, athlete, workout)
        summary = (await http.get(f"/v1/workouts/{workout}", headers=athlete.headers)).json()
        splits = (await http.get(f"/v1/workouts/{workout}/splits", headers=athlete.headers)).json()
        renamed = await http.patch(f"/v1/workouts/{workout}", headers=athlete.headers,
                                   json={"title": "Park loops"})
        assert renamed.status_code == 200, renamed.text
    km = len(splits["splits"])
    assert km >= 4, splits

    async with web_page(stack) as web:
        page = web.page
        await signed_in(web, athlete, f"/app/workouts/{workout}", "Park loops")
        facts = page.locator("dl.facts")
        await expect(facts).to_contain_text(f"{summary['distance_m'] / 1000:.2f} km")
        await expect(facts).to_contain_text(f"{int(summary['avg_hr'] + 0.5)} bpm")
        # The route: one path of many vectors, with its start and finish, and words for it.
        route = page.locator("figure.route-map")
        await expect(route.locator("svg[role=img] path.route-line")).to_have_count(1)
        d = await route.locator("path.route-line").get_attribute("d") or ""
        assert d.count("L") > 50, d[:200]
        await expect(route.locator("figcaption")).to_contain_text("km east–west")
        # Four charts over one time axis, each with its summary in words and a data table.
        await charts_drawn(web)
        for name, words in (("pace", r"^Pace Lowest \d+:\d\d /km, average"),
                            ("hr", r"^Heart rate Lowest \d+ bpm, average \d+ bpm, highest \d+ bpm"),
                            ("alt", r"^Elevation Lowest \d+ m"), ("spo2", r"^SpO2 Lowest 89\.0 %")):
            chart = page.locator(f"figure.chart-{name}")
            await expect(chart.locator("svg[role=img] path.series-line")).to_have_count(1)
            caption = chart.locator("figcaption")
            await expect(caption).to_have_text(re.compile(words + r".* From 0:00 to 2[45]:\d\d\.$"))
            named_by = await caption.get_attribute("id") or ""
            await expect(chart.locator("svg")).to_have_attribute("aria-labelledby", named_by)
        await page.locator("figure.chart-hr summary").click()
        await expect(page.locator("figure.chart-hr table tbody tr")).to_have_count(24, timeout=5_000)
        # Splits per km add up to the workout; zones name their share in numbers.
        await expect(page.locator("table.splits tbody tr")).to_have_count(km, timeout=30_000)
        await expect(page.locator("table.splits")).to_contain_text("fastest")
        await expect(page.locator("table.zones tbody tr")).to_have_count(5)
        await expect(page.locator("table.zones")).to_contain_text("%")
        risk = page.get_by_role("region", name="Injury risk")
        await expect(risk).to_contain_text(re.compile(r"(Low|Moderate|High) risk"))
        await web.axe("workout-page")
        await web.screenshot("workout-page")
        web.assert_no_errors()

    async with web_page(stack, viewport=PHONE, color_scheme="dark") as web:
        await signed_in(web, athlete, f"/app/workouts/{workout}", "Park loops")
        await charts_drawn(web)
        await expect(web.page.locator("table.splits tbody tr")).to_have_count(km, timeout=30_000)
        await web.assert_fits_width()
        await web.axe("workout-page-dark-phone")
        await web.screenshot("workout-page-dark-phone")
        # A workout that is not there (or not the athlete's) reads as such.
        await web.open(f"/app/workouts/{uuid.uuid4()}")
        await expect(web.page.get_by_role("alert")).to_have_text(
            "There is no such workout (or it was deleted).")
        await web.axe("workout-not-found")
        web.assert_no_errors()


async def test_the_keyboard_alone_reaches_a_workout_from_the_list(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        made = await upload(http, athlete, gpx(dt.datetime(2026, 5, 3, 9, tzinfo=dt.UTC), 900),
                            title="Keyboard run")
    async with web_page(stack) as web:
        page = web.page
        await signed_in(web, athlete, "/app/live", "Live")
        # From the page's heading (focused as a page opens), back to the navigation's
        # "My workouts" with Shift+Tab, and Enter.
        for _ in range(25):
            await page.keyboard.press("Shift+Tab")
            if await page.evaluate("document.activeElement?.textContent") == "My workouts":
                break
        await expect(page.get_by_role("link", name="My workouts")).to_be_focused()
        await page.keyboard.press("Enter")
        await web.heading("My workouts")
        await expect(page.locator("h1")).to_be_focused()
        # Then on through the upload and filter forms to the workout's link, and Enter.
        for _ in range(40):
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement?.textContent") == "Keyboard run":
                break
        link = page.get_by_role("link", name="Keyboard run")
        await expect(link).to_be_focused()
        visible_focus = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert visible_focus != "none", "the focused link shows no outline"
        await page.keyboard.press("Enter")
        await web.heading("Keyboard run")
        await expect(page).to_have_url(re.compile(f"/app/workouts/{made['id']}$"))
        await expect(page.locator("h1")).to_be_focused()
        # The way back is a link too.
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="All my workouts")).to_be_focused()
        await page.keyboard.press("Enter")
        await web.heading("My workouts")
        web.assert_no_errors()


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-colour PNG (a stand-in map tile)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class TileServer:
    """A map tile server on loopback: any /tiles/{z}/{x}/{y}.png is a grey tile; it
    remembers what it was asked for."""

    def __init__(self) -> None:
        tile = png(256, 256, (214, 222, 230))
        asked = self.asked = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                asked.append(self.path)
                ok = re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", self.path) is not None
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile) if ok else 0))
                self.end_headers()
                if ok:
                    self.wfile.write(tile)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tiles/{{z}}/{{x}}/{{y}}.png"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_a_route_lies_over_map_tiles_when_the_operator_names_a_tile_server(
        stack: Settings, account, processes: Processes) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        made = await upload(http, athlete, gpx(dt.datetime(2026, 7, 1, 6, tzinfo=dt.UTC), 1200),
                            title="Over the tiles")
    tiles = TileServer()
    try:
        gateway = await asyncio.to_thread(processes.gateway, STRIDE_TILE_URL=tiles.url)
        async with web_page(stack, base_url=http_url(gateway)) as web:
            await signed_in(web, athlete, f"/app/workouts/{made['id']}", "Over the tiles")
            route = web.page.locator("figure.route-map svg")
            await expect(route.locator("path.route-line")).to_have_count(1)
            images = route.locator("image.route-tile")
            await expect(images.first).to_be_attached()
            count = await images.count()
            assert 1 <= count <= 64, count
            hrefs = [await images.nth(i).get_attribute("href") or "" for i in range(count)]
            zooms = {int(h.split("/tiles/")[1].split("/")[0]) for h in hrefs}
            assert len(zooms) == 1 and 14 <= zooms.pop() <= 18, hrefs  # a ~800 m loop in ~1,200 px

            async def fetched() -> bool:
                return len(set(tiles.asked)) >= count
            assert await wait_until_async(fetched, 30, interval_s=0.2), (tiles.asked, hrefs)
            await web.axe("workout-route-tiles")
            await web.screenshot("workout-route-tiles")
            web.assert_no_errors()  # the CSP let the tile server's images in
    finally:
        tiles.close()


# -- Live --------------------------------------------------------------------------------------


async def test_the_live_page_follows_the_athletes_own_workout(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account(hr_max=190, hr_rest=55)
    n = 480
    t0 = int(time.time() * 1000) - n * 1000  # sample time runs ahead of the clock: never future
    samples = simulate("live", "run", n, t0, seed=3).samples
    stop = asyncio.Event()
    async with web_page(stack) as web:
        page = web.page
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await signed_in(web, athlete, "/app/live", "Live")
        await expect(page.get_by_text("You have no workout in progress.")).to_be_visible()
        await expect(page.locator(".live-conn")).to_contain_text("Live: numbers update")
        await web.axe("live-none")
        await web.screenshot("live-none")

        device = asyncio.create_task(
            stream(stack, athlete, samples, rate_hz=LIVE_RATE_HZ, stop=stop, batch=2))
        try:
            numbers = page.locator("dl.live-numbers")
            await expect(numbers).to_be_visible(timeout=30_000)
            distance = numbers.locator(".live-distance dd")
            await expect(distance).to_have_text(re.compile(r"^\d+(\.\d+)? k?m$"), timeout=30_000)
            before = await distance.text_content()
            await expect(distance).not_to_have_text(before or "", timeout=30_000)
            await expect(numbers.locator(".live-hr dd")).to_have_text(re.compile(r"^\d+ bpm"), timeout=30_000)
            await expect(numbers.locator(".live-time dd")).to_have_text(re.compile(r"^\d+:\d\d$"))
            await expect(page.get_by_role("region", name=re.compile("^Run · In progress"))).to_be_visible()
            trace = page.locator("figure.chart svg path.series-line").first
            await expect(trace).to_be_visible(timeout=30_000)
            await web.axe("live-streaming")
            await web.screenshot("live-streaming")
            await page.set_viewport_size(PHONE)
            await web.assert_fits_width()
            await web.axe("live-streaming-phone")
            await web.screenshot("live-streaming-phone")
        finally:
            stop.set()
        workout = await asyncio.wait_for(device, 60)
        await expect(page.get_by_text("This workout has finished.")).to_be_visible(timeout=30_000)
        await expect(numbers).to_have_attribute("data-workout-id", str(workout))
        await web.axe("live-finished")
        assert sockets and not any("token" in url for url in sockets), sockets
        await page.get_by_role("link", name="Open the workout").click()
        await expect(page).to_have_url(re.compile(f"/app/workouts/{workout}$"))
        web.assert_no_errors()


# -- how long a long workout takes to draw ------------------------------------------------------


async def test_how_long_a_three_hour_workout_takes_to_draw(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete: Account = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120) as http:
        made = await upload(http, athlete, gpx(dt.datetime(2026, 6, 6, 5, tzinfo=dt.UTC), 10_800),
                            title="Three hours")
    assert made["samples_count"] == 10_800, made["samples_count"]
    runs: list[dict[str, float]] = []
    async with web_page(stack) as web:
        page = web.page
        await signed_in(web, athlete, f"/app/workouts/{made['id']}", "Three hours")
        for _ in range(5):
            # A fresh navigation each time (the session stays in the tab): the page's clock
            # starts at navigation, the mark is set once the charts are painted.
            await page.goto(f"{stack.gateway_url}/app/workouts/{made['id']}")
            await charts_drawn(web, 60_000)
            runs.append(await page.evaluate("""() => {
                const mark = performance.getEntriesByName('stride:charts-drawn')[0];
                const nav = performance.getEntriesByType('navigation')[0];
                const calls = {};
                for (const r of performance.getEntriesByType('resource')) {
                    const what = new URL(r.name).pathname.replace(/[0-9a-f-]{36}/, ':id');
                    if (what.startsWith('/v1/') || what.startsWith('/assets/')) {
                        calls[what] = [Math.round(r.startTime), Math.round(r.responseEnd)];
                    }
                }
                const opened = performance.getEntriesByName('stride:workout-page')[0];
                return { charts_drawn_ms: mark.startTime, page_mounted_ms: opened ? opened.startTime : -1,
                         dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : -1,
                         charts: document.querySelectorAll('.charts-card path.series-line').length,
                         calls };
            }"""))
        await expect(page.locator("figure.chart-hr figcaption")).to_contain_text(
            re.compile("From 0:00 to (2:59:59|3:00:00)"))
        await web.axe("workout-3h")
        await web.screenshot("workout-3h")
        web.assert_no_errors()
    drawn = [r["charts_drawn_ms"] for r in runs]
    report = {
        "what": "navigation start → pace, heart-rate and elevation charts painted, /app/workouts/:id, "
                "a 3-hour 1 Hz workout (10,800 samples), headless Chromium, desktop width",
        "samples": 10_800, "runs_ms": [round(v, 1) for v in drawn],
        "median_ms": round(statistics.median(drawn), 1), "first_ms": round(drawn[0], 1),
        "charts": runs[0]["charts"],
        "dom_content_loaded_ms": [round(r["dom_content_loaded_ms"], 1) for r in runs],
        "page_mounted_ms": [round(r["page_mounted_ms"], 1) for r in runs],
        "requests_of_the_last_run_ms": runs[-1]["calls"],
        "requests_note": "[start, end] ms after navigation, per path (:id for the workout)",
    }
    (artifacts(stack) / "workout-render-3h.json").write_text(json.dumps(report, indent=1))
    print(f"\n3-hour workout page: charts drawn {report['median_ms']} ms after navigation "
          f"(median of {len(drawn)}; runs {report['runs_ms']})")
