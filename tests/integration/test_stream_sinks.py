"""The stream worker's sinks against real Kafka, PostgreSQL and Redis: exactly the
acknowledged samples, nothing lost or doubled across a worker SIGKILL or a PostgreSQL
restart, poison to the dead-letter topic, live metrics with their rollup, and
the workouts projection with its GPS path."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from pathlib import Path

import msgspec
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from private_postgres import PrivatePostgres

from stack.settings import Settings
from stack.worker_process import StreamWorker, free_port
from storage import timeseries
from storage.users import ensure_dev_user
from streams import events, topics
from streams.producer import EventProducer
from streams.tls import kafka_options

pytestmark = pytest.mark.integration

ATHLETE = uuid.UUID("00000000-0000-4000-8000-000000000001")  # the dev user of migrated_db
# Two hours ago, on the hour: inside every retention window. A stream worker runs the
# retention job when it starts (storage/retention.py), and a fixed date in the past fell out
# of the live metrics' 90 days, so the job deleted rows while the test was writing them.
T0 = (int(time.time()) // 3600 - 2) * 3_600_000


def samples_batch(workout: uuid.UUID, seq: int, n: int = 5, hr: float = 140.0) -> events.SamplesAccepted:
    return events.SamplesAccepted(
        workout_id=workout, user_id=ATHLETE, sport="run", seq=seq,
        samples=[(T0 + (seq + i) * 1000, 45.0 + (seq + i) * 1e-4, 7.0, 300.0, hr, 97.0)
                 for i in range(n)])


def stream_of(workouts: list[uuid.UUID], batches: int, n: int = 5) -> list[events.SamplesAccepted]:
    return [samples_batch(w, b * n, n) for b in range(batches) for w in workouts]


async def stored_keys(dsn: str) -> list[tuple[uuid.UUID, int]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT workout_id, seq FROM sensor_data ORDER BY 1, 2")
        return [(r[0], r[1]) for r in await cur.fetchall()]


def expected_keys(sent: list[events.SamplesAccepted]) -> list[tuple[uuid.UUID, int]]:
    return sorted({(b.workout_id, b.seq + i) for b in sent for i in range(len(b.samples))})


async def publish_paced(producer: EventProducer, sent: list[events.SamplesAccepted],
                        every_s: float) -> None:
    for batch in sent:
        await producer.publish([(topics.SAMPLES, batch)])
        await asyncio.sleep(every_s)  # a device's pace, so the stream spans the fault


async def until_stored(eventually, dsn: str, want: list[tuple[uuid.UUID, int]],  # type: ignore[no-untyped-def]
                       timeout_s: float = 60) -> None:
    async def complete() -> bool:
        return len(await stored_keys(dsn)) >= len(want)
    await eventually(complete, timeout_s=timeout_s)


async def test_samples_table_holds_exactly_the_acknowledged_samples(
        stack: Settings, stream_worker: StreamWorker, eventually) -> None:  # type: ignore[no-untyped-def]
    workouts = [uuid.uuid4() for _ in range(3)]
    sent = stream_of(workouts, 40)
    resent = random.Random(7).sample(sent, 15)  # devices resending what was not acked yet
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    try:
        await producer.publish([(topics.SAMPLES, b) for b in sent + resent])
    finally:
        await producer.stop()
    want = expected_keys(sent)
    await until_stored(eventually, stream_worker.pg_dsn, want)
    assert await stored_keys(stream_worker.pg_dsn) == want


async def test_a_worker_killed_mid_stream_leaves_nothing_missing_or_doubled(
        stack: Settings, stream_worker: StreamWorker, eventually) -> None:  # type: ignore[no-untyped-def]
    workouts = [uuid.uuid4() for _ in range(4)]
    sent = stream_of(workouts, 60)
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    try:
        streaming = asyncio.create_task(publish_paced(producer, sent, every_s=0.02))
        await eventually(lambda: _some_stored(stream_worker.pg_dsn), timeout_s=30)
        stream_worker.kill()  # SIGKILL: no shutdown, no final commit
        killed_at = len(await stored_keys(stream_worker.pg_dsn))
        await asyncio.sleep(1.0)  # the stream goes on while no worker runs
        await asyncio.to_thread(stream_worker.start)
        await streaming
    finally:
        await producer.stop()
    want = expected_keys(sent)
    assert killed_at < len(want), "the kill came after the stream had been written"
    await until_stored(eventually, stream_worker.pg_dsn, want)
    assert await stored_keys(stream_worker.pg_dsn) == want


async def _some_stored(dsn: str) -> bool:
    return len(await stored_keys(dsn)) > 0


async def test_a_postgres_restart_delays_writes_but_loses_none(
        stack: Settings, unique: str, eventually) -> None:  # type: ignore[no-untyped-def]
    home = stack.home_path / "test-pg" / unique
    home.mkdir(parents=True)
    pg = PrivatePostgres(home, free_port())
    pg.start()  # initdb makes the password the DSN carries
    worker = StreamWorker(stack, unique, pg.dsn, home)
    try:
        pg.migrate()
        ensure_dev_user(pg.dsn, ATHLETE)
        await worker.create_topics()
        worker.start()
        workouts = [uuid.uuid4() for _ in range(3)]
        sent = stream_of(workouts, 60)
        producer = EventProducer(stack.kafka, topic_prefix=worker.topic_prefix)
        try:
            streaming = asyncio.create_task(publish_paced(producer, sent, every_s=0.03))
            await eventually(lambda: _some_stored(pg.dsn), timeout_s=30)
            pg.stop()
            await asyncio.sleep(3.0)  # the database is away while the stream goes on
            assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
            pg.start()
            await streaming
        finally:
            await producer.stop()
        want = expected_keys(sent)
        await until_stored(eventually, pg.dsn, want)
        assert await stored_keys(pg.dsn) == want
        assert worker.health()["dead_lettered"] == 0
    finally:
        worker.stop()
        pg.stop()
        await worker.delete_topics()
        _remove(home)


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


async def dead_letters(stack: Settings, topic: str, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka,
                                **kafka_options(), auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    got: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    got += [(r.value, dict(r.headers)) for r in records]
    finally:
        await consumer.stop()
    return got


async def test_a_poison_record_goes_to_the_dead_letter_topic_while_the_rest_flows(
        stack: Settings, stream_worker: StreamWorker, eventually) -> None:  # type: ignore[no-untyped-def]
    workout = uuid.uuid4()
    good = stream_of([workout], 20)
    poison = samples_batch(uuid.uuid4(), 0, hr=400.0)  # beyond sensor_data_hr_bpm_check
    garbage = b"\x93not msgpack of an event"
    raw = AIOKafkaProducer(bootstrap_servers=stack.kafka, **kafka_options(), acks="all")
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    await raw.start()
    try:
        await producer.publish([(topics.SAMPLES, b) for b in good[:10]])
        await producer.publish([(topics.SAMPLES, poison)])
        await raw.send_and_wait(stream_worker.topic_prefix + topics.SAMPLES, garbage,
                                key=workout.bytes)
        await producer.publish([(topics.SAMPLES, b) for b in good[10:]])
    finally:
        await raw.stop()
        await producer.stop()
    want = expected_keys(good)
    await until_stored(eventually, stream_worker.pg_dsn, want)
    assert await stored_keys(stream_worker.pg_dsn) == want
    letters = await dead_letters(stack, stream_worker.topic_prefix + topics.DEAD_LETTER, 2)
    by_value = {value: headers for value, headers in letters}
    assert set(by_value) == {events.encode(poison), garbage}
    assert b"sensor_data_hr_bpm_check" in by_value[events.encode(poison)]["error"]
    assert by_value[garbage]["error"].startswith(b"undecodable")
    assert all(h["source"] == (stream_worker.topic_prefix + topics.SAMPLES).encode()
               for h in by_value.values())
    assert stream_worker.health()["dead_lettered"] == 2


def metrics_event(workout: uuid.UUID, second: int, version: int, status: str = "active",
                  hr: float | None = 150.0) -> events.WorkoutMetricsUpdated:
    summary = events.WorkoutSummary(version=version, status=status, sport="run",  # type: ignore[arg-type]
                                    started_at_ms=T0, last_seq=second, samples_count=second + 1,
                                    distance_m=3.0 * second, moving_time_s=float(second),
                                    duration_s=float(second), calories_kcal=0.2 * second)
    return events.WorkoutMetricsUpdated(workout_id=workout, user_id=ATHLETE,
                                        t_ms=T0 + second * 1000, summary=summary,
                                        speed_mps=3.0 + (second % 7) * 0.1, hr_bpm=hr,
                                        spo2_pct=97.0 - (second % 3))


async def test_live_metrics_are_stored_and_rolled_up_per_minute(
        stack: Settings, stream_worker: StreamWorker, eventually) -> None:  # type: ignore[no-untyped-def]
    workout = uuid.uuid4()
    updates = [metrics_event(workout, s, version=s + 1, hr=None if s % 10 == 0 else 150.0 + s % 5)
               for s in range(150)]  # 2.5 minutes at 1 Hz
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    try:
        await producer.publish([(topics.METRICS, u) for u in updates])
        await producer.publish([(topics.METRICS, u) for u in updates[:40]])  # redelivered

        async def stored() -> bool:
            async with await psycopg.AsyncConnection.connect(stream_worker.pg_dsn) as conn:
                cur = await conn.execute("SELECT count(*) FROM workout_metrics")
                row = await cur.fetchone()
                return row is not None and row[0] == len(updates)
        await eventually(stored, timeout_s=60)

        async with await psycopg.AsyncConnection.connect(stream_worker.pg_dsn) as conn:
            minutes = await timeseries.minute_metrics(conn, workout)
        assert [m.snapshots for m in minutes] == _per_minute_counts(updates)
        for minute in minutes:
            inside = [u for u in updates if _minute_of(u.t_ms) == minute.minute.timestamp()]
            hrs = [u.hr_bpm for u in inside if u.hr_bpm is not None]
            assert minute.avg_hr == pytest.approx(sum(hrs) / len(hrs))
            assert minute.max_hr == max(hrs)
            assert minute.min_spo2 == min(u.spo2_pct for u in inside if u.spo2_pct is not None)
            assert minute.distance_m == max(u.summary.distance_m for u in inside)
            assert minute.avg_speed_mps == pytest.approx(
                sum(u.speed_mps or 0 for u in inside) / len(inside), rel=1e-6)
    finally:
        await producer.stop()


def _minute_of(t_ms: int) -> float:
    return float(t_ms // 60_000 * 60)


def _per_minute_counts(updates: list[events.WorkoutMetricsUpdated]) -> list[int]:
    counts: dict[float, int] = {}
    for u in updates:
        counts[_minute_of(u.t_ms)] = counts.get(_minute_of(u.t_ms), 0) + 1
    return [counts[k] for k in sorted(counts)]


async def test_a_finished_workout_gets_its_summary_and_gps_path(
        stack: Settings, stream_worker: StreamWorker, eventually) -> None:  # type: ignore[no-untyped-def]
    workout = uuid.uuid4()
    batches = [samples_batch(workout, b * 5) for b in range(24)]  # 120 samples, all with GPS
    start = events.WorkoutSummary(version=1, status="active", sport="run", started_at_ms=T0)
    done = msgspec.structs.replace(start, version=200, status="finished", ended_at_ms=T0 + 120_000,
                                   last_seq=119, samples_count=120, distance_m=1337.0)
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    try:
        await producer.publish([(topics.LIFECYCLE, events.WorkoutStarted(
            workout_id=workout, user_id=ATHLETE, summary=start))])
        # The completion overtakes most samples: the path must wait for them.
        await producer.publish([(topics.SAMPLES, b) for b in batches[:3]])
        await producer.publish([(topics.LIFECYCLE, events.WorkoutCompleted(
            workout_id=workout, user_id=ATHLETE, at_ms=T0 + 120_000, summary=done))])
        await asyncio.sleep(1.0)  # the completion is projected before the other samples
        await producer.publish([(topics.SAMPLES, b) for b in batches[3:]])
    finally:
        await producer.stop()

    async def path() -> dict[str, object] | None:
        async with await psycopg.AsyncConnection.connect(stream_worker.pg_dsn) as conn:
            cur = await conn.execute(
                "SELECT status, distance_m, gps_path::text FROM workouts WHERE id = %s", (workout,))
            row = await cur.fetchone()
        if row is None or row[2] is None:
            return None
        assert row[0] == "finished" and row[1] == 1337.0
        return dict(msgspec.json.decode(row[2]))
    built = await eventually(path, timeout_s=60)
    assert built["type"] == "LineString"
    coordinates = built["coordinates"]
    assert isinstance(coordinates, list) and len(coordinates) == 120
    assert coordinates[0] == [7.0, 45.0] and coordinates[-1] == [7.0, round(45.0 + 119e-4, 6)]
