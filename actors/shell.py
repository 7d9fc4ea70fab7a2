"""The Ray actor around one `Workout`: load its snapshot, apply, publish, save, reply.

Durability rule (DESIGN): the reply that lets the gateway ack a `seq` is returned only
after the events are acknowledged by Kafka (acks=all, idempotent producer) and the
snapshot holding that `seq` is saved in Redis. If either fails, the in-memory state
rolls back to the last snapshot, so a resend is applied again, never skipped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import msgspec
import redis.asyncio as aioredis

from actors.workout import Workout, WorkoutError
from streams import topics
from streams.events import AnyEvent, LifecycleEvent, Sample, Sport, WorkoutMetricsUpdated
from streams.producer import EventProducer

SNAPSHOT_TTL_S = 30 * 24 * 3600


class ActorConfig(msgspec.Struct, frozen=True, kw_only=True):
    kafka: str
    redis_url: str
    redis_prefix: str
    topic_prefix: str = ""


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
    return topics.SAMPLES


class WorkoutActor:
    """One live workout. Wrapped with `ray.remote` by actors/placement.py."""

    def __init__(self, workout_id: str, config: ActorConfig) -> None:
        self._id = uuid.UUID(workout_id)
        self._config = config
        self._lock = asyncio.Lock()
        self._workout: Workout | None = None
        self._loaded = False
        self._producer = EventProducer(config.kafka, topic_prefix=config.topic_prefix)
        self._redis = aioredis.from_url(config.redis_url)

    async def start(self, user_id: str, sport: Sport, started_at_ms: int) -> Reply:
        async with self._lock:
            await self._load()
            if self._workout is None:
                self._workout = Workout.create(self._id, uuid.UUID(user_id), sport, started_at_ms)
            return await self._run(user_id, lambda w: w.start())

    async def samples(self, user_id: str, seq: int, samples: list[Sample]) -> Reply:
        async with self._lock:
            await self._load()
            now_ms = int(time.time() * 1000)
            return await self._run(user_id, lambda w: w.apply_samples(seq, samples, now_ms).events)

    async def control(self, user_id: str, action: str, at_ms: int) -> Reply:
        async with self._lock:
            await self._load()
            commands: dict[str, Callable[[Workout], list[AnyEvent]]] = {
                "pause": lambda w: w.pause(at_ms),
                "resume": lambda w: w.resume(at_ms),
                "finish": lambda w: w.finish(at_ms),
            }
            return await self._run(user_id, commands[action])

    async def _run(self, user_id: str, command: Callable[[Workout], list[AnyEvent]]) -> Reply:
        workout = self._workout
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
        if produced:
            try:
                await self._producer.publish([(topic_of(e), e) for e in produced])
                await self._redis.set(snapshot_key(self._config.redis_prefix, self._id),
                                      workout.snapshot(), ex=SNAPSHOT_TTL_S)
            except Exception as exc:
                self._workout = Workout.restore(before)
                return Reply(acked_seq=self._workout.acked_seq, status=self._workout.state.status,
                             error_code="unavailable",
                             message=f"could not make the data durable ({type(exc).__name__}); "
                                     "keep the samples and resend")
        return Reply(acked_seq=workout.acked_seq, status=workout.state.status)

    async def _load(self) -> None:
        if self._loaded:
            return
        data = await self._redis.get(snapshot_key(self._config.redis_prefix, self._id))
        if isinstance(data, bytes):
            self._workout = Workout.restore(data)
        self._loaded = True

    async def state(self) -> bytes | None:
        """The workout's snapshot bytes (for tests and operators)."""
        async with self._lock:
            await self._load()
            return self._workout.snapshot() if self._workout else None
