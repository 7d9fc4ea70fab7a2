"""Redis at rest, on the stack's real Ray, Kafka, Redis and PostgreSQL and its (development)
keys: a live workout's snapshot, journal and live state hold no position, heart rate or
athlete id in clear; an actor killed and restarted opens them and resumes exactly; once the
athlete's data key is shredded, their saved workout is gone for a restarted host, which goes
on serving the other athletes."""

from __future__ import annotations

import os
import signal
import struct
import uuid
from collections.abc import AsyncIterator, Iterator

import msgspec
import psycopg
import pytest
import ray
import redis.asyncio as aioredis

from actors.placement import Placement, make_placement
from actors.shell import ActorConfig, load_saved
from actors.workout import Workout
from privacy import sealed_values
from privacy.keys import DataKeys
from stack.settings import Settings
from storage import data_keys, keyspace
from streams import live, topics

pytestmark = pytest.mark.integration
T0 = 1_790_000_000_000


@pytest.fixture(scope="module")
def ray_driver(stack: Settings) -> Iterator[None]:
    if not ray.is_initialized():
        ray.init(address=stack.ray_address, namespace="stride-tests", log_to_driver=False)
    yield


def _athlete(stack: Settings) -> uuid.UUID:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        row = conn.execute("INSERT INTO users (email) VALUES (%s) RETURNING id",
                           (f"sealed-{uuid.uuid4().hex[:12]}@example.test",)).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def _shred(stack: Settings, athlete: uuid.UUID) -> None:
    """What erasure does to the key (privacy/keys.py DataKeys.shred), from another process."""
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM user_data_keys WHERE user_id = %s", (athlete,))


@pytest.fixture
def athletes(stack: Settings) -> Iterator[list[uuid.UUID]]:
    made = [_athlete(stack), _athlete(stack)]
    yield made
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:  # their key rows go with them
        conn.execute("DELETE FROM users WHERE id = ANY(%s)", (made,))


@pytest.fixture
async def keys(stack: Settings) -> AsyncIterator[DataKeys]:
    """The test's own view of the data keys (as the gateway holds them)."""
    found = data_keys.on_demand(stack.pg_dsn, str(stack.keys_path))
    yield found
    await found._pool.close()  # type: ignore[attr-defined]


async def _placement(stack: Settings, unique: str, kind: str) -> tuple[Placement, str]:
    prefix = f"{unique}."
    await topics.ensure_topics(stack.kafka, partitions=1, replication=1, min_insync=1, prefix=prefix)
    config = ActorConfig(kafka=stack.kafka, redis_url=stack.redis_url, redis_prefix=unique,
                         topic_prefix=prefix, pg_dsn=stack.pg_dsn, keys_dir=str(stack.keys_path))
    namespace = f"stride-tests-{unique}"
    return make_placement(kind, config, namespace, hosts=1), namespace


def _samples(seq: int, n: int) -> list[tuple[int, float, float, float, float, float]]:
    return [(T0 + 1000 * (seq + i), 45.123457 + 2.5e-5 * (seq + i), 7.654321, 100.0, 141.0 + i % 9, 97.0)
            for i in range(n)]


def _needles(athlete: uuid.UUID, samples: list[tuple[int, float, float, float, float, float]]) -> set[bytes]:
    """How a position, a heart rate or the athlete reads in a plain value: a msgpack double
    (snapshot, journal), a JSON number or field (live state), the id as text or bytes."""
    found = {str(athlete).encode(), athlete.bytes, b'"hr_bpm"', b'"lat"'}
    for s in samples:
        found |= {struct.pack(">d", s[1]), struct.pack(">d", s[4]), msgspec.json.encode(s[1])}
    return found


async def _raw_values(client: aioredis.Redis, unique: str) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    async for name in client.scan_iter(match=f"{unique}:*"):
        kind = (await client.type(name)).decode()
        out[name.decode()] = (await client.lrange(name, 0, -1) if kind == "list"
                              else [await client.get(name)] if kind == "string" else [])
    return out


async def test_redis_holds_nothing_in_clear_and_a_killed_actor_resumes_exactly(
        stack: Settings, unique: str, ray_driver: None, athletes: list[uuid.UUID], keys: DataKeys,
        eventually) -> None:  # type: ignore[no-untyped-def]
    athlete, user = athletes[0], str(athletes[0])
    placement, _ = await _placement(stack, unique, "dedicated")
    wid = uuid.uuid4()
    actor, w = placement.handle(wid), str(wid)
    assert (await actor.start.remote(w, user, "run", T0)).acked_seq == -1
    assert (await actor.samples.remote(w, user, 0, _samples(0, 20))).acked_seq == 19
    assert (await actor.samples.remote(w, user, 20, _samples(20, 20))).acked_seq == 39
    client = aioredis.from_url(stack.redis_url)
    try:
        state_key = keyspace.live_state(unique, wid)

        async def metrics_live() -> bool:  # opened as a coach's snapshot opens it
            newest = (await live.read_states(client, unique, [wid], keys))[0]
            return newest is not None and newest["event"] == "WorkoutMetricsUpdated"

        await eventually(metrics_live, timeout_s=20)
        raw = await _raw_values(client, unique)
        assert {keyspace.snapshot(unique, wid), keyspace.journal(unique, wid), state_key} <= set(raw)
        needles = _needles(athlete, _samples(0, 40))
        assert [(name, n) for name, values in raw.items() for v in values for n in needles if n in v] == []

        # The same check finds them in the values opened: it can fail.
        snapshot_key, journal_key = keyspace.snapshot(unique, wid), keyspace.journal(unique, wid)
        snapshot = await sealed_values.open_value(keys, snapshot_key, raw[snapshot_key][0])
        journal = [await sealed_values.open_value(keys, journal_key, e) for e in raw[journal_key]]
        state = await sealed_values.open_value(keys, state_key, raw[state_key][0])
        assert {b'"hr_bpm"', b'"lat"', str(athlete).encode()} <= {n for n in needles if n in state}
        assert struct.pack(">d", _samples(0, 40)[-1][1]) in b"".join([snapshot, *journal])
        assert load_saved(snapshot, journal).acked_seq == 39
        # A sealed value copied under another key does not open.
        with pytest.raises(sealed_values.Unreadable):
            await sealed_values.open_value(keys, keyspace.snapshot(unique, uuid.uuid4()),
                                           raw[snapshot_key][0])

        # SIGKILL the actor's process; Ray restarts it and it opens what it saved.
        os.kill(await actor.pid.remote(), signal.SIGKILL)
        again = await actor.samples.remote(w, user, 40, _samples(40, 20))
        assert again.error_code is None and again.acked_seq == 59
        assert (await actor.control.remote(w, user, "finish", T0 + 61_000)).status == "finished"
        placement.release(wid)
        saved = await client.get(snapshot_key)
    finally:
        await client.aclose()
    restored = Workout.restore(await sealed_values.open_value(keys, snapshot_key, saved))
    reference = Workout.create(wid, athlete, "run", T0)
    reference.start()
    reference.apply_samples(0, _samples(0, 20))
    reference.apply_samples(20, _samples(20, 20))
    reference.apply_samples(40, _samples(40, 20))
    reference.finish(T0 + 61_000)
    got, want = restored.summary(), reference.summary()
    assert (got.status, got.last_seq, got.samples_count, got.moving_time_s, got.max_hr) == (
        want.status, want.last_seq, want.samples_count, want.moving_time_s, want.max_hr)
    assert got.distance_m == pytest.approx(want.distance_m, rel=1e-12)


async def test_a_shredded_athletes_saved_workout_is_gone_and_the_host_goes_on(
        stack: Settings, unique: str, ray_driver: None, athletes: list[uuid.UUID], keys: DataKeys,
        eventually) -> None:  # type: ignore[no-untyped-def]
    erased, kept = athletes
    placement, namespace = await _placement(stack, unique, "sharded")  # one host: both workouts
    gone_w, kept_w = uuid.uuid4(), uuid.uuid4()
    host = placement.handle(gone_w)
    try:
        for wid, athlete in ((gone_w, erased), (kept_w, kept)):
            assert (await host.start.remote(str(wid), str(athlete), "run", T0)).acked_seq == -1
            assert (await host.samples.remote(str(wid), str(athlete), 0, _samples(0, 10))).acked_seq == 9
        client = aioredis.from_url(stack.redis_url)
        try:
            async def both_live() -> bool:
                return await client.exists(keyspace.live_state(unique, gone_w),
                                           keyspace.live_state(unique, kept_w)) == 2

            await eventually(both_live, timeout_s=20)
            _shred(stack, erased)
            keys.forget(erased)
            os.kill(await host.pid.remote(), signal.SIGKILL)  # a new process: no key cached
            gone = await host.samples.remote(str(gone_w), str(erased), 10, _samples(10, 5))
            assert gone.error_code == "not_started"  # gone, not a crash
            on = await host.samples.remote(str(kept_w), str(kept), 10, _samples(10, 5))
            assert on.error_code is None and on.acked_seq == 14
            assert await host.held.remote() == 2
            states = await live.read_states(client, unique, [gone_w, kept_w], keys)
        finally:
            await client.aclose()
        assert states[0] is None and states[1] is not None and states[1]["athlete_id"] == str(kept)
    finally:
        ray.kill(ray.get_actor("workout-host:0", namespace=namespace), no_restart=True)
