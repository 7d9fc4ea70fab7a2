"""The Ray actor around `Workout`s: load the snapshot, apply, publish, save, reply.

One class serves both placements: a `dedicated` host holds one workout, a `sharded` host
many (actors/placement.py decides). Durability rule (DESIGN): the reply that lets the
gateway ack a `seq` is returned only after the events are acknowledged by Kafka
(acks=all, idempotent producer) and the snapshot holding that `seq` is saved in Redis.
If either fails, that workout rolls back to its last snapshot, so a resend is applied
again, never skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import uuid
from collections.abc import Callable

import msgspec
import redis.asyncio as aioredis

from actors.profile import AthleteProfile
from actors.workout import Workout, WorkoutError
from streams import topics
from streams.events import (
    AnyEvent,
    LifecycleEvent,
    RiskAlert,
    Sample,
    Sport,
    WorkoutMetricsUpdated,
)
from streams.producer import EventProducer

SNAPSHOT_TTL_S = 30 * 24 * 3600


class ActorConfig(msgspec.Struct, frozen=True, kw_only=True):
    kafka: str
    redis_url: str
    redis_prefix: str
    topic_prefix: str = ""
    metrics_interval_s: float = 1.0
    """Live metrics go out at most this often per workout (plus on every lifecycle change)."""
    auto_finish_after_s: float = 1800.0
    """A workout that hears nothing for this long is finished by the actor itself."""
    exit_when_empty: bool = False
    """A dedicated host ends once its workout is auto-finished."""


class AthleteContext(msgspec.Struct, frozen=True, kw_only=True):
    profile: AthleteProfile = AthleteProfile()
    load_history: list[tuple[dt.date, float]] = []
    """(day, training load) before the workout's day, for the acute:chronic ratio."""


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    acked_seq: int
    status: str
    error_code: str | None = None
    message: str = ""


def snapshot_key(prefix: str, workout_id: uuid.UUID) -> str:
    return f"{prefix}:workout:{workout_id}:snapshot"


def topic_of(event: AnyEvent) -> str:
    if isinstance(event, WorkoutMetricsUpdated):
        return topics.METRICS
    if isinstance(event, LifecycleEvent):
        return topics.LIFECYCLE
    if isinstance(event, RiskAlert):
        return topics.RISK_ALERTS
    return topics.SAMPLES


class _Slot:
    """One workout inside a host, with what only the host needs to know about it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.workout: Workout | None = None
        self.loaded = False
        self.metrics_sent_at = 0.0
        self.metrics_owed = False
        """Samples were applied since the last metrics snapshot went out."""
        self.heard_at = time.monotonic()


class WorkoutHost:
    """Workouts of this actor. Wrapped with `ray.remote` by actors/placement.py."""

    def __init__(self, config: ActorConfig) -> None:
        self._config = config
        self._slots: dict[uuid.UUID, _Slot] = {}
        self._producer = EventProducer(config.kafka, topic_prefix=config.topic_prefix)
        self._redis = aioredis.from_url(config.redis_url)
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self, workout_id: str, user_id: str, sport: Sport, started_at_ms: int,
                    athlete: AthleteContext | None = None) -> Reply:
        """Begin (or, after a reconnect, look up) a workout. `athlete` — profile and daily
        load history, read by the gateway — is used only when the workout is new."""
        wid = uuid.UUID(workout_id)
        async with self._slot(wid).lock:
            slot = await self._load(wid)
            if slot.workout is None:
                ctx = athlete or AthleteContext()
                slot.workout = Workout.create(wid, uuid.UUID(user_id), sport, started_at_ms,
                                              ctx.profile, ctx.load_history)
            return await self._run(slot, user_id, lambda w: w.start())

    async def samples(self, workout_id: str, user_id: str, seq: int, samples: list[Sample]) -> Reply:
        wid = uuid.UUID(workout_id)
        async with self._slot(wid).lock:
            slot = await self._load(wid)
            return await self._run(slot, user_id, lambda w: w.apply_samples(seq, samples).events)

    async def control(self, workout_id: str, user_id: str, action: str, at_ms: int) -> Reply:
        wid = uuid.UUID(workout_id)
        commands: dict[str, Callable[[Workout], list[AnyEvent]]] = {
            "pause": lambda w: w.pause(at_ms),
            "resume": lambda w: w.resume(at_ms),
            "finish": lambda w: w.finish(at_ms),
        }
        async with self._slot(wid).lock:
            slot = await self._load(wid)
            return await self._run(slot, user_id, commands[action])

    async def pid(self) -> int:
        """The host's OS process (operators and fault tests kill it)."""
        return os.getpid()

    async def forget(self, workout_id: str) -> None:
        """Drop a finished workout from memory; its final snapshot stays in Redis."""
        self._slots.pop(uuid.UUID(workout_id), None)

    def _slot(self, wid: uuid.UUID) -> _Slot:
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._background())
        slot = self._slots.get(wid)
        if slot is None:
            slot = self._slots[wid] = _Slot()
        slot.heard_at = time.monotonic()
        return slot

    async def _load(self, wid: uuid.UUID) -> _Slot:
        slot = self._slots[wid]
        if not slot.loaded:
            data = await self._redis.get(snapshot_key(self._config.redis_prefix, wid))
            if isinstance(data, bytes):
                slot.workout = Workout.restore(data)
            slot.loaded = True
        return slot

    async def _run(self, slot: _Slot, user_id: str,
                   command: Callable[[Workout], list[AnyEvent]]) -> Reply:
        workout = slot.workout
        if workout is None:
            return Reply(acked_seq=-1, status="created", error_code="not_started",
                         message="send `start` for this workout first")
        if str(workout.state.user_id) != user_id:
            return Reply(acked_seq=-1, status="unknown", error_code="foreign_workout",
                         message="this workout belongs to another athlete")
        before = workout.snapshot()
        try:
            produced = command(workout)
        except WorkoutError as exc:
            return Reply(acked_seq=workout.acked_seq, status=workout.state.status,
                         error_code=exc.code, message=exc.message)
        owed = slot.metrics_owed or bool(produced)
        if produced and self._metrics_due(slot, produced):
            produced.append(workout.metrics(int(time.time() * 1000)))
        if produced:
            try:
                await self._make_durable(workout, produced)
            except Exception as exc:
                slot.workout = Workout.restore(before)
                return Reply(acked_seq=slot.workout.acked_seq, status=slot.workout.state.status,
                             error_code="unavailable",
                             message=f"could not make the data durable ({type(exc).__name__}); "
                                     "keep the samples and resend")
            sent = isinstance(produced[-1], WorkoutMetricsUpdated) or any(
                isinstance(e, LifecycleEvent) for e in produced)
            slot.metrics_owed = owed and not sent
            if sent:
                slot.metrics_sent_at = time.monotonic()
        return Reply(acked_seq=workout.acked_seq, status=workout.state.status)

    def _metrics_due(self, slot: _Slot, produced: list[AnyEvent]) -> bool:
        if any(isinstance(e, LifecycleEvent) for e in produced):
            return False  # lifecycle events carry the summary themselves
        return time.monotonic() - slot.metrics_sent_at >= self._config.metrics_interval_s

    async def _make_durable(self, workout: Workout, produced: list[AnyEvent]) -> None:
        await self._producer.publish([(topic_of(e), e) for e in produced])
        await self._redis.set(snapshot_key(self._config.redis_prefix, workout.state.workout_id),
                              workout.snapshot(), ex=SNAPSHOT_TTL_S)

    async def _background(self) -> None:
        """Owed metrics go out once their interval has passed (a steady ~1 Hz per live
        workout, however the batches arrive); silent workouts are finished."""
        interval = self._config.metrics_interval_s
        last_silence_check = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            for slot in list(self._slots.values()):
                if slot.metrics_owed and time.monotonic() - slot.metrics_sent_at >= interval:
                    await self._send_owed_metrics(slot)
            if time.monotonic() - last_silence_check >= min(5.0, self._config.auto_finish_after_s / 4):
                last_silence_check = time.monotonic()
                await self._finish_silent_workouts()

    async def _send_owed_metrics(self, slot: _Slot) -> None:
        async with slot.lock:
            if slot.workout is None or not slot.metrics_owed:
                return
            try:
                await self._producer.publish(
                    [(topics.METRICS, slot.workout.metrics(int(time.time() * 1000)))])
            except Exception:
                return  # a live view misses one snapshot; the next one carries everything
            slot.metrics_owed, slot.metrics_sent_at = False, time.monotonic()

    async def _finish_silent_workouts(self) -> None:
        """Auto-finish: a workout whose device went silent ends on its own."""
        now = time.monotonic()
        for wid, slot in list(self._slots.items()):
            if now - slot.heard_at < self._config.auto_finish_after_s or slot.lock.locked():
                continue
            async with slot.lock:
                workout = slot.workout
                if workout is not None and workout.state.status in ("active", "paused"):
                    at_ms = workout.state.last_t_ms or workout.state.started_at_ms
                    try:
                        await self._make_durable(workout, workout.finish(at_ms))
                    except Exception:
                        slot.workout, slot.loaded = None, False  # back to the snapshot
                        continue
            self._slots.pop(wid, None)
        if self._config.exit_when_empty and not self._slots:
            import ray

            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
