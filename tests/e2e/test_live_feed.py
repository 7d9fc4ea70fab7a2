"""The coach's live feed through the running stack: a snapshot then updates (positions, zones,
risk alerts, completion), a fresh snapshot on reconnect, a slow coach bounded and closed
without delaying another coach, a withdrawn consent dropping the athlete from a group feed,
heartbeats."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
import websockets

from gateway.client import DeviceClient
from stack.settings import Settings
from storage import keyspace

pytestmark = pytest.mark.e2e


async def coached_group(stack: Settings, account, http: httpx.AsyncClient,  # type: ignore[no-untyped-def]
                        names: list[str]) -> tuple[Any, list[Any], str, dict[str, str]]:
    """A coach and athletes (named) in a group, each athlete consenting; returns
    (coach, athletes, group id, consent id by athlete id)."""
    coach = account()
    athletes = [account(first_name=n, last_name="Test") for n in names]
    group = (await http.post("/v1/groups", headers=coach.headers,
                             json={"name": "Live feed", "sport": "run"})).json()["id"]
    consents = {}
    for athlete in athletes:
        added = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                json={"user_id": str(athlete.id), "role": "athlete"})
        assert added.status_code == 200 and added.json()["status"] == "added"
        consent = await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        consents[str(athlete.id)] = consent.json()["id"]
    return coach, athletes, group, consents


async def next_of(feed: Any, kind: str, timeout_s: float = 20.0, **match: Any) -> dict[str, Any]:
    """The next message of `kind` (and with `match`ing fields) on a feed, bounded in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} {match} within {timeout_s} s"
        message = msgspec.json.decode(await asyncio.wait_for(feed.recv(), left))
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


def feed_url(stack: Settings, group: str) -> str:
    return f"{stack.gateway_ws_url}/v1/live?group={group}"


def open_feed(stack: Settings, coach: Any, group: str) -> Any:
    """A coach's group feed, the token in the header (never in the URL)."""
    return websockets.connect(feed_url(stack, group), additional_headers=coach.headers)


async def test_snapshot_then_updates_alerts_completion_and_a_fresh_snapshot_on_reconnect(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        coach, (anna,), group, _ = await coached_group(stack, account, http, ["Anna"])
    workout = uuid.uuid4()
    t0 = int(time.time() * 1000) - 120_000
    async with open_feed(stack, coach, group) as feed:
        snapshot = await next_of(feed, "snapshot")
        assert snapshot["athletes"] == [{"athlete_id": str(anna.id), "name": "Anna Test"}]
        assert snapshot["workouts"] == []
        async with DeviceClient(stack.gateway_ws_url, anna.token) as device:
            await device.start(workout, "run", t0)
            started = await next_of(feed, "update", event="WorkoutStarted")
            assert started["workout_id"] == str(workout)
            # 40 s of SpO2 at 86 %: below 90 % for ≥ 30 s raises the risk level.
            for second in range(0, 60, 10):
                batch = [(t0 + (second + i) * 1000, 45.0 + (second + i) * 3e-5, 7.0, 300.0,
                          165.0, 97.0 if second + i < 20 else 86.0) for i in range(10)]
                await device.send_samples(workout, second, batch)
                await asyncio.sleep(0.3)  # paced, so live metrics go out on the way
            metrics = await next_of(feed, "update", event="WorkoutMetricsUpdated")
            assert metrics["lat"] is not None and metrics["lon"] == 7.0
            assert metrics["hr_zone"] in (3, 4, 5) and metrics["hr_bpm"] == 165.0
            alert = await next_of(feed, "alert")
            assert alert["workout_id"] == str(workout) and alert["level"] in ("moderate", "high")
            assert any("SpO2" in reason for reason in alert["reasons"])
            await device.finish(workout, t0 + 61_000)
        finished = await next_of(feed, "update", event="WorkoutCompleted")
        assert finished["summary"]["status"] == "finished"
    async with open_feed(stack, coach, group) as again:
        fresh = await next_of(again, "snapshot")
        [shown] = fresh["workouts"]
        assert shown["workout_id"] == str(workout) and shown["summary"]["status"] == "finished"
        assert shown["summary"]["last_seq"] == 59


def live_send_timeout_s() -> float:
    from gateway.live import SEND_TIMEOUT_S

    return SEND_TIMEOUT_S


class StalledCoach:
    """A coach on a link that stops taking data: a raw socket with a tiny receive window
    that does the WebSocket handshake and then reads nothing until told to."""

    def __init__(self, url: str, token: str) -> None:
        host_port, path = url.split("://", 1)[1].split("/", 1)
        host, port = host_port.split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
                           f"Authorization: Bearer {token}\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: c3RyaWRlLXRlc3Qta2V5IQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buffer = b""

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed without a close frame")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def read_until_close(self, timeout_s: float) -> tuple[int, int]:
        """(messages read, close code) once the server's close frame arrives."""
        self.sock.settimeout(timeout_s)
        messages = 0
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            payload = self._read(length)
            if first & 0x0F == 0x8:  # close
                return messages, int.from_bytes(payload[:2], "big")
            messages += 1


async def test_a_slow_coach_is_bounded_and_closed_without_delaying_another(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        coach, (bo,), group, _ = await coached_group(stack, account, http, ["Bo"])
        other_coach = account()
        invited = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                  json={"user_id": str(other_coach.id), "role": "coach"})
        accepted = await http.post(f"/v1/invitations/{invited.json()['invitation_id']}/accept",
                                   headers=other_coach.headers)
        assert accepted.status_code == 200, accepted.text
    redis = aioredis.from_url(stack.redis_url)
    channel = keyspace.live_athlete(stack.redis_prefix, bo.id)
    slow = await asyncio.to_thread(StalledCoach, feed_url(stack, group), coach.token)
    fast = await open_feed(stack, other_coach, group)
    try:
        await next_of(fast, "snapshot")
        padding = "x" * 4000
        # 10 MB of updates for 2,500 workouts in 25 bursts: the fast coach keeps up, the
        # slow one (reading nothing) fills its link and its outbox, and must hold no one up.
        for burst in range(25):
            async with redis.pipeline(transaction=False) as pipe:
                for k in range(100):
                    pipe.publish(channel, msgspec.json.encode({
                        "type": "update", "event": "WorkoutMetricsUpdated",
                        "workout_id": f"w{burst}-{k}", "athlete_id": str(bo.id),
                        "summary": {"status": "active"}, "padding": padding}))
                await pipe.execute()
            await asyncio.sleep(0.05)  # bursts 50 ms apart
        sent = time.monotonic()
        await redis.publish(channel, msgspec.json.encode({
            "type": "update", "event": "WorkoutMetricsUpdated", "workout_id": "marker",
            "athlete_id": str(bo.id), "summary": {"status": "active"}}))
        await next_of(fast, "update", timeout_s=10, workout_id="marker")
        assert time.monotonic() - sent < 3.0, "the fast coach waited on the slow one"
        # The stalled coach's link and outbox filled up; its sends blocked for longer than
        # the send timeout, so it was closed with 1013 (reconnect for a fresh snapshot): the
        # close frame comes after what its link already held, once it reads again.
        await asyncio.sleep(live_send_timeout_s() + 3)  # the link stays stalled
        messages, code = await asyncio.to_thread(slow.read_until_close, 30)
        assert code == 1013
        assert messages < 2500, "nothing was held back from the stalled coach"
        assert fast.state.name == "OPEN"
    finally:
        slow.sock.close()
        await fast.close()
        await redis.aclose()


async def test_a_withdrawn_consent_drops_the_athlete_from_the_group_feed(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        coach, (cy, di), group, consents = await coached_group(stack, account, http, ["Cy", "Di"])
        redis = aioredis.from_url(stack.redis_url)
        try:
            async with open_feed(stack, coach, group) as feed:
                snapshot = await next_of(feed, "snapshot")
                assert {a["name"] for a in snapshot["athletes"]} == {"Cy Test", "Di Test"}
                withdrawn = await http.delete(f"/v1/consents/{consents[str(cy.id)]}",
                                              headers=cy.headers)
                assert withdrawn.status_code == 204
                athletes = await next_of(feed, "athletes", timeout_s=5)
                assert athletes["athletes"] == [{"athlete_id": str(di.id), "name": "Di Test"}]
                for who in (cy, di):
                    await redis.publish(keyspace.live_athlete(stack.redis_prefix, who.id),
                                        msgspec.json.encode({
                                            "type": "update", "workout_id": str(uuid.uuid4()),
                                            "athlete_id": str(who.id), "summary": {}}))
                update = await next_of(feed, "update", timeout_s=5)
                assert update["athlete_id"] == str(di.id)  # Cy's never came
                heartbeat = await next_of(feed, "heartbeat", timeout_s=15)
                assert heartbeat["t_ms"] > 0
        finally:
            await redis.aclose()
