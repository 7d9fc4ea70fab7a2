"""Where workouts live. Both placements run the same `WorkoutHost` (actors/shell.py).

- `dedicated`: one named, detached Ray actor per workout. Any gateway process finds it by
  name; `max_restarts` brings a crashed one back and it resumes from its Redis snapshot.
  An actor process costs ~90 MiB, so this holds a few hundred live workouts per node.
- `sharded`: a fixed pool of named host actors (about one per core); a workout's id hashes
  onto one of them, which holds many workouts — for thousands per node.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import msgspec
import ray

from actors.shell import ActorConfig, WorkoutHost

RemoteWorkoutHost = ray.remote(WorkoutHost)
_ACTOR_OPTIONS = {"lifetime": "detached", "get_if_exists": True, "max_restarts": -1,
                  "max_task_retries": 3}


class Placement(Protocol):
    def handle(self, workout_id: uuid.UUID) -> Any:
        """The host actor of a workout (blocking: call in a thread)."""

    def forget(self, workout_id: uuid.UUID) -> None:
        """Drop a cached handle after a failed call."""

    def release(self, workout_id: uuid.UUID) -> None:
        """A finished workout leaves memory (blocking: call in a thread)."""


class DedicatedPlacement:
    def __init__(self, config: ActorConfig, namespace: str, cache_size: int = 10_000) -> None:
        self._config = msgspec.structs.replace(config, exit_when_empty=True)
        self._namespace = namespace
        self._handles: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._cache_size = cache_size

    def actor_name(self, workout_id: uuid.UUID) -> str:
        return f"workout:{workout_id}"

    def handle(self, workout_id: uuid.UUID) -> Any:
        handle = self._handles.get(workout_id)
        if handle is not None:
            self._handles.move_to_end(workout_id)
            return handle
        handle = RemoteWorkoutHost.options(
            name=self.actor_name(workout_id), namespace=self._namespace, num_cpus=0,
            **_ACTOR_OPTIONS,
        ).remote(self._config)
        self._handles[workout_id] = handle
        if len(self._handles) > self._cache_size:
            self._handles.popitem(last=False)
        return handle

    def forget(self, workout_id: uuid.UUID) -> None:
        self._handles.pop(workout_id, None)

    def release(self, workout_id: uuid.UUID) -> None:
        handle = self._handles.pop(workout_id, None)
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
        self._handles: dict[int, Any] = {}

    def shard_of(self, workout_id: uuid.UUID) -> int:
        # A stable hash (not Python's salted hash()): every gateway process must agree.
        return int.from_bytes(hashlib.blake2b(workout_id.bytes, digest_size=8).digest()) % self._hosts

    def handle(self, workout_id: uuid.UUID) -> Any:
        shard = self.shard_of(workout_id)
        handle = self._handles.get(shard)
        if handle is None:
            handle = self._handles[shard] = RemoteWorkoutHost.options(
                name=f"workout-host:{shard}", namespace=self._namespace, num_cpus=0,
                max_concurrency=1000, **_ACTOR_OPTIONS,
            ).remote(self._config)
        return handle

    def forget(self, workout_id: uuid.UUID) -> None:
        self._handles.pop(self.shard_of(workout_id), None)

    def release(self, workout_id: uuid.UUID) -> None:
        ray.get(self.handle(workout_id).forget.remote(str(workout_id)))


def make_placement(kind: str, config: ActorConfig, namespace: str, hosts: int) -> Placement:
    if kind == "sharded":
        return ShardedPlacement(config, namespace, hosts)
    return DedicatedPlacement(config, namespace)
