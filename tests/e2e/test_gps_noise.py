"""GPS noise, end to end: seeded noisy tracks streamed through the device protocol, the
summary read back from the API (the unit cases, tests/unit/test_distance_noise.py, one seed
each): a still device, a slow walk, a run, stop and go, a ride saved as a hike, a sparse
track, and a device sending its Doppler speed and accuracy, which are stored with the
samples."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from user_accounts import Account

from gateway.client import DeviceClient
from stack.gps_cases import T0, length, line, noise, samples, still, stop_and_go, winding
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e
SEED = 5


async def _through_the_gateway(stack: Settings, who: Account, sport: str,
                               rows: list[Any]) -> dict[str, Any]:
    """Stream `rows` as one workout, finish it, and return its summary once stored."""
    wid = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, who.token) as device:
        await device.start(wid, sport, rows[0][0])  # type: ignore[arg-type]
        for seq in range(0, len(rows), 100):
            ack = await device.send_samples(wid, seq, rows[seq:seq + 100])
            assert ack.seq == min(seq + 100, len(rows)) - 1
        await device.finish(wid, rows[-1][0])
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=who.headers, timeout=30) as http:
        async def finished() -> dict[str, Any] | None:
            body = (await http.get(f"/v1/workouts/{wid}")).json()
            return body if body.get("status") == "finished" else None

        summary = await wait_until_async(finished, 60, interval_s=0.2)
    assert summary is not None, "the workout never reached the API as finished"
    summary["id"] = str(wid)
    return summary


def _noisy(path: np.ndarray, **kw: Any) -> list[Any]:
    rng = np.random.default_rng(SEED)
    return samples(path + noise(rng, len(path)), T0 + np.arange(len(path)) * 1000, **kw)


async def test_a_still_device_and_a_slow_walk(stack: Settings, account: Any) -> None:
    who = account()
    resting = await _through_the_gateway(stack, who, "run", _noisy(still(600)))
    assert resting["distance_m"] < 50.0 and resting["moving_time_s"] < 60.0
    path = winding(np.random.default_rng(SEED), 600, 1.0)
    walk = await _through_the_gateway(stack, who, "walk", _noisy(path))
    assert walk["distance_m"] == pytest.approx(length(path), rel=0.03)
    assert walk["sport_mismatch"] is None


async def test_a_run_and_stop_and_go(stack: Settings, account: Any) -> None:
    who = account()
    path = winding(np.random.default_rng(SEED), 600, 3.0)
    run = await _through_the_gateway(stack, who, "run", _noisy(path))
    assert run["distance_m"] == pytest.approx(length(path), rel=0.015)
    stops, moving_s = stop_and_go(4, 1.2)
    walk = await _through_the_gateway(stack, who, "walk", _noisy(stops))
    assert walk["moving_time_s"] == pytest.approx(moving_s, rel=0.05)


async def test_a_ride_saved_as_a_hike_loses_nothing_and_says_so(stack: Settings, account: Any) -> None:
    path = winding(np.random.default_rng(SEED), 900, 8.0)
    hike = await _through_the_gateway(stack, account(), "hike", _noisy(path))
    assert hike["distance_m"] == pytest.approx(length(path), rel=0.015)
    assert hike["sport_mismatch"] == "ride"


async def test_a_sparse_track_loses_nothing(stack: Settings, account: Any) -> None:
    """Smart recording: a ride saved as a hike with a fix every 5–90 s, for an hour."""
    rng = np.random.default_rng(SEED)
    path = winding(np.random.default_rng(70 + SEED), 3600, 7.0, turn_deg=1.0)
    at = np.cumsum(np.r_[0, rng.integers(5, 91, 200)])
    at = at[at < len(path)]
    rows = samples(path[at] + noise(rng, len(at)), T0 + at * 1000)
    hike = await _through_the_gateway(stack, account(), "hike", rows)
    assert hike["distance_m"] == pytest.approx(length(path[:at[-1] + 1]), rel=0.02)


async def test_doppler_speed_and_accuracy_are_used_and_stored(stack: Settings, account: Any) -> None:
    who = account()
    path = line(300, 1.2)
    rng = np.random.default_rng(SEED)
    speed = np.abs(np.full(300, 1.2) + rng.normal(0.0, 0.15, 300))
    rows = samples(path + noise(rng, 300), T0 + np.arange(300) * 1000, speed=speed,
                   accuracy=np.full(300, 7.5))
    walk = await _through_the_gateway(stack, who, "walk", rows)
    assert walk["distance_m"] == pytest.approx(length(path), rel=0.02)
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=who.headers, timeout=30) as http:
        async def stored() -> list[dict[str, Any]] | None:
            got = (await http.get(f"/v1/workouts/{walk['id']}/samples?raw=true&limit=10")).json()
            return got if len(got) == 10 else None

        first = await wait_until_async(stored, 30, interval_s=0.2)
    assert first is not None
    assert first[3]["speed_mps"] == pytest.approx(speed[3], rel=1e-6)
    assert first[3]["accuracy_m"] == pytest.approx(7.5) and first[3]["power_w"] is None
