"""Reading workouts back through the gateway: pages with a cursor, samples raw or in time
buckets, per-minute metrics and the GPS path, after streaming through the whole stack."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


def _track(n: int, t0: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(t0 + 1000 * i, 45.0 + 2.0e-5 * i, 7.0 + 1.5e-5 * i, 300.0, 130.0 + i % 20, 97.0)
            for i in range(n)]


async def _stream(stack: Settings, token: str, samples: list, t0: int,  # type: ignore[type-arg]
                  pause_s: float = 0.0) -> uuid.UUID:
    workout = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, token) as device:
        await device.start(workout, "run", t0)
        for seq in range(0, len(samples), 100):
            await device.send_samples(workout, seq, samples[seq:seq + 100])
            await asyncio.sleep(pause_s)  # a device syncing its backlog, batch by batch
        await device.finish(workout, samples[-1][0] + 1000)
    return workout


async def test_a_ten_minute_workout_reads_back_raw_bucketed_per_minute_and_as_a_path(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete = account()
    t0 = (int(time.time()) - 3600) // 60 * 60 * 1000  # an hour ago, on a whole minute
    samples = _track(600, t0)
    # Paced over ~3 s, so the actor's 1 Hz live metrics go out a few times on the way.
    workout = await _stream(stack, athlete.token, samples, t0, pause_s=0.5)
    base = f"/v1/workouts/{workout}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=athlete.headers,
                                 timeout=30) as http:
        async def path_ready() -> dict | None:  # type: ignore[type-arg]
            answer = await http.get(f"{base}/path")
            if answer.status_code == 404:  # the workout itself is not projected yet
                return None
            body = answer.json()
            return body if body["properties"]["ready"] else None
        assert await wait_until_async(path_ready, 60, interval_s=0.3), "no path within 60 s"
        path = (await http.get(f"{base}/path")).json()
        assert path["type"] == "Feature" and path["geometry"]["type"] == "LineString"
        assert len(path["geometry"]["coordinates"]) == 600
        assert path["geometry"]["coordinates"][0] == [7.0, 45.0]

        raw = await http.get(f"{base}/samples")
        assert raw.status_code == 200 and raw.headers["X-Bucket-Seconds"] == "0"
        assert [s["seq"] for s in raw.json()] == list(range(600))

        minutes = await http.get(f"{base}/samples", params={"bucket_s": 60})
        assert minutes.headers["X-Bucket-Seconds"] == "60"
        points = minutes.json()
        assert [p["samples"] for p in points] == [60] * 10
        first = samples[:60]
        assert points[0]["hr_bpm"] == pytest.approx(sum(s[4] for s in first) / 60)
        assert points[0]["max_hr_bpm"] == max(s[4] for s in first)
        assert points[0]["seq"] == 59

        auto = await http.get(f"{base}/samples", params={"limit": 100})
        assert auto.headers["X-Bucket-Seconds"] == "10"  # the smallest round width for 100 points
        assert len(auto.json()) == 60

        window = await http.get(f"{base}/samples", params={
            "bucket_s": 60, "from": _iso(t0 + 120_000), "to": _iso(t0 + 300_000)})
        assert [p["seq"] for p in window.json()] == [179, 239, 299]

        bad = await http.get(f"{base}/samples", params={"from": _iso(t0 + 9000), "to": _iso(t0)})
        assert bad.status_code == 400 and bad.json()["code"] == "bad_range"

        # The snapshots reach the store through the sink on their own path; wait for the
        # closing one, taken at the finish (t0 + 10 min), the eleventh minute.
        async def rolled_up() -> list | None:  # type: ignore[type-arg]
            rows = (await http.get(f"{base}/minutes")).json()
            return rows if len(rows) >= 11 else None
        # 601 snapshots through the sink: on a loaded machine that took over a minute.
        per_minute = await wait_until_async(rolled_up, 180, interval_s=0.5)
        assert per_minute, "the live metrics were not rolled up into eleven minutes within 180 s"
        distances = [m["distance_m"] for m in per_minute]
        assert distances == sorted(distances) and distances[-1] > 0


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat()


async def test_an_athletes_workouts_come_a_page_at_a_time(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete = account()
    t0 = (int(time.time()) - 7200) * 1000
    made = [await _stream(stack, athlete.token, _track(5, t0 + k * 60_000), t0 + k * 60_000)
            for k in range(5)]
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=athlete.headers,
                                 timeout=30) as http:
        async def all_stored() -> bool:
            listed = await http.get("/v1/workouts", params={"limit": 200})
            return len(listed.json()) == 5
        assert await wait_until_async(all_stored, 30, interval_s=0.2)
        seen, pages, url, params = [], 0, "/v1/workouts", {"limit": 2}
        while True:
            page = await http.get(url, params=params)
            assert page.status_code == 200
            seen += [w["id"] for w in page.json()]
            pages += 1
            if "X-Next-Cursor" not in page.headers:
                break
            assert page.headers["Link"].endswith('rel="next"')
            params = {"limit": 2, "cursor": page.headers["X-Next-Cursor"]}
        assert pages == 3
        assert seen == [str(w) for w in reversed(made)]  # newest first, each once

        bad = await http.get("/v1/workouts", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400 and bad.json()["code"] == "bad_cursor"
