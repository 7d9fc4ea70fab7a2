"""Crypto-shredding on the real stack's Kafka, a stream worker of the test's own and its
database: health payloads go out sealed with the athlete's data key, a plain consumer sees
no id, heart rate or position in the raw records, and once the key row is deleted the
records cannot be opened any more — a worker meeting one again skips it and counts it."""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from psycopg_pool import AsyncConnectionPool

from privacy.keys import DataKeys, load_keyring
from stack.settings import Settings
from stack.worker_process import StreamWorker
from streams import events, sealing, topics
from streams.producer import EventProducer
from streams.tls import kafka_options

pytestmark = pytest.mark.integration

ATHLETE = uuid.UUID("00000000-0000-4000-8000-000000000001")  # the dev user of migrated_db
T0 = 1_764_000_000_000
HR_BPM, LAT, LON = 163.0, 47.3769168, 8.5416941


@pytest.fixture
async def pool(migrated_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(migrated_db, min_size=1, max_size=2, open=False) as opened:
        yield opened


def _batch(workout: uuid.UUID, seq: int) -> events.SamplesAccepted:
    return events.SamplesAccepted(
        workout_id=workout, user_id=ATHLETE, sport="run", seq=seq,
        samples=[(T0 + (seq + i) * 1000, LAT, LON, 412.0, HR_BPM, 96.0) for i in range(5)])


async def _raw(stack: Settings, topic: str, want: int) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka, **kafka_options(),
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        while len(found) < want:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"{len(found)} of {want} records within 10 s"
            for records in batch.values():
                found += records
    finally:
        await consumer.stop()
    return found


def _traces(workout: uuid.UUID) -> list[bytes]:
    """How the athlete, the workout, a heart rate or a position would read in clear."""
    floats = [v for x in (HR_BPM, LAT, LON) for v in (struct.pack(">d", x), struct.pack(">f", x))]
    return [ATHLETE.bytes, str(ATHLETE).encode(), ATHLETE.hex.encode(), workout.bytes,
            str(workout).encode(), msgspec.msgpack.encode(HR_BPM), *floats, b"hr_bpm",
            b"samples_accepted"]


async def _worker_health(worker: StreamWorker) -> dict[str, int]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{worker.port}/healthz/", timeout=5)
    return answer.json()  # type: ignore[no-any-return]


async def test_sealed_records_hide_the_athlete_and_are_unreadable_once_the_key_is_gone(
        stack: Settings, stream_worker: StreamWorker, pool: AsyncConnectionPool,
        eventually) -> None:  # type: ignore[no-untyped-def]
    keys = DataKeys(pool, load_keyring(stack.keys_path))
    workout = uuid.uuid4()
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix, keys=keys)
    try:
        await producer.publish([(topics.SAMPLES, _batch(workout, 0)),
                                (topics.SAMPLES, _batch(workout, 5))])
    finally:
        await producer.stop()

    async def stored() -> int:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM sensor_data WHERE workout_id = %s"
                                     " AND hr_bpm = %s", (workout, HR_BPM))
            return int((await cur.fetchone() or [0])[0])
    assert await eventually(lambda: _at_least(stored, 10)) == 10  # the worker opened them

    raw = await _raw(stack, stream_worker.topic_prefix + topics.SAMPLES, 2)
    key = await keys.for_user(ATHLETE)
    for record in raw:
        assert record.key == key.key_id.bytes  # a random id, not the athlete's nor the workout's
        for trace in _traces(workout):
            assert trace not in record.value and trace not in (record.key or b""), trace
        envelope = sealing.peek(record.value)
        assert isinstance(envelope, sealing.SealedEvent) and envelope.key_id == key.key_id
    opened = await sealing.open_value(raw[0].value, keys)
    assert opened in (_batch(workout, 0), _batch(workout, 5))

    async with pool.connection() as conn:  # what erasure does (the users row cascades here)
        await conn.execute("DELETE FROM user_data_keys WHERE user_id = %s", (ATHLETE,))
    keys.forget(ATHLETE)
    assert await sealing.open_value(raw[0].value, keys) is None
    assert await sealing.open_value(raw[1].value, DataKeys(pool, keys.ring)) is None

    # The records met again (a redelivery, a dead-letter replay): skipped and counted. The
    # worker may still hold the key for its cache's 30 s, so the copy goes again until then.
    replay = AIOKafkaProducer(bootstrap_servers=stack.kafka, **kafka_options(), acks="all",
                              enable_idempotence=True)
    await replay.start()
    try:
        async def skipped() -> int:
            await replay.send_and_wait(stream_worker.topic_prefix + topics.SAMPLES, raw[0].value,
                                       key=raw[0].key)
            health = await _worker_health(stream_worker)
            return health["shredded_skipped"] if health["shredded_skipped"] > 0 else 0
        assert await eventually(skipped, timeout_s=90, interval_s=2.0) >= 1
    finally:
        await replay.stop()
    health = await _worker_health(stream_worker)
    assert health["ok"] and health["dead_lettered"] == 0
    assert await stored() == 10  # nothing written twice, nothing lost


async def test_events_of_an_erased_person_are_not_produced(
        stack: Settings, unique: str, pool: AsyncConnectionPool) -> None:
    keys = DataKeys(pool, load_keyring(stack.keys_path))
    prefix = f"{unique}."
    await topics.ensure_topics(stack.kafka, partitions=1, replication=1, min_insync=1,
                               prefix=prefix)
    gone = events.SamplesAccepted(workout_id=uuid.uuid4(), user_id=uuid.uuid4(), sport="run",
                                  seq=0, samples=[(T0, LAT, LON, 1.0, HR_BPM, 97.0)])
    producer = EventProducer(stack.kafka, topic_prefix=prefix, keys=keys)
    try:
        await producer.publish([(topics.SAMPLES, gone), (topics.SAMPLES, _batch(uuid.uuid4(), 0))])
    finally:
        await producer.stop()
    assert producer.erased_dropped == 1
    raw = await _raw(stack, prefix + topics.SAMPLES, 1)
    assert len(raw) == 1 and gone.user_id.bytes not in raw[0].value
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka, **kafka_options())
    await admin.start()
    try:
        await admin.delete_topics([prefix + spec.name for spec in topics.TOPICS])
    finally:
        await admin.close()


async def _at_least(count, n: int) -> int:  # type: ignore[no-untyped-def]
    found = await count()
    return found if found >= n else 0
