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
import logging
import threading
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import msgspec
import ray
import redis

from actors.shell import ActorConfig, Reply, SamplesCall, WorkoutHost
from storage import keyspace
from streams.events import Sample

log = logging.getLogger("stride.actors")

RemoteWorkoutHost = ray.remote(WorkoutHost)
_ACTOR_OPTIONS = {"lifetime": "detached", "get_if_exists": True, "max_restarts": -1,
                  "max_task_retries": 3,
                  # Ray records every call for its dashboard's task list: at a call per device
                  # frame that was a quarter of a call's CPU (measured, Ray 2.60), for a list
                  # nobody reads for these calls.
                  "enable_task_events": False}
LINGER_S = 0.02
"""How long a host's caller gathers batches before a call when none is in flight. A Ray call
costs about 0.5 ms of CPU on each side whatever it carries (measured here, Ray 2.60, one call
at a time; 0.17 ms when many are in flight), so at 1 Hz per device one call per frame was
most of a sample's cost; 20 ms more before an ack lets one call carry every frame of them."""


class HostCalls:
    """Samples calls to one host actor. A call waits `linger_s` for more batches, and while
    `max_in_flight` calls are in flight, the batches that arrive queue up and go together, as
    one `samples_many`, when one returns: one Ray call (and on the host one Kafka produce and
    one Redis pipeline) carries many workouts' batches. Two in flight let the host apply one
    call while the previous one waits for Kafka. Use from one event loop."""

    def __init__(self, actor: Any, max_calls: int = 500, max_in_flight: int = 2,
                 linger_s: float = LINGER_S) -> None:
        self.actor = actor
        self._max_calls = max_calls
        self._linger_s = linger_s
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
            if len(self._queue) < self._max_calls:
                await asyncio.sleep(self._linger_s)  # the batches of the next moment come along
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

    def keep_warm(self) -> None:
        """Start keeping spare hosts, where the placement has any (returns at once)."""

    def stop(self, wait_s: float = 5.0) -> None:
        """Stop what `keep_warm` started, waiting up to `wait_s` for a round under way."""


REGISTRY_TTL_S = 2 * 24 * 3600
"""A workout's entry in the host registry outlives any workout (a finish deletes it)."""
REFILL_EVERY_S = 0.5
REFILL_AT_ONCE = 2
"""Spares started per round: a burst of starts that empties the pool must not be answered by
as many process starts at once (each takes about a second of a core), which would slow the
very workouts that took the spares (measured: 25 at once put ack p99 at 13 s)."""
WARM_UP_S = 120
"""How long a new spare may take to start and connect before its round gives up."""


def spares_key(config: ActorConfig) -> str:
    """The Redis list of spare dedicated hosts started with `config`. Spares carry their
    config (Kafka, topic prefix, …), so gateways configured otherwise on the same Redis keep
    pools of their own."""
    dedicated = msgspec.structs.replace(config, exit_when_empty=True)
    digest = hashlib.blake2b(msgspec.msgpack.encode(dedicated), digest_size=6).hexdigest()
    return keyspace.spare_hosts(config.redis_prefix, digest)


class DedicatedPlacement:
    """One host actor per workout. A Ray actor is a process and starting one takes about a
    second, so `warm` idle hosts wait in a pool: a `start` takes one (Redis `LPOP`, so each
    goes to one workout whichever gateway asks) and the registry maps the workout to it
    (`…:placement:{workout}`; Ray cannot rename an actor). Without a spare (pool empty, or
    `warm=0`) the host is created on the spot, named after the workout. A background thread
    keeps the pool full. A host holds no state of its own: it loads its workout's snapshot
    and journal from Redis, so any host, a spare or a restarted one, resumes a workout."""

    def __init__(self, config: ActorConfig, namespace: str, cache_size: int = 10_000,
                 warm: int = 0) -> None:
        self._config = msgspec.structs.replace(config, exit_when_empty=True)
        self._namespace = namespace
        self._handles: OrderedDict[uuid.UUID, HostCalls] = OrderedDict()
        self._cache_size = cache_size
        self._redis: Any = redis.Redis.from_url(config.redis_url)
        self._prefix = config.redis_prefix
        self._spares = spares_key(config)
        self._warm = warm
        self._refiller: threading.Thread | None = None
        self._stopping = threading.Event()

    def actor_name(self, workout_id: uuid.UUID) -> str:
        return f"workout:{workout_id}"

    @property
    def spares_key(self) -> str:
        """The Redis list of this placement's spare hosts."""
        return self._spares

    def host_name(self, workout_id: uuid.UUID) -> str | None:
        """The spare host a workout took, from the registry (None: it has its own, or none)."""
        name = self._redis.get(keyspace.placement(self._prefix, workout_id))
        return name.decode() if name is not None else None

    def handle(self, workout_id: uuid.UUID) -> Any:
        return self.calls(workout_id).actor

    def calls(self, workout_id: uuid.UUID) -> HostCalls:
        calls = self._handles.get(workout_id)
        if calls is not None:
            self._handles.move_to_end(workout_id)
            return calls
        calls = self._handles[workout_id] = HostCalls(self._host_of(workout_id), linger_s=0.0)
        if len(self._handles) > self._cache_size:
            self._handles.popitem(last=False)
        return calls

    def _host_of(self, workout_id: uuid.UUID) -> Any:
        """The workout's host: the registered one, the one named after it, a spare from the
        pool, or a new one — in that order."""
        registered = keyspace.placement(self._prefix, workout_id)
        for _ in range(3):  # a registered host that is gone is dropped and looked for again
            name = self.host_name(workout_id)
            if name is not None:
                try:
                    return ray.get_actor(name, namespace=self._namespace)
                except ValueError:
                    self._redis.delete(registered)
                    continue
            try:
                return ray.get_actor(self.actor_name(workout_id), namespace=self._namespace)
            except ValueError:
                pass
            spare = self._take_spare()
            if spare is None:
                break
            name, host = spare
            if self._redis.set(registered, name, nx=True, ex=REGISTRY_TTL_S):
                self.keep_warm()
                return host
            self._redis.lpush(self._spares, name)  # another gateway won
        self.keep_warm()
        return RemoteWorkoutHost.options(name=self.actor_name(workout_id), namespace=self._namespace,
                                         num_cpus=0, **_ACTOR_OPTIONS).remote(self._config)

    def _take_spare(self) -> tuple[str, Any] | None:
        while (raw := self._redis.lpop(self._spares)) is not None:
            name = raw.decode()
            try:
                return name, ray.get_actor(name, namespace=self._namespace)
            except ValueError:  # gone with a Ray restart
                continue
        return None

    def keep_warm(self) -> None:
        """Keep the pool full from a thread of its own (returns at once)."""
        if self._warm and (self._refiller is None or not self._refiller.is_alive()):
            self._refiller = threading.Thread(target=self._refill, name="warm-hosts", daemon=True)
            self._refiller.start()

    def fill(self) -> int:
        """Start up to REFILL_AT_ONCE spares towards `warm` (blocking; returns how many).

        One gateway fills a pool at a time (a Redis lock beside the list): every gateway
        refills the shared pool, and two counting the same shortfall at once would both
        make it up."""
        spares = self._spares
        filling = self._redis.lock(f"{spares}:filling", timeout=WARM_UP_S + 30, blocking=False)
        if not filling.acquire():
            return 0
        try:
            missing = min(self._warm - int(self._redis.llen(spares)), REFILL_AT_ONCE)
            if missing <= 0:
                return 0
            names = [f"workout-spare:{uuid.uuid4()}" for _ in range(missing)]
            hosts: list[Any] = [RemoteWorkoutHost.options(name=name, namespace=self._namespace,
                                                          num_cpus=0, **_ACTOR_OPTIONS).remote(self._config)
                                for name in names]
            ray.get([h.warm_up.remote() for h in hosts], timeout=WARM_UP_S)  # up, connected, ready
            self._redis.rpush(spares, *names)
            return missing
        finally:
            try:
                filling.release()
            except redis.exceptions.LockError:  # held past its timeout: another may fill now
                pass

    def trim(self, keep: int) -> int:
        """Stop spares beyond `keep` (after a burst that needed a bigger pool); returns how many."""
        stopped = 0
        while int(self._redis.llen(self._spares)) > keep:
            raw = self._redis.rpop(self._spares)
            if raw is None:
                break
            try:
                ray.kill(ray.get_actor(raw.decode(), namespace=self._namespace), no_restart=True)
                stopped += 1
            except ValueError:
                pass
        return stopped

    def _refill(self) -> None:
        while not self._stopping.wait(REFILL_EVERY_S):
            try:
                self.fill()
            except Exception as exc:  # Ray or Redis away: the next round tries again
                log.warning("warm hosts not refilled: %s", exc)

    def stop(self, wait_s: float = 5.0) -> None:
        self._stopping.set()
        if self._refiller is not None:
            self._refiller.join(wait_s)  # a round under way ends with its spares listed
        self._redis.close()

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
            name = self.host_name(workout_id) or self.actor_name(workout_id)
            try:
                handle = ray.get_actor(name, namespace=self._namespace)
            except ValueError:
                handle = None
        self._redis.delete(keyspace.placement(self._prefix, workout_id))
        if handle is not None:
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

    def keep_warm(self) -> None:
        """The hosts are few and long-lived: nothing to keep ahead."""

    def stop(self, wait_s: float = 5.0) -> None:
        pass


def make_placement(kind: str, config: ActorConfig, namespace: str, hosts: int,
                   warm: int = 0) -> Placement:
    """`hosts`: the sharded placement's host actors; `warm`: the dedicated one's spares."""
    if kind == "sharded":
        return ShardedPlacement(config, namespace, hosts)
    return DedicatedPlacement(config, namespace, warm=warm)
