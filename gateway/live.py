"""`WS /v1/live?athlete=…` or `?group=…`: a coach's live feed — a snapshot, then updates.

The token comes in the `Authorization` header or, from a browser (which cannot set headers
on a WebSocket), in a first frame `{"type": "auth", "token": …}` — never from the URL, which
ends up in logs. A browser's `Origin` must be allowed, as on the device socket; each
account holds a bounded number of feeds (gateway/quotas.py). A refusal after the
handshake is an `error` frame with a `code`, then close 1008.

Server → client, JSON text frames:
- `snapshot`: `athletes` [{athlete_id, name}] the feed shows, and `workouts`: each visible
  workout that is live or finished within the last 30 minutes, with its newest live update;
  sent first, and again after the gateway lost Redis for a while;
- `update`: a workout event (`event`: WorkoutMetricsUpdated ~1 Hz, WorkoutStarted, …Paused,
  …Resumed, …Completed) with the summary and, for metrics, the live readings;
- `alert`: a risk alert as it happens (level, reasons);
- `athletes`: the athletes shown changed (a consent was granted or withdrawn);
- `heartbeat`: after 10 s without anything else.

Updates come through the process's one Redis subscription (`LiveHub`). Each feed has a
bounded outbox that keeps only the newest update of each workout (alerts and control
messages queue), `MAX_QUEUED_BYTES` in all: a slow coach sees fewer intermediate values,
never an older one, and never slows another coach. A coach too slow even for that (a send
blocked for `SEND_TIMEOUT_S`, or the outbox full) is closed with 1013 — the close frame
follows what the link already holds — and reconnects for a fresh snapshot. Who may watch
is decided when the feed opens and again whenever access changes, and every few seconds
regardless (AccessWatch): a withdrawn consent, a logout or an ended session closes it
(1008), or for a group feed drops that athlete. Health fields go out only as
privacy/health.py allows; a feed that shows another athlete's health data is logged in
their access log once per feed and athlete (storage/access_log.py), not per update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from typing import Any

import msgspec
from litestar import WebSocket, websocket

from gateway.access import PUBLIC, may_watch_live, viewer_role
from gateway.access_watch import POLICY_VIOLATION, Watched
from gateway.auth import Principal, bearer_token
from gateway.live_hub import Listener
from gateway.quotas import QuotaGuard, Refused
from privacy import health
from storage import access_log, consents, keyspace
from storage import groups as groups_repo
from storage import workouts as workouts_repo
from streams import live as live_states

log = logging.getLogger("stride.live")

TRY_AGAIN_LATER = 1013
SEND_TIMEOUT_S = 5.0
CLOSE_WAIT_S = 30.0
HEARTBEAT_S = 10.0
MAX_QUEUED_BYTES = 4 * 2**20
"""What may wait for one coach: a group of 50 live workouts needs about 75 KiB."""
RECENTLY_FINISHED = consents.LIVE_AFTERGLOW
AUTH_TIMEOUT_S = 10.0
"""A browser (which cannot set headers on a WebSocket) sends its token in the first frame."""


async def _allowed_athletes(conn: Any, principal: Principal, athlete: uuid.UUID | None,
                            group: uuid.UUID | None) -> set[uuid.UUID] | None:
    """The athletes this feed may show, or None when it must not open (404-like)."""
    if athlete is not None:
        return {athlete} if await may_watch_live(conn, principal, athlete) else None
    if group is not None:
        role = await groups_repo.role_in_group(conn, principal.user_id, group)
        if role != "coach" and "admin" not in principal.roles:
            return None
        return await consents.consenting(conn, group)
    return None


def _sees_health(principal: Principal, athlete: uuid.UUID | None) -> bool:
    return athlete == principal.user_id or health.may_receive(principal.roles)


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class Outbox:
    """What waits to be sent on one feed: control messages and alerts in order, then the
    newest update of each workout (in the order the workouts first queued). At most
    `max_bytes` wait; beyond that the coach is too slow (`overflowed`)."""

    def __init__(self, max_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.latest: dict[str, bytes] = {}
        self.control: deque[bytes] = deque()
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.overflowed = False
        self.ready = asyncio.Event()

    def update(self, workout_id: str, data: bytes) -> None:
        older = self.latest.get(workout_id)
        self.latest[workout_id] = data  # replaces a queued older one in place
        self._queued(len(data) - (len(older) if older is not None else 0))

    def put(self, data: bytes) -> None:
        self.control.append(data)
        self._queued(len(data))

    def _queued(self, size: int) -> None:
        self.queued_bytes += size
        if self.queued_bytes > self.max_bytes:
            self.overflowed = True
        self.ready.set()

    def clear_updates(self) -> None:
        self.queued_bytes -= sum(len(d) for d in self.latest.values())
        self.latest.clear()

    def take(self) -> bytes | None:
        if self.control:
            data = self.control.popleft()
        elif self.latest:
            data = self.latest.pop(next(iter(self.latest)))
        else:
            self.ready.clear()
            return None
        self.queued_bytes -= len(data)
        return data


class Feed:
    """One coach's connection: its athletes, its outbox and its writer."""

    def __init__(self, socket: WebSocket, principal: Principal, athletes: set[uuid.UUID],
                 group: uuid.UUID | None) -> None:
        self.socket = socket
        self.state = socket.app.state
        self.principal = principal
        self.health = _sees_health(principal, None)
        self.group = group
        self.athletes = set(athletes)
        self._shown = {str(a) for a in athletes}
        self.outbox = Outbox()
        self.listener = Listener(self.deliver, self.resync)
        self.closing: tuple[int, str] | None = None
        self.watched: Watched | None = None
        self.logged: set[uuid.UUID] = set()
        """Athletes whose health data this feed has shown (each logged once)."""
        self._resyncs: set[asyncio.Future[None]] = set()

    # -- from the hub (never blocks) --

    def deliver(self, payload: dict[str, Any], raw: bytes) -> None:
        if payload.get("athlete_id") not in self._shown:
            return  # in flight while the athlete was being dropped
        kind = payload.get("type")
        if kind == "alert":
            if self.health:  # risk flags are health data
                self.outbox.put(raw)
            return
        data = raw if self.health else msgspec.json.encode(health.redact_payload(payload))
        self.outbox.update(str(payload.get("workout_id")), data)

    def resync(self) -> None:
        task = asyncio.ensure_future(self.send_snapshot())
        self._resyncs.add(task)  # held until done (the loop keeps only weak references)
        task.add_done_callback(self._resyncs.discard)

    # -- athletes --

    def channels(self, athletes: set[uuid.UUID]) -> set[str]:
        prefix = self.state.redis_prefix
        return {keyspace.live_athlete(prefix, a) for a in athletes}

    async def follow(self, athletes: set[uuid.UUID]) -> None:
        gone, new = self.athletes - athletes, athletes - self.athletes
        hub = self.state.live_hub
        if gone:
            await hub.remove(self.listener, self.channels(gone))
        self.athletes = set(athletes)
        self._shown = {str(a) for a in athletes}
        if self.watched is not None:
            self.watched.athletes = self.athletes
        if new:
            await hub.add(self.listener, self.channels(new))
            self.log_reads()
        if gone or new:
            async with self.state.pool.connection() as conn:
                names = await groups_repo.athlete_names(conn, self.athletes)
            self.outbox.put(msgspec.json.encode({"type": "athletes", "athletes": [
                {"athlete_id": str(a), "name": names.get(a, "Athlete")} for a in self.athletes]}))

    def log_reads(self) -> None:
        """Log the athletes whose health data this feed now shows, once each per feed."""
        if not self.health:
            return
        for athlete in self.athletes - self.logged - {self.principal.user_id}:
            self.state.access_log.add(access_log.Read(
                viewer_id=self.principal.user_id, viewer_role=viewer_role(self.principal),
                subject_id=athlete, what="live", via="live"))
            self.logged.add(athlete)

    # -- snapshot --

    async def send_snapshot(self) -> None:
        state = self.state
        async with state.pool.connection() as conn:
            names = await groups_repo.athlete_names(conn, self.athletes)
            rows = await workouts_repo.live_or_recent(conn, self.athletes, RECENTLY_FINISHED)
        newest_states = await live_states.read_states(state.redis, state.redis_prefix,
                                                      [r[0] for r in rows], state.data_keys)
        workouts = []
        for (workout_id, athlete_id, summary), newest in zip(rows, newest_states, strict=True):
            item = newest if newest is not None else {
                "type": "update", "workout_id": str(workout_id), "athlete_id": str(athlete_id),
                "summary": msgspec.json.decode(summary)}
            workouts.append(item if self.health else health.redact_payload(item))
        self.outbox.clear_updates()  # the snapshot supersedes them
        self.outbox.put(msgspec.json.encode({
            "type": "snapshot",
            "athletes": [{"athlete_id": str(a), "name": names.get(a, "Athlete")}
                         for a in sorted(self.athletes)],
            "workouts": workouts}))

    # -- writer --

    async def write(self) -> None:
        """Send what the outbox holds; a heartbeat when idle; close a coach too slow."""
        last_sent = time.monotonic()
        while self.closing is None:
            data = self.outbox.take()
            if data is None:
                idle = HEARTBEAT_S - (time.monotonic() - last_sent)
                if idle > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.outbox.ready.wait(), idle)
                    continue
                data = msgspec.json.encode({"type": "heartbeat",
                                            "t_ms": int(time.time() * 1000)})
            if self.outbox.overflowed:
                self.closing = (TRY_AGAIN_LATER, "too slow: reconnect for a fresh snapshot")
                break
            try:
                await asyncio.wait_for(self.socket.send_data(data, mode="text"), SEND_TIMEOUT_S)
            except TimeoutError:
                self.closing = (TRY_AGAIN_LATER, "too slow: reconnect for a fresh snapshot")
                break
            last_sent = time.monotonic()
        if self.closing is not None:
            # The close frame queues behind what the link already holds: it goes out as soon
            # as the coach reads again, and the connection is dropped if it never does.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(*self.closing), CLOSE_WAIT_S)


async def _authenticate(socket: WebSocket) -> tuple[Principal | None, str | None]:
    """From the `Authorization` header; without one (browsers cannot set it), from a first
    frame `{"type": "auth", "token": …}` within AUTH_TIMEOUT_S. Never from the URL."""
    auth = socket.app.state.auth
    token = bearer_token(socket.headers)
    if token is not None:
        return await auth.authenticate(token), token
    try:
        first = await asyncio.wait_for(socket.receive_data(mode="text"), AUTH_TIMEOUT_S)
    except TimeoutError:
        await _refuse(socket, "auth_timeout", f"send {{\"type\": \"auth\", \"token\": …}} "
                      f"within {AUTH_TIMEOUT_S:g} s")
        return None, None
    try:
        message = msgspec.json.decode(first)
        token = message.get("token") if isinstance(message, dict) and message.get("type") == "auth" \
            else None
    except msgspec.DecodeError:
        token = None
    if not isinstance(token, str):
        token = None
    principal = await auth.authenticate(token)
    if principal is None:
        await _refuse(socket, "unauthorized", "the first frame must be {\"type\": \"auth\", "
                      "\"token\": …} with a valid token")
    return principal, token


async def _refuse(socket: WebSocket, code: str, message: str) -> None:
    with contextlib.suppress(Exception):
        await socket.send_data(msgspec.json.encode({"type": "error", "code": code,
                                                    "message": message}), mode="text")
        await socket.close(code=POLICY_VIOLATION, reason=code)


@websocket("/v1/live", opt=PUBLIC)  # authenticates and authorizes itself
async def live(socket: WebSocket) -> None:
    state = socket.app.state
    origin = socket.headers.get("origin")
    if origin is not None and origin not in state.allowed_origins:
        await socket.close(code=POLICY_VIOLATION, reason=f"origin {origin} is not allowed")
        return
    athlete = _parse_uuid(socket.query_params.get("athlete"))
    group = _parse_uuid(socket.query_params.get("group"))
    header = bearer_token(socket.headers) is not None
    if header:
        principal, token = await _authenticate(socket)
        if principal is None:
            await socket.close(code=POLICY_VIOLATION, reason="missing, expired or revoked token")
            return
    else:
        await socket.accept(subprotocols=_subprotocol(socket))
        principal, token = await _authenticate(socket)
        if principal is None:
            return
    assert principal is not None
    allowed = None
    if principal.kind != "device":  # a device token opens the device socket only
        async with state.pool.connection() as conn:
            allowed = await _allowed_athletes(conn, principal, athlete, group)
    if allowed is None:
        if header:
            await socket.close(code=POLICY_VIOLATION, reason="no such feed for this token")
        else:
            await _refuse(socket, "not_found", "no such feed for this token")
        return
    if header:
        await socket.accept(subprotocols=_subprotocol(socket))
    connection = uuid.uuid4()
    quotas: QuotaGuard = state.quotas
    try:
        await quotas.open_connection("live", principal.user_id, connection)
    except Refused as exc:
        await _refuse(socket, exc.code, exc.message)
        return
    except Exception:  # Redis away: no live updates could flow either
        log.warning("connection quota not checked (Redis away?)", exc_info=True)
        await _refuse(socket, "unavailable", "the live feed is unavailable; reconnect shortly")
        return
    try:
        await _watch(socket, principal, token, athlete, group, allowed, connection)
    finally:
        with contextlib.suppress(Exception):  # its slot lapses by itself if Redis is away
            await quotas.close_connection("live", principal.user_id, connection)


def _subprotocol(socket: WebSocket) -> str | None:
    return "stride.v1.json" if "stride.v1.json" in socket.headers.get("sec-websocket-protocol", "") \
        else None


async def _watch(socket: WebSocket, principal: Principal, token: str | None, athlete: uuid.UUID | None,
                 group: uuid.UUID | None, allowed: set[uuid.UUID], connection: uuid.UUID) -> None:
    state = socket.app.state
    feed = Feed(socket, principal, set(), group)
    feed.health = _sees_health(principal, athlete)

    async def still_allowed() -> bool:
        current = await state.auth.authenticate(token)
        if current is None or current.kind == "device":
            return False
        async with state.pool.connection() as conn:
            now_allowed = await _allowed_athletes(conn, current, athlete, group)
        if now_allowed is None or (athlete is not None and not now_allowed):
            return False
        feed.health = _sees_health(current, athlete)  # a role granted or revoked since
        await feed.follow(now_allowed)
        feed.log_reads()
        return True

    async def close(code: int, reason: str) -> None:
        feed.closing = (code, reason)
        feed.outbox.ready.set()
        await socket.close(code, reason)

    watched = Watched(principal, still_allowed, close, group=group, feed=True)
    watched.slots.add(("connections:live", principal.user_id, connection))
    feed.watched = watched
    await feed.follow(allowed)
    feed.outbox.control.clear()  # the snapshot below names the athletes
    state.access_watch.register(watched)
    writer = asyncio.create_task(feed.write())
    try:
        await feed.send_snapshot()
        while not writer.done():
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
    except Exception:  # the socket was closed under us (access ended, or the coach left)
        log.debug("live feed ended", exc_info=True)
    finally:
        state.access_watch.unregister(watched)
        await state.live_hub.remove(feed.listener, feed.channels(feed.athletes))
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
