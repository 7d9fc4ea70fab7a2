"""Where workouts live. Both placements run the same `WorkoutHost` (actors/shell.py).

- `dedicated`: one named, detached Ray actor per workout. Any gateway process finds it by
  name; `max_restarts` brings a crashed one back and it resumes from its Redis snapshot.
  An actor process costs ~90 MiB, so this holds a few hundred live workouts per node.
- `sharded`: a fixed pool of named host actors (about one per core); a workout's id hashes
  onto one of them, which holds many workouts — for thousands per node.

Samples go through `HostCalls`, which coalesces the batches bound for one host while a
call to it is in flight, so that under load one Ray call carries many workouts.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import msgspec
import ray

from actors.shell import ActorConfig, Reply, SamplesCall, WorkoutHost
from streams.events import Sample

RemoteWorkoutHost = ray.remote(WorkoutHost)
_ACTOR_OPTIONS = {"lifetime": "detached", "get_if_exists": True, "max_restarts": -1,
                  "max_task_retries": 3}


class HostCalls:
    """Samples calls to one host actor. While `max_in_flight` calls are in flight, the
    batches that arrive queue up and go together, as one `samples_many`, when one returns:
    no added delay when idle, and under load one Ray call (and on the host one Kafka produce
    and one Redis pipeline) carries many workouts' batches. Two in flight let the host apply
    one call while the previous one waits for Kafka. Use from one event loop."""

    def __init__(self, actor: Any, max_calls: int = 100, max_in_flight: int = 2) -> None:
        self.actor = actor
        self._max_calls = max_calls
        self._max_in_flight = max_in_flight
        self._queue: list[tuple[SamplesCall, asyncio.Future[Reply]]] = []
        self._senders: set[asyncio.Task[None]] = set()

    async def samples(self, workout_id: str, user_id: str, seq: int, samples: list[Sample]) -> Reply:
        reply: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._queue.append(((workout_id, user_id, seq, samples), reply))
        if len(self._senders) < self._max_in_flight:
            self._senders.add(asyncio.create_task(self._send_queued()))
        return await reply

    async def _send_queued(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:self._max_calls]
                del self._queue[:self._max_calls]
                try:
                    replies = await self.actor.samples_many.remote([call for call, _ in batch])
                except Exception as exc:  # the host died or Ray is unreachable: all callers hear
                    for _, waiting in batch:
                        if not waiting.done():
                            waiting.set_exception(exc)
                    continue
                for (_, waiting), reply in zip(batch, replies, strict=True):
                    if not waiting.done():  # its caller may have timed out
                        waiting.set_result(reply)
        finally:
            # At once, with no await after the empty-queue check: a batch queued from now
            # on starts a sender of its own.
            self._senders.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]


class Placement(Protocol):
    def handle(self, workout_id: uuid.UUID) -> Any:
        """The host actor of a workout (blocking: call in a thread)."""

    def calls(self, workout_id: uuid.UUID) -> HostCalls:
        """The coalescing samples caller of a workout's host (blocking: call in a thread)."""

    def cached(self, workout_id: uuid.UUID) -> HostCalls | None:
        """The caller of a workout's host if this process has it already (never blocks:
        the per-frame path skips the thread hop with it)."""

    def forget(self, workout_id: uuid.UUID) -> None:
        """Drop a cached handle after a failed call."""

    def release(self, workout_id: uuid.UUID) -> None:
        """A finished workout leaves memory (blocking: call in a thread)."""


class DedicatedPlacement:
    def __init__(self, config: ActorConfig, namespace: str, cache_size: int = 10_000) -> None:
        self._config = msgspec.structs.replace(config, exit_when_empty=True)
        self._namespace = namespace
        self._handles: OrderedDict[uuid.UUID, HostCalls] = OrderedDict()
        self._cache_size = cache_size

    def actor_name(self, workout_id: uuid.UUID) -> str:
        return f"workout:{workout_id}"

    def handle(self, workout_id: uuid.UUID) -> Any:
        return self.calls(workout_id).actor

    def calls(self, workout_id: uuid.UUID) -> HostCalls:
        calls = self._handles.get(workout_id)
        if calls is not None:
            self._handles.move_to_end(workout_id)
            return calls
        calls = self._handles[workout_id] = HostCalls(RemoteWorkoutHost.options(
            name=self.actor_name(workout_id), namespace=self._namespace, num_cpus=0,
            **_ACTOR_OPTIONS,
        ).remote(self._config))
        if len(self._handles) > self._cache_size:
            self._handles.popitem(last=False)
        return calls

    def cached(self, workout_id: uuid.UUID) -> HostCalls | None:
        calls = self._handles.get(workout_id)
        if calls is not None:
            self._handles.move_to_end(workout_id)
        return calls

    def forget(self, workout_id: uuid.UUID) -> None:
        self._handles.pop(workout_id, None)

    def release(self, workout_id: uuid.UUID) -> None:
        calls = self._handles.pop(workout_id, None)
        handle = calls.actor if calls is not None else None
        if handle is None:
            try:
                handle = ray.get_actor(self.actor_name(workout_id), namespace=self._namespace)
            except ValueError:
                return
        ray.kill(handle, no_restart=True)


class ShardedPlacement:
    def __init__(self, config: ActorConfig, namespace: str, hosts: int) -> None:
        self._config = config
        self._namespace = namespace
        self._hosts = hosts
        self._handles: dict[int, HostCalls] = {}

    def shard_of(self, workout_id: uuid.UUID) -> int:
        # A stable hash (not Python's salted hash()): every gateway process must agree.
        return int.from_bytes(hashlib.blake2b(workout_id.bytes, digest_size=8).digest()) % self._hosts

    def handle(self, workout_id: uuid.UUID) -> Any:
        return self.calls(workout_id).actor

    def calls(self, workout_id: uuid.UUID) -> HostCalls:
        shard = self.shard_of(workout_id)
        calls = self._handles.get(shard)
        if calls is None:
            calls = self._handles[shard] = HostCalls(RemoteWorkoutHost.options(
                name=f"workout-host:{shard}", namespace=self._namespace, num_cpus=0,
                max_concurrency=1000, **_ACTOR_OPTIONS,
            ).remote(self._config))
        return calls

    def cached(self, workout_id: uuid.UUID) -> HostCalls | None:
        return self._handles.get(self.shard_of(workout_id))

    def forget(self, workout_id: uuid.UUID) -> None:
        self._handles.pop(self.shard_of(workout_id), None)

    def release(self, workout_id: uuid.UUID) -> None:
        ray.get(self.handle(workout_id).forget.remote(str(workout_id)))


def make_placement(kind: str, config: ActorConfig, namespace: str, hosts: int) -> Placement:
    if kind == "sharded":
        return ShardedPlacement(config, namespace, hosts)
    return DedicatedPlacement(config, namespace)
