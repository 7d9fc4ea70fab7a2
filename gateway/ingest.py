"""`WS /v1/ingest`: device frames in, acks and error frames out (DESIGN, Device protocol).

Everything that can be refused is refused here, before an actor is asked or created: the
frame budget of the connection (bad frames draw on it too), sample times, the account's
samples a second (live and resent backlog apart), its live workouts at once, and whose
workout an id is (storage/workout_ids.py). A `start` that fails for any reason leaves no
actor and no quota slot behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
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
from gateway.ingest_limits import IngestLimits, SampleTimes, TokenBucket, check_start
from gateway.protocol import Ack, Codec, Error, FrameError
from gateway.quotas import QuotaGuard, Refused
from privacy import age
from storage import athletes, health_consent, workout_ids

log = logging.getLogger("stride.ingest")

WS_POLICY_VIOLATION = 1008
WS_MESSAGE_TOO_BIG = 1009
WS_TRY_AGAIN_LATER = 1013
OUR_FAULT = frozenset({"unavailable"})
"""Error codes that are the server's trouble, not the device's: never counted against it."""
NOTICES = frozenset({"health_consent_required"})
"""Error codes that say something was left out of an accepted frame: followed by its ack."""
HEALTH_RECHECK_S = 5.0
"""How long a connection trusts what it last read of the athlete's health consent."""
ACTOR_CALL_TIMEOUT_S = 30.0
INBOX_FRAMES = 128
"""Frames read ahead of the one being handled (each stamped with its arrival)."""


class TooBig(Exception):
    """A frame over the size limit: the connection closes with 1009."""


class Flooding(Exception):
    """Refused frame after refused frame: the connection closes with 1008."""


def choose_subprotocol(header: str | None) -> str | None:
    """The first subprotocol the client offers that we speak; JSON when it offers none."""
    if not header:
        return protocol.JSON
    for offered in (p.strip() for p in header.split(",")):
        if offered in protocol.SUBPROTOCOLS:
            return offered
    return None


def _error(frame: protocol.ClientFrame | None, code: str, message: str) -> Error:
    return Error(code=code, message=message, workout_id=frame.workout_id if frame else None,
                 seq=getattr(frame, "seq", None))


class IngestSession:
    """One device connection: which workouts it started, and how to reach their actors."""

    def __init__(self, principal: Principal, codec: Codec, placement: Placement, pool: Any,
                 quotas: QuotaGuard, limits: IngestLimits | None = None,
                 watched: Watched | None = None) -> None:
        self.principal = principal
        self.pool = pool
        self.codec = codec
        self.placement = placement
        self.quotas = quotas
        self.limits = limits or IngestLimits()
        self.watched = watched
        self.started: set[uuid.UUID] = set()
        self.finished: dict[uuid.UUID, int] = {}
        """Workouts finished on this connection, with their final ack."""
        self._health: tuple[float, bool] | None = None
        """(when read, time.monotonic(); whether health data may be processed)."""
        self._bucket = TokenBucket(self.limits.frames_per_s, self.limits.frame_burst)
        self._times = SampleTimes(self.limits)
        self._refused_in_a_row = 0

    async def handle(self, data: bytes | str, arrived: float | None = None) -> list[protocol.ServerFrame]:
        """The answer to one frame that arrived at `arrived` (time.monotonic(); default now).
        Raises TooBig (close 1009) or Flooding (close 1008)."""
        if len(data) > self.limits.max_frame_bytes:
            raise TooBig(f"frame of {len(data)} bytes; the limit is {self.limits.max_frame_bytes}")
        within_budget = self._bucket.take(arrived)  # every frame draws on it, bad ones too
        try:
            frame = self.codec.decode(data)
        except FrameError as exc:
            return self._refused([exc.error])
        if not within_budget:
            return self._refused([_error(frame, "rate_limited",
                                         f"more than {self.limits.frames_per_s:g} frames a second; "
                                         "nothing of this frame was applied: send it again, slower")])
        answers = await self._checked(frame)
        if any(isinstance(a, Error) and a.code not in OUR_FAULT | NOTICES for a in answers):
            return self._refused(answers)
        self._refused_in_a_row = 0
        return answers

    def _refused(self, answers: list[protocol.ServerFrame]) -> list[protocol.ServerFrame]:
        self._refused_in_a_row += 1
        if self._refused_in_a_row > self.limits.max_refused_in_a_row:
            raise Flooding(f"{self._refused_in_a_row} refused frames in a row")
        return answers

    async def _checked(self, frame: protocol.ClientFrame) -> list[protocol.ServerFrame]:
        if isinstance(frame, protocol.Samples) and (refused := self._times.check(frame)) is not None:
            return [refused]
        try:
            if isinstance(frame, protocol.Samples):
                await self._take_samples(frame)
            return await self._dispatch(frame)
        except Refused as exc:
            return [_error(frame, exc.code, exc.message)]
        except Exception:  # Ray, the actor or Redis unreachable, or a call timed out
            log.exception("frame for workout %s not handled", frame.workout_id)
            # The actor may have been ended by another gateway (finish) or lost with its node.
            self.placement.forget(frame.workout_id)
            return [_error(frame, "unavailable", "the workout service is unavailable; keep the "
                           "samples and resend after reconnecting")]

    async def _take_samples(self, frame: protocol.Samples) -> None:
        """Charge the account's sample quota: recent samples on the live rate, older ones
        (a device resending what it buffered) on the backlog rate; resends are free."""
        fresh = self._times.new_samples(frame)
        if not fresh or frame.workout_id not in self.started:
            return
        recent_from = int(time.time() * 1000) - self.quotas.quotas.backlog_after_s * 1000
        live = sum(1 for s in fresh if s.t_ms >= recent_from)
        await self.quotas.take_samples(self.principal.user_id, live, len(fresh) - live)

    async def _dispatch(self, frame: protocol.ClientFrame) -> list[protocol.ServerFrame]:
        wid = frame.workout_id
        user = str(self.principal.user_id)
        if isinstance(frame, protocol.Start):
            return await self._start(frame)
        if wid in self.finished:
            if isinstance(frame, protocol.Finish):  # a resend: the device missed our ack
                return [Ack(workout_id=wid, seq=self.finished[wid])]
            return [Error(code="workout_finished", workout_id=wid, seq=getattr(frame, "seq", None),
                          message="the workout is finished; no more samples or changes")]
        if wid not in self.started:
            return [Error(code="not_started", workout_id=wid, seq=getattr(frame, "seq", None),
                          message="send `start` for this workout on this connection first")]
        if isinstance(frame, protocol.Samples):
            rows, notice = await self._lawful_rows(frame)
            calls = self.placement.cached(wid) or await asyncio.to_thread(self.placement.calls, wid)
            reply = await self._call(calls.samples(str(wid), user, frame.seq, rows))
            self._times.acked(frame, reply.acked_seq)
            if reply.error_code == "workout_finished":
                await self._ended(wid)
            answers = self._answer(wid, reply, frame.seq)
            return [notice, *answers] if notice is not None and reply.error_code is None else answers
        actor = await asyncio.to_thread(self.placement.handle, wid)
        action = {protocol.Pause: "pause", protocol.Resume: "resume", protocol.Finish: "finish"}
        reply = await self._call(actor.control.remote(str(wid), user, action[type(frame)], frame.at))
        if reply.error_code is None and reply.status == "finished":
            await asyncio.to_thread(self.placement.release, wid)
            await self._ended(wid)
            self.finished[wid] = reply.acked_seq
        return self._answer(wid, reply, None)

    async def _start(self, frame: protocol.Start) -> list[protocol.ServerFrame]:
        """Every check first; the actor only for a start that passed them all."""
        wid, me = frame.workout_id, self.principal.user_id
        if (refused := check_start(self.limits, frame)) is not None:
            return [refused]
        foreign = Error(code="foreign_workout", workout_id=wid,
                        message="this workout id belongs to another athlete")
        async with self.pool.connection() as conn:
            claimed, owner = await workout_ids.owner_of(conn, wid)
            if claimed and owner is None and await workout_ids.deleted_by(conn, wid, me):
                return [Error(code="workout_deleted", workout_id=wid,
                              message="you deleted this workout; its id is never used again")]
        if claimed and owner != me:
            return [foreign]
        taken_now = await self.quotas.claim_live_workout(me, wid)
        try:
            if not claimed:  # claimed only once the quota allows it: no rows for refused starts
                async with self.pool.connection() as conn:
                    if not await workout_ids.claim(conn, wid, me):  # lost a race for the id
                        if taken_now:
                            await self.quotas.release_live_workout(me, wid)
                        return [foreign]
            athlete = await self._athlete(frame.started_at)
            actor = await asyncio.to_thread(self.placement.handle, wid)
            reply = await self._call(
                actor.start.remote(str(wid), str(me), frame.sport, frame.started_at, athlete))
        except BaseException:
            if taken_now:
                await self.quotas.release_live_workout(me, wid)
            raise
        if reply.error_code is not None and reply.status == "created":
            # Never started (e.g. not made durable): no actor may stay behind for it.
            await asyncio.to_thread(self.placement.release, wid)
        if reply.error_code is None and reply.status != "finished":
            self.started.add(wid)
            self._hold(wid)
        elif taken_now or reply.status == "finished":
            await self.quotas.release_live_workout(me, wid)
        if reply.error_code is None and reply.status == "finished":
            self.finished[wid] = reply.acked_seq  # its samples get `workout_finished`
        return self._answer(wid, reply, None)

    async def _lawful_rows(self, frame: protocol.Samples) -> tuple[list[Any], Error | None]:
        """The frame's samples, without heart rate and SpO2 while the athlete has not given
        (or has withdrawn) consent to their processing, or is under 16 without a guardian's
        (privacy/age.py): they are dropped here, before anything computes on them, and the
        device is told so (`health_consent_required`, then the ack)."""
        rows = frame.rows()
        if all(r[4] is None and r[5] is None for r in rows) or await self._may_process_health():
            return rows, None
        kept = [(*r[:4], None, None, *r[6:]) for r in rows]
        return kept, Error(code="health_consent_required", workout_id=frame.workout_id,
                           seq=frame.seq, message="heart rate and SpO2 were left out: the athlete "
                           "has not consented to the processing of health data (POST "
                           "/v1/me/health-consent), or needs a guardian's consent; the rest of "
                           "the samples is taken")

    async def _may_process_health(self) -> bool:
        now = time.monotonic()
        if self._health is None or now - self._health[0] > HEALTH_RECHECK_S:
            async with self.pool.connection() as conn:
                standing = await health_consent.standing_of(conn, self.principal.user_id)
            allowed = standing is not None and age.may_process_health(
                standing, dt.datetime.now(dt.UTC).date())
            self._health = (now, allowed)
        return self._health[1]

    def _hold(self, wid: uuid.UUID) -> None:
        if self.watched is not None:
            self.watched.slots.add(("workouts", self.principal.user_id, wid))

    async def _ended(self, wid: uuid.UUID) -> None:
        self.started.discard(wid)
        if self.watched is not None:
            self.watched.slots.discard(("workouts", self.principal.user_id, wid))
        await self.quotas.release_live_workout(self.principal.user_id, wid)

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
    # A client that offered no subprotocol gets JSON, and no subprotocol in the answer.
    offered = bool(socket.headers.get("sec-websocket-protocol"))
    await socket.accept(subprotocols=subprotocol if offered else None)
    codec = protocol.CODECS[subprotocol]
    mode = "binary" if codec.binary else "text"
    connection = uuid.uuid4()
    quotas: QuotaGuard = state.quotas
    try:
        await quotas.open_connection("device", principal.user_id, connection)
    except Refused as exc:
        await socket.send_data(codec.encode(Error(code=exc.code, message=exc.message)), mode=mode)
        await socket.close(code=WS_POLICY_VIOLATION, reason=exc.code)
        return
    except Exception:  # Redis away: the frames could not be made durable either
        log.warning("connection quota not checked (Redis away?)", exc_info=True)
        await socket.send_data(codec.encode(Error(
            code="unavailable", message="the service is unavailable; reconnect shortly")), mode=mode)
        await socket.close(code=WS_TRY_AGAIN_LATER, reason="unavailable")
        return
    try:
        await _serve(socket, state, principal, token, codec, connection)
    finally:
        with contextlib.suppress(Exception):  # its slot lapses by itself if Redis is away
            await quotas.close_connection("device", principal.user_id, connection)


async def _serve(socket: WebSocket, state: Any, principal: Principal, token: str | None,
                 codec: Codec, connection: uuid.UUID) -> None:
    mode = "binary" if codec.binary else "text"

    async def still_allowed() -> bool:
        return await state.auth.authenticate(token) is not None

    watched = Watched(principal, still_allowed, lambda code, why: socket.close(code, why))
    watched.slots.add(("connections:device", principal.user_id, connection))
    session = IngestSession(principal, codec, state.placement, state.pool, state.quotas,
                            state.ingest_limits, watched)
    state.access_watch.register(watched)
    inbox: asyncio.Queue[tuple[float, bytes | str] | None] = asyncio.Queue(INBOX_FRAMES)
    reader = asyncio.create_task(_read(socket, inbox))
    try:
        while (arrived := await inbox.get()) is not None:
            try:
                answers = await session.handle(arrived[1], arrived[0])
            except TooBig as exc:
                await socket.close(code=WS_MESSAGE_TOO_BIG, reason=str(exc))
                return
            except Flooding as exc:
                await socket.close(code=WS_POLICY_VIOLATION, reason=str(exc))
                return
            for out in answers:
                await socket.send_data(codec.encode(out), mode=mode)
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: closed by the access watch
        return
    finally:
        state.access_watch.unregister(watched)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _read(socket: WebSocket, inbox: asyncio.Queue[tuple[float, bytes | str] | None]) -> None:
    """Take frames off the socket as they arrive, stamped with their arrival: the frame
    budget judges when a frame came, not when its turn to be handled came (a busy gateway
    must not let a burst through). When INBOX_FRAMES wait, reading stops (TCP pushes back)."""
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            await inbox.put((time.monotonic(), message.get("bytes") or message.get("text") or b""))
    except (WebSocketDisconnect, RuntimeError):
        pass
    await inbox.put(None)  # the end (not when cancelled: then the handler has stopped already)
