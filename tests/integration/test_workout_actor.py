"""The workout actor on the stack's real Ray, Kafka and Redis, in its own namespace and prefixes."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import ray
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from actors.placement import Placement, ShardedPlacement, make_placement
from actors.shell import ActorConfig, load_saved
from actors.workout import Workout
from stack.settings import Settings
from storage import keyspace
from streams import events, topics
from streams.tls import kafka_options

pytestmark = pytest.mark.integration
USER = str(uuid.uuid4())


@pytest.fixture(scope="module")
def ray_driver(stack: Settings) -> Iterator[None]:
    if not ray.is_initialized():
        ray.init(address=stack.ray_address, namespace="stride-tests", log_to_driver=False)
    yield


@pytest.fixture(params=["dedicated", "sharded"])
async def placement(request: pytest.FixtureRequest, stack: Settings, unique: str,
                    ray_driver: None) -> AsyncIterator[Placement]:
    prefix = f"{unique}."
    await topics.ensure_topics(stack.kafka, partitions=2, replication=1, min_insync=1, prefix=prefix)
    config = ActorConfig(kafka=stack.kafka, redis_url=stack.redis_url, redis_prefix=unique,
                         topic_prefix=prefix)
    namespace = f"stride-tests-{unique}"
    placement = make_placement(request.param, config, namespace, hosts=2)
    yield placement
    if request.param == "sharded":  # the test's own host actors
        for shard in range(2):
            try:
                ray.kill(ray.get_actor(f"workout-host:{shard}", namespace=namespace), no_restart=True)
            except ValueError:
                pass  # no workout of this test hashed onto that host


def _samples(seq: int, n: int, t0: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(t0 + 1000 * (seq + i), 45.0 + 2.5e-5 * (seq + i), 7.0, 100.0, 150.0, 98.0)
            for i in range(n)]


async def _published_seqs(stack: Settings, prefix: str, workout_id: uuid.UUID) -> list[int]:
    consumer = AIOKafkaConsumer(prefix + topics.SAMPLES, bootstrap_servers=stack.kafka, **kafka_options(),
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    seqs: list[int] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=3000)
            if not batch:
                return sorted(seqs)
            for records in batch.values():
                for r in records:
                    event = events.decode(r.value)
                    if event.workout_id == workout_id:
                        assert isinstance(event, events.SamplesAccepted)
                        seqs.extend(range(event.seq, event.seq + len(event.samples)))
    finally:
        await consumer.stop()


async def test_actor_applies_each_sample_once_and_survives_a_restart(
    stack: Settings, placement: Placement, unique: str
) -> None:
    wid = uuid.uuid4()
    t0 = 1_790_000_000_000
    actor, w = placement.handle(wid), str(wid)
    assert (await actor.start.remote(w, USER, "run", t0)).acked_seq == -1
    assert (await actor.samples.remote(w, USER, 0, _samples(0, 20, t0))).acked_seq == 19
    resent = await actor.samples.remote(w, USER, 10, _samples(10, 20, t0))  # 10 old + 10 new
    assert resent.acked_seq == 29 and resent.error_code is None
    # A resend publishes only what is new.
    assert await _published_seqs(stack, f"{unique}.", wid) == list(range(30))

    # SIGKILL the actor's process; Ray restarts it and it resumes from the Redis snapshot.
    os.kill(await actor.pid.remote(), signal.SIGKILL)
    again = await actor.samples.remote(w, USER, 20, _samples(20, 20, t0))
    assert again.error_code is None and again.acked_seq == 39

    ahead = await actor.samples.remote(w, USER, 50, _samples(50, 5, t0))  # waits for 40..49
    assert ahead.error_code is None and ahead.acked_seq == 39
    foreign = await actor.samples.remote(w, str(uuid.uuid4()), 40, _samples(40, 5, t0))
    assert foreign.error_code == "foreign_workout"

    finished = await actor.control.remote(w, USER, "finish", t0 + 60_000)
    assert finished.status == "finished"
    placement.release(wid)

    client = aioredis.from_url(stack.redis_url)
    try:
        snapshot = await client.get(keyspace.snapshot(unique, wid))
    finally:
        await client.aclose()
    assert snapshot is not None
    restored = Workout.restore(snapshot)
    reference = Workout.create(wid, uuid.UUID(USER), "run", t0)
    reference.start()
    reference.apply_samples(0, _samples(0, 40, t0))
    reference.finish(t0 + 60_000)
    got, want = restored.summary(), reference.summary()
    # Batching changes only the version count and float summation order.
    assert (got.status, got.last_seq, got.samples_count, got.moving_time_s) == (
        want.status, want.last_seq, want.samples_count, want.moving_time_s)
    assert got.distance_m == pytest.approx(want.distance_m, rel=1e-12)
    # The line's length, less what the noise correction takes off clean fixes (< 1 %).
    assert restored.summary().distance_m == pytest.approx(39 * 2.5e-5 * 111_195.08, rel=1e-2)
    # Every acknowledged sample is on Kafka. A call cut short by the kill may have been
    # published before the snapshot was saved and again after the restart: Kafka is
    # at-least-once here, and the sinks' (workout_id, seq, t) keys make storage exactly-once.
    assert set(await _published_seqs(stack, f"{unique}.", wid)) == set(range(40))


async def test_samples_before_start_are_refused(placement: Placement) -> None:
    wid = uuid.uuid4()
    actor = placement.handle(wid)
    reply = await actor.samples.remote(str(wid), USER, 0, _samples(0, 3, 1_790_000_000_000))
    assert reply.error_code == "not_started"
    placement.release(wid)


async def test_coalesced_batches_of_many_workouts_are_each_applied_once(
    stack: Settings, placement: Placement, unique: str
) -> None:
    """40 workouts stream concurrently through HostCalls (so one host call carries many of
    them, duplicates included); each ends exactly where the same samples sent alone end."""
    t0 = 1_790_000_000_000
    wids = [uuid.uuid4() for _ in range(40 if isinstance(placement, ShardedPlacement) else 6)]
    for wid in wids:
        assert (await placement.handle(wid).start.remote(str(wid), USER, "run", t0)).acked_seq == -1

    async def stream(wid: uuid.UUID) -> list[int]:
        calls = placement.calls(wid)
        acks = []
        for seq in range(0, 30, 5):
            first, again = await asyncio.gather(  # a resend racing its original
                calls.samples(str(wid), USER, seq, _samples(seq, 5, t0)),
                calls.samples(str(wid), USER, seq, _samples(seq, 5, t0)))
            assert first.error_code is None and again.error_code is None
            acks.append(max(first.acked_seq, again.acked_seq))
        return acks

    results = await asyncio.gather(*(stream(wid) for wid in wids))
    assert all(acks == [4, 9, 14, 19, 24, 29] for acks in results)
    client = aioredis.from_url(stack.redis_url)
    try:
        snapshots = await client.mget([keyspace.snapshot(unique, wid) for wid in wids])
        journals = [await client.lrange(keyspace.journal(unique, wid), 0, -1) for wid in wids]
    finally:
        await client.aclose()
    alone = Workout.create(wids[0], uuid.UUID(USER), "run", t0)
    alone.start()
    alone.apply_samples(0, _samples(0, 30, t0))
    for data, journal in zip(snapshots, journals, strict=True):
        # The start wrote the whole state; the batches since went to the journal.
        assert Workout.restore(data).acked_seq == -1 and len(journal) == 6
        restored = load_saved(data, journal)
        assert restored.acked_seq == 29
        assert restored.summary().distance_m == pytest.approx(alone.summary().distance_m, rel=1e-12)
    for wid in wids:
        placement.release(wid)
