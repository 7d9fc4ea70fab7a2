"""`WS /v1/live?athlete=…` or `?group=…`: a coach's live feed — a snapshot, then updates.

Updates come from Redis pub/sub (one channel per athlete, fed by the stream worker). Who
may watch is decided when the feed opens and again whenever access changes (AccessWatch):
a withdrawn consent, a logout or an ended session closes the feed at once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from litestar import WebSocket, websocket

from gateway.access import PUBLIC, may_see_athlete, sees_health_data
from gateway.access_watch import POLICY_VIOLATION, Watched
from gateway.auth import Principal, bearer_token
from storage import groups as groups_repo
from storage import workouts as workouts_repo
from streams.live import athlete_channel

HEALTH_FIELDS = ("hr_bpm", "hr_zone", "spo2_pct", "avg_hr", "max_hr", "min_spo2", "hr_zone_s", "trimp",
                 "trimp_edwards", "calories_kcal", "calories_method", "spo2_low_alert", "risk",
                 "splits")


async def _allowed_athletes(conn: Any, principal: Principal, athlete: uuid.UUID | None,
                            group: uuid.UUID | None) -> set[uuid.UUID] | None:
    """The athletes this feed may show, or None when it must not open (404-like)."""
    if athlete is not None:
        return {athlete} if await may_see_athlete(conn, principal, athlete) else None
    if group is not None:
        role = await groups_repo.role_in_group(conn, principal.user_id, group)
        if role != "coach" and "admin" not in principal.roles:
            return None
        return await groups_repo.consenting_athletes(conn, group)
    return None


def _strip_health(payload: dict[str, Any]) -> dict[str, Any]:
    for key in HEALTH_FIELDS:
        payload.pop(key, None)
        if isinstance(payload.get("summary"), dict):
            payload["summary"].pop(key, None)
    return payload


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@websocket("/v1/live", opt=PUBLIC)  # authenticates and authorizes itself before accepting
async def live(socket: WebSocket) -> None:
    state = socket.app.state
    token = bearer_token(socket.headers, socket.query_params)
    principal = await state.auth.authenticate(token)
    athlete = _parse_uuid(socket.query_params.get("athlete"))
    group = _parse_uuid(socket.query_params.get("group"))
    allowed = None
    if principal is not None:
        async with state.pool.connection() as conn:
            allowed = await _allowed_athletes(conn, principal, athlete, group)
    if principal is None or allowed is None:
        await socket.close(code=POLICY_VIOLATION, reason="no such feed for this token")
        return
    await socket.accept(subprotocols="stride.v1.json"
                        if "stride.v1.json" in socket.headers.get("sec-websocket-protocol", "")
                        else None)
    health = sees_health_data(principal)
    prefix = state.redis_prefix

    async with state.redis.pubsub() as pubsub:
        async def follow(athletes: set[uuid.UUID]) -> None:
            gone = watched.athletes - athletes
            if gone:
                await pubsub.unsubscribe(*(athlete_channel(prefix, a) for a in gone))
            if athletes:
                await pubsub.subscribe(*(athlete_channel(prefix, a) for a in athletes))
            watched.athletes = set(athletes)

        async def still_allowed() -> bool:
            current = await state.auth.authenticate(token)
            if current is None:
                return False
            async with state.pool.connection() as conn:
                now_allowed = await _allowed_athletes(conn, current, athlete, group)
            if now_allowed is None or (athlete is not None and not now_allowed):
                return False
            await follow(now_allowed)
            return True

        watched = Watched(principal, still_allowed, lambda code, why: socket.close(code, why))
        await follow(allowed)
        state.access_watch.register(watched)
        try:
            await _snapshot(socket, state, allowed, health)
            await _forward(socket, pubsub, health)
        finally:
            state.access_watch.unregister(watched)


async def _snapshot(socket: WebSocket, state: Any, athletes: set[uuid.UUID], health: bool) -> None:
    async with state.pool.connection() as conn:
        rows = [r for a in athletes for r in await workouts_repo.list_workouts(conn, a, 20)
                if r.summary.status != "finished"]
    workouts = []
    for row in rows:
        item = {"workout_id": str(row.id), "athlete_id": str(row.user_id),
                "summary": msgspec.to_builtins(row.summary)}
        workouts.append(item if health else _strip_health(item))
    await socket.send_data(msgspec.json.encode({"type": "snapshot", "workouts": workouts}))


async def _forward(socket: WebSocket, pubsub: Any, health: bool) -> None:
    closed = asyncio.Event()

    async def watch_client() -> None:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                closed.set()
                return

    reader = asyncio.create_task(watch_client())
    try:
        while not closed.is_set() and socket.connection_state != "disconnect":
            if not pubsub.subscribed:  # nobody to show yet (e.g. no consents in the group)
                try:
                    await asyncio.wait_for(closed.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                continue
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                continue
            payload = msgspec.json.decode(msg["data"])
            await socket.send_data(msgspec.json.encode(payload if health else _strip_health(payload)))
    except Exception:  # the socket was closed under us (access ended, or the coach left)
        return
    finally:
        reader.cancel()
