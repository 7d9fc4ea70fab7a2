"""One account cannot exhaust the cluster: each per-account quota, at its production
default, on gateways of the test's own (two for the cluster-wide ones, a sharded one for
the placement), refused with the code a client can act on — and a `start` that fails for
any reason leaves no actor behind."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis
import websockets
from helper_processes import PROXY_SETTINGS, Gateway, Processes

from gateway import protocol
from gateway.client import DeviceClient
from gateway.ingest_limits import IngestLimits
from gateway.quotas import Quotas
from stack.settings import Settings
from storage import keyspace

pytestmark = pytest.mark.e2e
QUOTAS, LIMITS = Quotas(), IngestLimits()
_json = msgspec.json.Decoder(protocol.ServerFrame)


@pytest.fixture(scope="module")
def second_gateway(processes: Processes) -> Gateway:
    """Another production gateway on the same stack: the quotas are cluster-wide."""
    return Gateway(processes.gateway(production_limits=True, **PROXY_SETTINGS))


@pytest.fixture(scope="module")
def sharded_gateway(processes: Processes) -> Gateway:
    return Gateway(processes.gateway(production_limits=True, STRIDE_PLACEMENT="sharded",
                                     **PROXY_SETTINGS))


@pytest.fixture
async def ray_connected(stack: Settings) -> AsyncIterator[Any]:
    import ray

    if not ray.is_initialized():
        ray.init(address=stack.ray_address, namespace=stack.ray_namespace, log_to_driver=False)
    yield ray


def _host_of(wid: uuid.UUID) -> str | None:
    """The spare host the dedicated placement registered for a workout, if any."""
    settings = Settings.from_env()
    with redis.Redis.from_url(settings.redis_url) as client:
        name = client.get(keyspace.placement(settings.redis_prefix, wid))
    return name.decode() if name is not None else None


def _registered() -> int:
    """Workouts registered on a host of the warm pool."""
    settings = Settings.from_env()
    with redis.Redis.from_url(settings.redis_url) as client:
        keys = set(client.scan_iter(f"{settings.redis_prefix}:placement:*", count=1000))
    return sum(1 for key in keys if b":placement:spares:" not in key)


def _start(wid: uuid.UUID, started_at: int) -> str:
    return msgspec.json.encode({"type": "start", "workout_id": str(wid), "sport": "run",
                                "started_at": started_at}).decode()


async def _answer(ws: Any, frame: str) -> protocol.ServerFrame:
    """Send a frame, wait out the connection's frame budget if it says so, return the answer."""
    while True:
        await ws.send(frame)
        answer = _json.decode(await asyncio.wait_for(ws.recv(), 30))
        if not (isinstance(answer, protocol.Error) and answer.code == "rate_limited"):
            return answer
        await asyncio.sleep(1 / LIMITS.frames_per_s)  # one token's time


async def test_live_workouts_at_once_are_capped_before_any_actor_exists(
        production_gateway: Gateway, account, ray_connected) -> None:  # type: ignore[no-untyped-def]
    user, t0 = account(), int(time.time() * 1000)
    wids = [uuid.uuid4() for _ in range(QUOTAS.live_workouts + 1)]
    async with DeviceClient(production_gateway.ws_url, user.token) as device:
        for wid in wids[:-1]:
            await device.start(wid, "run", t0)
        refused = await device.send_frame(protocol.Start(workout_id=wids[-1], sport="run",
                                                         started_at=t0))
        assert isinstance(refused[0], protocol.Error) and refused[0].code == "too_many_workouts"
        assert f"workout:{wids[-1]}" not in ray_connected.util.list_named_actors()
        assert _host_of(wids[-1]) is None  # no spare host was taken for it either
        await device.finish(wids[0], t0 + 1000)  # one ends: there is room again
        assert (await device.start(wids[-1], "run", t0)).seq == -1


async def _bad_starts(gateway: Gateway, token: str, frames: list[str]) -> list[str]:
    async with websockets.connect(f"{gateway.ws_url}/v1/ingest",
                                  additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        codes = []
        for i, frame in enumerate(frames):
            if i >= LIMITS.frame_burst:  # within the connection's frame budget, like a device
                await asyncio.sleep(1.1 / LIMITS.frames_per_s)
            answer = await _answer(ws, frame)
            codes.append(answer.code if isinstance(answer, protocol.Error) else "ack")
        return codes


@pytest.mark.parametrize("placement", ["dedicated", "sharded"])
async def test_1000_bad_starts_leave_no_actor_behind(placement: str, production_gateway: Gateway,
                                                     sharded_gateway: Gateway, account,
                                                     ray_connected) -> None:  # type: ignore[no-untyped-def]
    """An absurd start time, one in the future, someone else's workout id, or one workout
    over the account's quota: 250 of each over 8 connections, all refused before an actor."""
    ray = ray_connected
    gateway = production_gateway if placement == "dedicated" else sharded_gateway
    owner, prowler = account(), account()
    now = int(time.time() * 1000)
    taken = uuid.uuid4()
    async with DeviceClient(gateway.ws_url, owner.token) as device:
        await device.start(taken, "run", now)
    async with DeviceClient(gateway.ws_url, prowler.token) as device:  # fill the prowler's quota
        for _ in range(QUOTAS.live_workouts):
            await device.start(uuid.uuid4(), "run", now)

    def hosts() -> list[Any]:
        return [ray.get_actor(name) for name in ray.util.list_named_actors()
                if name.startswith("workout-host:")]

    async def held() -> tuple[set[str], int, int]:
        # Spare hosts come and go with the warm pool; a start that took one registers it.
        named = {n for n in ray.util.list_named_actors() if not n.startswith("workout-spare:")}
        workouts = sum(await asyncio.gather(*(h.held.remote() for h in hosts())))
        return named, workouts, _registered()

    before = await held()
    kinds = [lambda: _start(uuid.uuid4(), 0),                      # 1970: no such workout
             lambda: _start(uuid.uuid4(), now + 3_600_000),        # an hour ahead
             lambda: _start(taken, now),                           # the owner's id
             lambda: _start(uuid.uuid4(), now)]                    # a fourth live workout
    frames = [kinds[i % 4]() for i in range(1000)]
    codes = await asyncio.gather(*(_bad_starts(gateway, prowler.token, frames[k::8])
                                   for k in range(8)))
    flat = [c for per in codes for c in per]
    assert len(flat) == 1000 and "ack" not in flat
    assert set(flat) == {"invalid", "time_in_future", "foreign_workout", "too_many_workouts"}
    after = await held()
    assert after[0] <= before[0], f"new actors: {sorted(after[0] - before[0])[:5]}"
    assert after[1] <= before[1], "workouts were left in the sharded hosts"
    assert after[2] <= before[2], "spare hosts were taken for refused starts"


async def test_bad_frames_draw_on_the_connections_budget_and_a_flood_is_closed(
        production_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    wid, t0 = uuid.uuid4(), int(time.time() * 1000)
    async with DeviceClient(production_gateway.ws_url, user.token) as device:
        ws = device._ws
        for _ in range(LIMITS.frame_burst):
            await ws.send("{not json")
        answers = [await ws.recv() for _ in range(LIMITS.frame_burst)]
        assert all('"malformed"' in a for a in answers)
        # The budget is spent: even a good frame now waits its turn.
        await ws.send(_start(wid, t0))
        assert '"rate_limited"' in await ws.recv()
        # Refusal after refusal: the connection is closed, not served for ever.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(LIMITS.max_refused_in_a_row + 10):
                await ws.send("{not json")
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_samples_are_counted_in_samples_with_a_separate_backlog_allowance(
        production_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    now = int(time.time() * 1000)
    live, old = uuid.uuid4(), uuid.uuid4()
    half = QUOTAS.live_samples_burst // 2

    def fixes(t0: int, n: int) -> list[Any]:
        return [(t0 + 10 * i, 45.0 + 1e-7 * i, 7.0, None, 140.0, None) for i in range(n)]  # 100 Hz

    async with DeviceClient(production_gateway.ws_url, user.token, rate_limit_wait_s=0) as device:
        await device.start(live, "run", now - 60_000)
        assert (await device.send_samples(live, 0, fixes(now - 60_000, half))).seq == half - 1
        assert (await device.send_samples(live, half, fixes(now - 50_000, half))).seq == 2 * half - 1
        # Two frames spent the burst: samples count, not frames.
        refused = await device.send_frame(protocol.Samples(
            workout_id=live, seq=2 * half, samples=fixes(now - 40_000, 100)))
        assert isinstance(refused[0], protocol.Error) and refused[0].code == "sample_rate_limited"
        # A device resending yesterday's buffer draws on the backlog allowance instead.
        await device.start(old, "run", now - 86_400_000)
        assert (await device.send_samples(old, 0, fixes(now - 86_400_000, 1000))).seq == 999


async def _open(url: str, token: str) -> tuple[Any, protocol.ServerFrame | None]:
    """A device socket, and the error frame it got at once if refused."""
    ws = await websockets.connect(f"{url}/v1/ingest",
                                  additional_headers={"Authorization": f"Bearer {token}"})
    try:
        first = await asyncio.wait_for(ws.recv(), 0.3)
    except TimeoutError:
        return ws, None
    return ws, _json.decode(first)


async def test_device_connections_are_capped_across_gateways(
        production_gateway: Gateway, second_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    opened = []
    try:
        for k in range(QUOTAS.device_connections):
            ws, refused = await _open((production_gateway, second_gateway)[k % 2].ws_url, user.token)
            assert refused is None
            opened.append(ws)
        for gateway in (production_gateway, second_gateway):
            ws, refused = await _open(gateway.ws_url, user.token)
            assert isinstance(refused, protocol.Error) and refused.code == "too_many_connections"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        await opened.pop().close()  # one closed: room again, on either gateway
        deadline = time.monotonic() + 5
        while True:
            ws, refused = await _open(production_gateway.ws_url, user.token)
            if refused is None:
                opened.append(ws)
                break
            assert time.monotonic() < deadline, "no room after closing a connection"
            await asyncio.sleep(0.1)  # until the gateway has seen the close (bounded)
    finally:
        for ws in opened:
            await ws.close()


async def test_live_feed_connections_are_capped(production_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    url = f"{production_gateway.ws_url}/v1/live?athlete={user.id}"
    feeds = [await websockets.connect(url, additional_headers=user.headers)
             for _ in range(QUOTAS.live_connections)]
    try:
        for feed in feeds:
            assert '"snapshot"' in await asyncio.wait_for(feed.recv(), 10)
        async with websockets.connect(url, additional_headers=user.headers) as extra:
            refused = msgspec.json.decode(await asyncio.wait_for(extra.recv(), 10))
            assert (refused["type"], refused["code"]) == ("error", "too_many_connections")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(extra.recv(), 5)
    finally:
        for feed in feeds:
            await feed.close()


def test_group_and_consent_changes_are_capped_per_minute(production_gateway: Gateway,
                                                         account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    with production_gateway.client() as http:
        made = [http.post("/v1/groups", headers=user.headers,
                          json={"name": f"club {i}", "sport": "run"}).status_code
                for i in range(QUOTAS.changes_per_min)]
        refused = http.post("/v1/groups", headers=user.headers, json={"name": "one more", "sport": "run"})
        consent = http.post("/v1/consents", headers=user.headers, json={"group_id": str(uuid.uuid4())})
    assert made == [201] * QUOTAS.changes_per_min
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_changes"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert consent.status_code == 429  # consents share the allowance


async def test_a_workout_id_stays_its_owners_after_its_snapshot_expires(
        stack: Settings, account, ray_connected) -> None:  # type: ignore[no-untyped-def]
    owner, other = account(), account()
    wid, t0 = uuid.uuid4(), int(time.time() * 1000) - 60_000
    async with DeviceClient(stack.gateway_ws_url, owner.token) as device:
        await device.start(wid, "run", t0)
        await device.send_samples(wid, 0, [(t0, 45.0, 7.0, None, 140.0, None)])
    async with DeviceClient(stack.gateway_ws_url, other.token) as device:
        answer = await device.send_frame(protocol.Start(workout_id=wid, sport="run", started_at=t0))
        assert isinstance(answer[0], protocol.Error) and answer[0].code == "foreign_workout"
    # The snapshot expires and the actor is gone: the id is still the owner's.
    import redis.asyncio as aioredis

    client = aioredis.from_url(stack.redis_url)
    await client.delete(f"{stack.redis_prefix}:workout:{wid}:snapshot")
    await client.aclose()
    ray = ray_connected
    host = _host_of(wid) or f"workout:{wid}"  # a spare from the warm pool, or its own
    ray.kill(ray.get_actor(host), no_restart=True)
    with redis.Redis.from_url(stack.redis_url) as client:
        client.delete(keyspace.placement(stack.redis_prefix, wid))
    async with DeviceClient(stack.gateway_ws_url, other.token) as device:
        answer = await device.send_frame(protocol.Start(workout_id=wid, sport="run", started_at=t0))
        assert isinstance(answer[0], protocol.Error) and answer[0].code == "foreign_workout"
    assert f"workout:{wid}" not in ray.util.list_named_actors() and _host_of(wid) is None
    with psycopg.connect(stack.pg_dsn) as conn:
        row = conn.execute("SELECT user_id FROM workout_ids WHERE id = %s", (wid,)).fetchone()
    assert row == (owner.id,)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        assert (await http.get(f"/v1/workouts/{wid}", headers=other.headers)).status_code == 404
