"""`WS /v1/ingest`: device frames in, acks and error frames out (DESIGN, Device protocol)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

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
ACTOR_CALL_TIMEOUT_S = 30.0


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

    def __init__(self, principal: Principal, codec: Codec, placement: Placement, pool: Any) -> None:
        self.principal = principal
        self.pool = pool
        self.codec = codec
        self.placement = placement
        self.started: set[uuid.UUID] = set()

    async def handle(self, data: bytes | str) -> list[protocol.ServerFrame]:
        try:
            frame = self.codec.decode(data)
        except FrameError as exc:
            return [exc.error]
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
        if wid not in self.started:
            return [Error(code="not_started", workout_id=wid, seq=getattr(frame, "seq", None),
                          message="send `start` for this workout on this connection first")]
        if isinstance(frame, protocol.Samples):
            calls = await asyncio.to_thread(self.placement.calls, wid)
            reply = await self._call(calls.samples(str(wid), user, frame.seq, frame.samples))
            return self._answer(wid, reply, frame.seq)
        actor = await asyncio.to_thread(self.placement.handle, wid)
        action = {protocol.Pause: "pause", protocol.Resume: "resume", protocol.Finish: "finish"}
        reply = await self._call(actor.control.remote(str(wid), user, action[type(frame)], frame.at))
        if reply.error_code is None and reply.status == "finished":
            await asyncio.to_thread(self.placement.release, wid)
            self.started.discard(wid)
        return self._answer(wid, reply, None)

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
    token = bearer_token(socket.headers, socket.query_params)
    principal = await state.auth.authenticate(token)
    if principal is None:
        await socket.close(code=WS_POLICY_VIOLATION, reason="missing, expired or revoked token")
        return
    subprotocol = choose_subprotocol(socket.headers.get("sec-websocket-protocol"))
    if subprotocol is None:
        await socket.close(code=WS_POLICY_VIOLATION, reason="unsupported subprotocol")
        return
    # A client that offered no subprotocol gets JSON, and no subprotocol in the answer.
    offered = bool(socket.headers.get("sec-websocket-protocol"))
    await socket.accept(subprotocols=subprotocol if offered else None)
    codec = protocol.CODECS[subprotocol]
    session = IngestSession(principal, codec, state.placement, state.pool)
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
            for out in await session.handle(data):
                await socket.send_data(codec.encode(out), mode=mode)
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: closed by the access watch
        return
    finally:
        state.access_watch.unregister(watched)
