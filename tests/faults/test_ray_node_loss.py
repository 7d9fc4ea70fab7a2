"""A two-node Ray cluster on this machine loses the node hosting a workout actor: Ray restarts
the actor on the surviving node, it resumes from its Redis snapshot, the device resends from
its last acknowledgement, and every acknowledged sample is on Kafka with the summary equal to
an undisturbed fold of the same samples. The cluster runs in a process of its own
(ray_two_nodes.py); Kafka and Redis are the local stack's, under a prefix of the test's own."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer
from ray_two_nodes import USER, N, samples

from actors.workout import Workout
from stack.settings import Settings
from storage import keyspace
from streams import events, topics
from streams.tls import kafka_options

pytestmark = pytest.mark.faults

HERE = Path(__file__).resolve().parent


async def _published_seqs(stack: Settings, prefix: str, workout_id: uuid.UUID) -> set[int]:
    consumer = AIOKafkaConsumer(prefix + topics.SAMPLES, bootstrap_servers=stack.kafka, **kafka_options(),
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    seqs: set[int] = set()
    try:
        while batch := await consumer.getmany(timeout_ms=3000):
            for records in batch.values():
                for r in records:
                    event = events.decode(r.value)
                    if isinstance(event, events.SamplesAccepted) and event.workout_id == workout_id:
                        seqs.update(range(event.seq, event.seq + len(event.samples)))
    finally:
        await consumer.stop()
    return seqs


async def test_a_ray_node_lost_under_a_workout_actor(stack: Settings, unique: str, tmp_path: Path) -> None:
    prefix = f"{unique}."
    await topics.ensure_topics(stack.kafka, partitions=2, replication=1, min_insync=1, prefix=prefix)
    wid, t0 = uuid.uuid4(), 1_790_000_000_000
    argv = [sys.executable, str(HERE / "ray_two_nodes.py"), stack.kafka, stack.redis_url, prefix,
            str(wid), str(t0), str(tmp_path / "result.json")]
    run = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=240,
                                  cwd=HERE.parents[1])
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    print(f"\nRay node lost: the actor moved to the other node and acknowledged again "
          f"{result['recovered_s']:.1f} s later")
    assert result["moved"] and result["acked"] == N - 1 and result["status"] == "finished"

    assert await _published_seqs(stack, prefix, wid) >= set(range(N))  # acked ⊆ on Kafka
    with redis.Redis.from_url(stack.redis_url) as client:
        snapshot = client.get(keyspace.snapshot(prefix, wid))
    assert snapshot is not None
    got = Workout.restore(snapshot).summary()
    reference = Workout.create(wid, uuid.UUID(USER), "run", t0)
    reference.start()
    reference.apply_samples(0, samples(0, N, t0))
    reference.finish(t0 + 1000 * N)
    want = reference.summary()
    assert (got.status, got.last_seq, got.samples_count, got.moving_time_s) == (
        want.status, want.last_seq, want.samples_count, want.moving_time_s)
    for field in ("distance_m", "elevation_gain_m", "elevation_loss_m", "calories_kcal", "trimp"):
        assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-9), field
