"""`WS /v1/ingest`: device frames in, acks and error frames out (DESIGN, Device protocol)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from operator import itemgetter
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from actors.placement import Placement
from actors.shell import AthleteContext, Reply
from gateway import protocol
from gateway.access import PUBLIC
from gateway.access_watch import Watched
from gateway.auth import Principal, bearer_token
from gateway.protocol import Ack, Codec, Error, FrameError
from storage import athletes

log = logging.getLogger("stride.ingest")

WS_POLICY_VIOLATION = 1008
WS_MESSAGE_TOO_BIG = 1009
ACTOR_CALL_TIMEOUT_S = 30.0


class IngestLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one device connection may do. Over a limit the device gets an error frame and
    the stream goes on, or — when it cannot — a close with the RFC 6455 code (1008 policy,
    1009 too big)."""

    max_frame_bytes: int = 64 * 1024
    """A larger frame closes the connection with 1009."""
    max_samples_per_batch: int = protocol.MAX_SAMPLES_PER_BATCH
    frames_per_s: float = 20.0
    """Sustained frames a second per connection (a token bucket) …"""
    frame_burst: int = 40
    """… and how many may come at once (a device resending its backlog after a reconnect)."""
    max_connections_per_user: int = 8
    """Open device connections per account, in one gateway process."""
    max_future_ms: int = 5 * 60 * 1000
    """How far ahead of the gateway's clock a sample's time may be."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed besides the gateway's own (clients that send no Origin
    header, like watches and phone apps, are not affected)."""


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class Connections:
    """Open device connections per account in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[uuid.UUID, int] = {}

    def try_open(self, user_id: uuid.UUID) -> bool:
        if self._open.get(user_id, 0) >= self.limit:
            return False
        self._open[user_id] = self._open.get(user_id, 0) + 1
        return True

    def close(self, user_id: uuid.UUID) -> None:
        left = self._open.get(user_id, 0) - 1
        if left > 0:
            self._open[user_id] = left
        else:
            self._open.pop(user_id, None)


class TooBig(Exception):
    """A frame over the size limit: the connection closes with 1009."""


def choose_subprotocol(header: str | None) -> str | None:
    """The first subprotocol the client offers that we speak; JSON when it offers none."""
    if not header:
        return protocol.JSON
    for offered in (p.strip() for p in header.split(",")):
        if offered in protocol.SUBPROTOCOLS:
            return offered
    return None


class IngestSession:
    """One device connection: which workouts it started, and how to reach their actors."""

    def __init__(self, principal: Principal, codec: Codec, placement: Placement, pool: Any,
                 limits: IngestLimits | None = None) -> None:
        self.principal = principal
        self.pool = pool
        self.codec = codec
        self.placement = placement
        self.limits = limits or IngestLimits()
        self.started: set[uuid.UUID] = set()
        self.finished: dict[uuid.UUID, int] = {}
        """Workouts finished on this connection, with their final ack."""
        self._bucket = TokenBucket(self.limits.frames_per_s, self.limits.frame_burst)
        self._newest: dict[uuid.UUID, tuple[int, int]] = {}
        """Per workout, (seq, t_ms) of the newest sample acked on this connection."""

    async def handle(self, data: bytes | str) -> list[protocol.ServerFrame]:
        """The answer to one frame. Raises TooBig for a frame over the size limit."""
        if len(data) > self.limits.max_frame_bytes:
            raise TooBig(f"frame of {len(data)} bytes; the limit is {self.limits.max_frame_bytes}")
        try:
            frame = self.codec.decode(data)
        except FrameError as exc:
            return [exc.error]
        if not self._bucket.take():
            return [Error(code="rate_limited", workout_id=frame.workout_id,
                          seq=getattr(frame, "seq", None),
                          message=f"more than {self.limits.frames_per_s:g} frames a second; "
                                  "nothing of this frame was applied: send it again, slower")]
        if isinstance(frame, protocol.Samples) and (refused := self._check_times(frame)):
            return [refused]
        try:
            return await self._dispatch(frame)
        except Exception:  # Ray or the actor unreachable, or a call timed out
            log.exception("actor call failed for workout %s", frame.workout_id)
            # The actor may have been ended by another gateway (finish) or lost with its node.
            self.placement.forget(frame.workout_id)
            return [Error(code="unavailable", workout_id=frame.workout_id,
                          seq=getattr(frame, "seq", None),
                          message="the workout service is unavailable; keep the samples "
                                  "and resend after reconnecting")]

    async def _dispatch(self, frame: protocol.ClientFrame) -> list[protocol.ServerFrame]:
        wid = frame.workout_id
        user = str(self.principal.user_id)
        if isinstance(frame, protocol.Start):
            actor = await asyncio.to_thread(self.placement.handle, wid)
            athlete = await self._athlete(frame.started_at)
            reply = await self._call(
                actor.start.remote(str(wid), user, frame.sport, frame.started_at, athlete))
            if reply.error_code is None:
                self.started.add(wid)
            return self._answer(wid, reply, None)
        if wid in self.finished:
            if isinstance(frame, protocol.Finish):  # a resend: the device missed our ack
                return [Ack(workout_id=wid, seq=self.finished[wid])]
            return [Error(code="workout_finished", workout_id=wid, seq=getattr(frame, "seq", None),
                          message="the workout is finished; no more samples or changes")]
        if wid not in self.started:
            return [Error(code="not_started", workout_id=wid, seq=getattr(frame, "seq", None),
                          message="send `start` for this workout on this connection first")]
        if isinstance(frame, protocol.Samples):
            calls = await asyncio.to_thread(self.placement.calls, wid)
            reply = await self._call(calls.samples(str(wid), user, frame.seq, frame.samples))
            self._acked(frame, reply.acked_seq)
            return self._answer(wid, reply, frame.seq)
        actor = await asyncio.to_thread(self.placement.handle, wid)
        action = {protocol.Pause: "pause", protocol.Resume: "resume", protocol.Finish: "finish"}
        reply = await self._call(actor.control.remote(str(wid), user, action[type(frame)], frame.at))
        if reply.error_code is None and reply.status == "finished":
            await asyncio.to_thread(self.placement.release, wid)
            self.started.discard(wid)
            self.finished[wid] = reply.acked_seq
        return self._answer(wid, reply, None)

    def _check_times(self, frame: protocol.Samples) -> Error | None:
        """Batch size and sample times: not far ahead of our clock, never going back.
        Samples the device resends (already acked here) are not judged again."""
        limits, n = self.limits, len(frame.samples)
        if n > limits.max_samples_per_batch:
            return Error(code="batch_too_large", workout_id=frame.workout_id, seq=frame.seq,
                         message=f"{n} samples in one frame; send at most "
                                 f"{limits.max_samples_per_batch} per frame")
        times = list(map(itemgetter(0), frame.samples))
        newest_seq, newest_t = self._newest.get(frame.workout_id, (-1, -1))
        previous = newest_t if frame.seq > newest_seq else -1
        latest_allowed = int(time.time() * 1000) + limits.max_future_ms
        if max(times) > latest_allowed:  # the loops below run only to name the culprit
            i = next(i for i, t in enumerate(times) if t > latest_allowed)
            return Error(code="time_in_future", workout_id=frame.workout_id, seq=frame.seq + i,
                         message=f"sample time {times[i]} is more than {limits.max_future_ms // 1000}"
                                 " s ahead of the server clock; check the device clock")
        if times[0] < previous or times != sorted(times):
            pairs = zip([previous, *times], times, strict=False)
            i = next(i for i, (a, b) in enumerate(pairs) if b < a)
            return Error(code="time_backwards", workout_id=frame.workout_id, seq=frame.seq + i,
                         message=f"sample time {times[i]} is before the one sent before it; "
                                 "times must not decrease")
        return None

    def _acked(self, frame: protocol.Samples, acked_seq: int) -> None:
        last = frame.seq + len(frame.samples) - 1
        if acked_seq >= last:
            self._newest[frame.workout_id] = (last, frame.samples[-1][0])

    async def _athlete(self, started_at_ms: int) -> AthleteContext:
        """The profile and load history the workout's metrics and risk need."""
        day = dt.datetime.fromtimestamp(started_at_ms / 1000, tz=dt.UTC).date()
        async with self.pool.connection() as conn:
            profile = await athletes.profile_of(conn, self.principal.user_id, day)
            history = await athletes.daily_loads(conn, self.principal.user_id, day)
        return AthleteContext(profile=profile, load_history=history)

    async def _call(self, ref: Any) -> Reply:
        reply: Reply = await asyncio.wait_for(ref, ACTOR_CALL_TIMEOUT_S)
        return reply

    def _answer(self, wid: uuid.UUID, reply: Reply, seq: int | None) -> list[protocol.ServerFrame]:
        ack = Ack(workout_id=wid, seq=reply.acked_seq)
        if reply.error_code is None:
            return [ack]
        error = Error(code=reply.error_code, message=reply.message, seq=seq, workout_id=wid)
        # After a gap or an outage the device needs to know where to resend from.
        return [error, ack] if reply.error_code in ("seq_gap", "unavailable") else [error]


@websocket("/v1/ingest", opt=PUBLIC)  # authenticates itself, before accepting the upgrade
async def ingest(socket: WebSocket) -> None:
    state = socket.app.state
    limits: IngestLimits = state.ingest_limits
    origin = socket.headers.get("origin")
    if origin is not None and origin not in state.allowed_origins:
        await socket.close(code=WS_POLICY_VIOLATION, reason=f"origin {origin} is not allowed")
        return
    token = bearer_token(socket.headers, socket.query_params)
    principal = await state.auth.authenticate(token)
    if principal is None:
        await socket.close(code=WS_POLICY_VIOLATION, reason="missing, expired or revoked token")
        return
    subprotocol = choose_subprotocol(socket.headers.get("sec-websocket-protocol"))
    if subprotocol is None:
        await socket.close(code=WS_POLICY_VIOLATION, reason="unsupported subprotocol")
        return
    connections: Connections = state.device_connections
    if not connections.try_open(principal.user_id):
        await socket.close(code=WS_POLICY_VIOLATION,
                           reason=f"already {connections.limit} device connections for this "
                                  "account; close one first")
        return
    try:
        await _serve(socket, state, principal, token, subprotocol, limits)
    finally:
        connections.close(principal.user_id)


async def _serve(socket: WebSocket, state: Any, principal: Principal, token: str | None,
                 subprotocol: str, limits: IngestLimits) -> None:
    # A client that offered no subprotocol gets JSON, and no subprotocol in the answer.
    offered = bool(socket.headers.get("sec-websocket-protocol"))
    await socket.accept(subprotocols=subprotocol if offered else None)
    codec = protocol.CODECS[subprotocol]
    session = IngestSession(principal, codec, state.placement, state.pool, limits)
    mode = "binary" if codec.binary else "text"

    async def still_allowed() -> bool:
        return await state.auth.authenticate(token) is not None

    watched = Watched(principal, still_allowed, lambda code, why: socket.close(code, why))
    state.access_watch.register(watched)
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or message.get("text") or b""
            try:
                answers = await session.handle(data)
            except TooBig as exc:
                await socket.close(code=WS_MESSAGE_TOO_BIG, reason=str(exc))
                return
            for out in answers:
                await socket.send_data(codec.encode(out), mode=mode)
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: closed by the access watch
        return
    finally:
        state.access_watch.unregister(watched)
