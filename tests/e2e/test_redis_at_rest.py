"""Redis at rest through the running stack: while an athlete streams, the values Redis keeps
for their workout (actor snapshot and journal, live state) hold no position, heart rate or
athlete id in clear, and a coach who opens the live feed meanwhile still gets the newest live
state in the snapshot (the gateway opens it with the athlete's data key)."""

from __future__ import annotations

import struct
import time
import uuid

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from test_live_feed import coached_group, next_of, open_feed

from gateway.client import DeviceClient
from stack.settings import Settings
from storage import keyspace

pytestmark = pytest.mark.e2e


async def test_a_live_workouts_redis_values_are_sealed_and_a_coach_gets_them_opened(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        coach, (rae,), group, _ = await coached_group(stack, account, http, ["Rae"])
    workout, t0 = uuid.uuid4(), int(time.time() * 1000) - 120_000
    track = [(t0 + i * 1000, 45.0312 + i * 3.1e-5, 7.0417 + i * 1e-5, 300.0, 150.0 + i % 11, 97.0)
             for i in range(40)]
    names = [keyspace.snapshot(stack.redis_prefix, workout), keyspace.journal(stack.redis_prefix, workout),
             keyspace.live_state(stack.redis_prefix, workout)]
    client = aioredis.from_url(stack.redis_url)
    try:
        async with DeviceClient(stack.gateway_ws_url, rae.token) as device:
            await device.start(workout, "run", t0)
            for first in range(0, 40, 10):
                assert (await device.send_samples(workout, first, track[first:first + 10])).seq == first + 9

            async def state_and_snapshot() -> bool:
                return await client.exists(names[0], names[2]) == 2

            await eventually(state_and_snapshot, timeout_s=20)
            raw = [v for v in await client.mget(names[0], names[2]) if v is not None]
            raw += await client.lrange(names[1], 0, -1)
            needles = {str(rae.id).encode(), b'"hr_bpm"', b'"lat"'}
            for _, lat, lon, _, hr, _ in track:
                needles |= {struct.pack(">d", lat), struct.pack(">d", lon), struct.pack(">d", hr),
                            msgspec.json.encode(lat)}
            assert len(raw) >= 2 and [n for v in raw for n in needles if n in v] == []
            # The snapshot lists the workouts PostgreSQL knows (the stream worker's projection,
            # which lags under load) with the live state from Redis: reconnect until it is there.
            async def coach_snapshot() -> list[dict[str, object]]:
                async with open_feed(stack, coach, group) as feed:
                    snapshot = await next_of(feed, "snapshot")
                workouts: list[dict[str, object]] = snapshot["workouts"]
                return workouts

            [shown] = await eventually(coach_snapshot, timeout_s=60)
            # "event" comes only with the live state: the database's summary has none
            assert shown["workout_id"] == str(workout) and shown["event"] in (
                "WorkoutStarted", "WorkoutMetricsUpdated")
            await device.finish(workout, t0 + 41_000)
    finally:
        await client.aclose()
