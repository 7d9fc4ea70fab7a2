"""The whole path on the running stack: device WebSocket → gateway → Ray actor → Kafka →
Faust → PostgreSQL, then the REST API, for both wire encodings."""

from __future__ import annotations

import time
import uuid

import httpx
import psycopg
import pytest
import websockets
from user_accounts import Account

from actors.metrics.distance import haversine_m
from actors.workout import Workout
from gateway import protocol
from gateway.client import DeviceClient, DeviceError
from stack.settings import Settings

pytestmark = pytest.mark.e2e


def _route(n: int, t0: int) -> list[tuple[int, float, float, float, float, float]]:
    """A run heading north-east at ~3 m/s, 1 Hz, with a GPS spike at sample 25."""
    samples = []
    for i in range(n):
        lat, lon = 45.0 + 2.0e-5 * i, 7.0 + 1.5e-5 * i
        if i == 25:
            lat += 0.01  # ~1.1 km off for one fix
        samples.append((t0 + 1000 * i, lat, lon, 250.0 + 0.1 * i, 120.0 + i % 30, 97.0))
    return samples


def _expected_summary(wid: uuid.UUID, user: uuid.UUID, samples: list, t0: int, end: int):  # type: ignore[no-untyped-def]
    workout = Workout.create(wid, user, "run", t0)
    workout.start()
    workout.apply_samples(0, samples)
    workout.finish(end)
    return workout.summary()


@pytest.mark.parametrize("subprotocol", [protocol.JSON, protocol.MSGPACK])
async def test_a_workout_travels_from_device_to_database(
    stack: Settings, subprotocol: str, eventually, session_athlete: Account
) -> None:
    wid = uuid.uuid4()
    t0 = int(time.time() * 1000) - 120_000
    samples = _route(60, t0)
    async with DeviceClient(stack.gateway_ws_url, session_athlete.token, subprotocol=subprotocol) as device:
        assert (await device.start(wid, "run", t0)).seq == -1
        for seq in range(0, 60, 20):
            ack = await device.send_samples(wid, seq, samples[seq:seq + 20])
            assert ack.seq == seq + 19
        # A resend after a lost ack changes nothing.
        assert (await device.send_samples(wid, 20, samples[20:40])).seq == 59
        # A reconnecting device sends `start` again and learns where to resume.
        assert (await device.start(wid, "run", t0)).seq == 59
        await device.finish(wid, t0 + 60_000)

    expected = _expected_summary(wid, session_athlete.id, samples, t0, t0 + 60_000)
    # A straight line: the distance is the line's length, so the 1.1 km spike added nothing
    # (the 1.1 km would be 700 % of it). Clean fixes still lose a little to the noise
    # correction while the track is too short to show its noise (the 5 m prior): < 1 %.
    straight_m = haversine_m(45.0, 7.0, 45.0 + 59 * 2e-5, 7.0 + 59 * 1.5e-5)
    assert expected.distance_m == pytest.approx(straight_m, rel=1e-2)
    assert expected.moving_time_s == 59

    async def stored() -> tuple[int, float, str] | None:
        async with await psycopg.AsyncConnection.connect(stack.pg_dsn) as conn:
            count = await (await conn.execute(
                "SELECT count(*), count(DISTINCT seq) FROM sensor_data WHERE workout_id = %s",
                (wid,))).fetchone()
            row = await (await conn.execute(
                "SELECT distance_m, status FROM workouts WHERE id = %s", (wid,))).fetchone()
        if count is None or count[0] < 60 or row is None or row[1] != "finished":
            return None
        assert count[0] == count[1] == 60, "every sample stored exactly once"
        return count[0], row[0], row[1]

    count, distance_m, status = await eventually(stored, timeout_s=60)
    assert distance_m == pytest.approx(expected.distance_m, rel=1e-9)

    headers = {"Authorization": f"Bearer {session_athlete.token}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers) as http:
        summary = (await http.get(f"/v1/workouts/{wid}")).json()
        stored_samples = (await http.get(f"/v1/workouts/{wid}/samples")).json()
    assert summary["status"] == "finished" and summary["sport"] == "run"
    assert summary["distance_m"] == pytest.approx(expected.distance_m)
    assert summary["samples_count"] == 60 and summary["last_seq"] == 59
    assert summary["max_hr"] == 149 and summary["min_spo2"] == 97
    assert summary["started_at"].endswith("Z")
    assert [s["seq"] for s in stored_samples] == list(range(60))


async def test_the_upgrade_is_refused_without_a_valid_token(stack: Settings,
                                                            session_athlete: Account) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{stack.gateway_ws_url}/v1/ingest",
                                          additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    # ?token= works for clients that cannot set headers.
    url = f"{stack.gateway_ws_url}/v1/ingest?token={session_athlete.token}"
    async with websockets.connect(url, subprotocols=[protocol.JSON]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == protocol.JSON


async def test_bad_frames_get_error_frames_and_the_stream_goes_on(stack: Settings,
                                                                 session_athlete: Account) -> None:
    wid = uuid.uuid4()
    t0 = int(time.time() * 1000)
    async with DeviceClient(stack.gateway_ws_url, session_athlete.token) as device:
        ws = device._ws  # raw frames, as a buggy device would send them
        await ws.send("{not json")
        assert '"code":"malformed"' in await ws.recv()
        await ws.send('{"type":"teleport","seq":7}')
        reply = await ws.recv()
        assert '"code":"unknown_type"' in reply and '"seq":7' in reply
        with pytest.raises(DeviceError, match="not_started"):
            await device.send_samples(wid, 0, [(t0, 45.0, 7.0, None, 150.0, None)])
        await device.start(wid, "run", t0)
        await ws.send(f'{{"type":"samples","workout_id":"{wid}","seq":0,'
                      f'"samples":[[{t0},95.0,7.0,null,150,null]]}}')
        reply = await ws.recv()
        assert '"code":"invalid"' in reply and "$.samples[0][1]" in reply
        # The connection is still usable, and nothing bad was applied.
        assert (await device.send_samples(wid, 0, [(t0, 45.0, 7.0, None, 150.0, None)])).seq == 0
        # A batch ahead of a gap waits: the ack stays where it was until the gap is sent.
        assert (await device.send_samples(wid, 5, [(t0 + 5000, 45.0, 7.0, None, 150.0, None)])).seq == 0
        gap = [(t0 + 1000 * i, 45.0, 7.0, None, 150.0, None) for i in range(1, 5)]
        assert (await device.send_samples(wid, 1, gap)).seq == 5
        await device.finish(wid, t0 + 1000)


async def test_rest_errors_are_json_with_a_code(stack: Settings, session_athlete: Account) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        unauthorized = await http.get(f"/v1/workouts/{uuid.uuid4()}")
        missing = await http.get(f"/v1/workouts/{uuid.uuid4()}",
                                 headers={"Authorization": f"Bearer {session_athlete.token}"})
        bad_id = await http.get("/v1/workouts/not-a-uuid",
                                headers={"Authorization": f"Bearer {session_athlete.token}"})
        schema = await http.get("/schema/openapi.json")
    assert unauthorized.status_code == 401 and unauthorized.json()["code"] == "unauthorized"
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert 400 <= bad_id.status_code < 500 and "code" in bad_id.json()
    assert "/v1/workouts/{workout_id}" in schema.json()["paths"]
