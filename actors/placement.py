"""Where workouts live: one named, detached Ray actor per workout (`dedicated`).

Named actors let any gateway process find a workout's actor; `max_restarts` brings a
crashed actor back, and it resumes from its Redis snapshot.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

import ray

from actors.shell import ActorConfig, WorkoutActor

RemoteWorkoutActor = ray.remote(WorkoutActor)


class DedicatedPlacement:
    def __init__(self, config: ActorConfig, namespace: str, cache_size: int = 10_000) -> None:
        self._config = config
        self._namespace = namespace
        self._handles: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._cache_size = cache_size

    def actor_name(self, workout_id: uuid.UUID) -> str:
        return f"workout:{workout_id}"

    def handle(self, workout_id: uuid.UUID) -> Any:
        """The workout's actor, created if it does not exist yet (blocking: call in a thread)."""
        handle = self._handles.get(workout_id)
        if handle is not None:
            self._handles.move_to_end(workout_id)
            return handle
        handle = RemoteWorkoutActor.options(
            name=self.actor_name(workout_id),
            namespace=self._namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=3,
            num_cpus=0,
        ).remote(str(workout_id), self._config)
        self._handles[workout_id] = handle
        if len(self._handles) > self._cache_size:
            self._handles.popitem(last=False)
        return handle

    def forget(self, workout_id: uuid.UUID) -> None:
        """Drop a cached handle (after a failed call), so the next call looks the actor up again."""
        self._handles.pop(workout_id, None)

    def release(self, workout_id: uuid.UUID) -> None:
        """End a finished workout's actor; its final snapshot stays in Redis."""
        handle = self._handles.pop(workout_id, None)
        if handle is None:
            try:
                handle = ray.get_actor(self.actor_name(workout_id), namespace=self._namespace)
            except ValueError:
                return
        ray.kill(handle, no_restart=True)
