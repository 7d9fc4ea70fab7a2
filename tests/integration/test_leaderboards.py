"""Leaderboards against the stack's real PostgreSQL, Redis and Kafka.

The Redis boards must rank exactly like SQL computed straight from the finished workouts,
per sport, region and window; a rebuild from PostgreSQL must reproduce them; a workout
counts once however often its completion is delivered; a completion the database refuses
goes to the dead-letter topic while the others flow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from stack import leaderboards_cli
from stack.settings import Settings
from storage import leaderboards as repo
from streams import events, leaderboards, redis_pool, topics
from streams.lag import consumer_lag
from streams.producer import EventProducer
from streams.tls import kafka_options

pytestmark = pytest.mark.integration

COUNTRIES = ["DE", "DE", "FR", None, "FR", "DE", "ES"]


@pytest.fixture
async def redis(stack: Settings, unique: str) -> AsyncIterator[aioredis.Redis]:
    client = redis_pool.connect(stack.redis_url)
    yield client
    keys = [k async for k in client.scan_iter(match=f"test-{unique}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def _insert_users(dsn: str, countries: list[str | None]) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in countries]
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for i, (user_id, country) in enumerate(zip(ids, countries, strict=True)):
            await conn.execute(
                "INSERT INTO users (id, email, first_name, last_name, country)"
                " VALUES (%s, %s, %s, %s, %s)",
                (user_id, f"{user_id}@example.org", f"Ath{i}", f"Last{i}", country))
    return ids


def _workouts(users: list[uuid.UUID], now: dt.datetime) -> list[tuple[object, ...]]:
    """(id, user, sport, status, start, distance_m): spread over 40 days (so some day and
    week boards have lapsed from Redis), with zero distances, unfinished ones, and a tie."""
    rng = random.Random(6)
    rows = []
    for _ in range(60):
        start = now - dt.timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 23),
                                   minutes=rng.randint(0, 59))
        distance = 0.0 if rng.random() < 0.1 else rng.randint(1, 80_000) / 4  # exact in binary
        status = "finished" if rng.random() < 0.85 else "active"
        rows.append((uuid.uuid4(), rng.choice(users), rng.choice(["run", "ride"]), status,
                     start, distance))
    tie = now.replace(hour=1, minute=0, second=0, microsecond=0)
    rows += [(uuid.uuid4(), users[0], "swim", "finished", tie, 1500.0),
             (uuid.uuid4(), users[1], "swim", "finished", tie, 1500.0)]
    return rows


async def _insert_workouts(conn: psycopg.AsyncConnection, rows: list[tuple[object, ...]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO workouts (id, user_id, sport, status, start_time, distance_m)"
            " VALUES (%s, %s, %s, %s, %s, %s)", rows)


def _completed(row: tuple[object, ...]) -> repo.CompletedWorkout:
    workout_id, user, sport, _, start, distance = row
    assert isinstance(start, dt.datetime)
    return repo.CompletedWorkout(workout_id=workout_id, user_id=user, sport=sport,  # type: ignore[arg-type]
                                 started_at_ms=int(start.timestamp() * 1000),
                                 distance_m=distance)  # type: ignore[arg-type]


def _boards(rows: list[tuple[object, ...]], now: dt.datetime) -> dict[repo.Board, dt.datetime]:
    """Every board the workouts can touch (and today's), each with an instant inside it."""
    found = {}
    for _, _, sport, _, start, _ in rows:
        for at in (start, now):
            assert isinstance(at, dt.datetime)
            for region in ("global", *{c for c in COUNTRIES if c}):
                for window in repo.WINDOWS:
                    found[repo.Board(sport=sport, region=region, window=window,  # type: ignore[arg-type]
                                     period_start=repo.period_start(at, window))] = at
    return found


async def _assert_redis_ranks_like_sql(conn: psycopg.AsyncConnection, redis: aioredis.Redis,
                                       prefix: str, rows: list[tuple[object, ...]],
                                       now: dt.datetime) -> int:
    """Returns how many non-empty boards were compared in Redis."""
    compared = 0
    for board, at in _boards(rows, now).items():
        expected = await repo.ranking_from_workouts(conn, board.sport, board.region, board.window, at)
        table = await repo.read_page(conn, board, 1000, 0)
        assert [(s.user_id, s.distance_m, s.workouts) for s in table] == expected, board
        key = leaderboards.key_of(prefix, board)
        until = repo.expires_at(board)
        if until is not None and until <= now:
            assert not await redis.exists(key), f"{key} should have lapsed"
            continue
        if until is not None and until <= now + dt.timedelta(minutes=2):
            continue  # lapsing while the test runs: either state is right
        in_redis = [(uuid.UUID(m.decode()), s)
                    for m, s in await redis.zrevrange(key, 0, -1, withscores=True)]
        assert in_redis == [(user, distance) for user, distance, _ in expected], key
        if not expected:
            continue
        ttl = await redis.ttl(key)
        assert (ttl == -1) if until is None else (0 < ttl <= (until - now).total_seconds() + 1), key
        compared += 1
    return compared


async def test_redis_boards_rank_like_sql_and_a_rebuild_reproduces_them(
    stack: Settings, migrated_db: str, unique: str, redis: aioredis.Redis
) -> None:
    prefix = f"test-{unique}"
    now = dt.datetime.now(dt.UTC)
    users = await _insert_users(migrated_db, COUNTRIES)
    rows = _workouts(users, now)
    finished = [r for r in rows if r[3] == "finished"]
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        await _insert_workouts(conn, rows)
        # In three batches, the first delivered twice and one workout twice in a batch.
        batches = [finished[:20], finished[20:40] + finished[25:26], finished[40:], finished[:20]]
        for batch in batches:
            standings = await repo.count_completed(conn, [_completed(r) for r in batch])
            await leaderboards.apply_standings(redis, prefix, standings, now)
        compared = await _assert_redis_ranks_like_sql(conn, redis, prefix, rows, now)
        assert compared >= 10
        entries = await conn.execute("SELECT count(*) FROM leaderboard_entries")
        assert await entries.fetchone() == (len(finished),)
        swim = leaderboards.key_of(prefix, repo.Board(sport="swim", region="global", window="day",
                                                      period_start=repo.period_start(now, "day")))
        tie = sorted([str(users[0]), str(users[1])], reverse=True)
        assert [m.decode() for m in await redis.zrevrange(swim, 0, -1)] == tie

        stale = f"{prefix}:lb:row:global:all:all"
        await redis.zadd(stale, {str(uuid.uuid4()): 5.0})
        await redis.delete(*[k async for k in redis.scan_iter(match=f"{prefix}:lb:*:day:*")])
        await redis.zadd(leaderboards.key_of(prefix, repo.Board(
            sport="run", region="global", window="all", period_start=None)), {str(users[2]): 1e9})
        summary = await leaderboards.rebuild(conn, redis, prefix, now)
        assert summary.removed == 1 and not await redis.exists(stale)
        assert summary.boards == compared
        assert await _assert_redis_ranks_like_sql(conn, redis, prefix, rows, now) == compared

        await redis.delete(*[k async for k in redis.scan_iter(match=f"{prefix}:*")])
        settings = msgspec.structs.replace(stack, pg_dsn=migrated_db, redis_prefix=prefix)
        said = await asyncio.to_thread(leaderboards_cli.rebuild, settings)  # `stride leaderboards rebuild`
        assert said == f"rebuilt {summary.boards} boards, {summary.entries} entries (0 stale keys removed)"
        assert await _assert_redis_ranks_like_sql(conn, redis, prefix, rows, now) == compared


async def test_a_refused_workout_counts_nothing_of_its_batch(migrated_db: str) -> None:
    users = await _insert_users(migrated_db, ["DE"])
    good = repo.CompletedWorkout(workout_id=uuid.uuid4(), user_id=users[0], sport="run",
                                 started_at_ms=1_700_000_000_000, distance_m=1000.0)
    refused = [
        repo.CompletedWorkout(workout_id=uuid.uuid4(), user_id=uuid.uuid4(), sport="run",
                              started_at_ms=1_700_000_000_000, distance_m=10.0),
        repo.CompletedWorkout(workout_id=uuid.uuid4(), user_id=users[0], sport="run",
                              started_at_ms=1_700_000_000_000, distance_m=float("nan")),
        repo.CompletedWorkout(workout_id=uuid.uuid4(), user_id=users[0], sport="run",
                              started_at_ms=10**16, distance_m=10.0),
    ]
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        for bad in refused:
            with pytest.raises(psycopg.Error) as caught:
                await repo.count_completed(conn, [good, bad])
            assert not isinstance(caught.value, psycopg.OperationalError)  # poison, not transient
        counted = await conn.execute("SELECT count(*) FROM leaderboard_entries")
        assert await counted.fetchone() == (0,)
        board = repo.Board(sport="run", region="DE", window="all", period_start=None)
        assert await repo.read_page(conn, board, 10, 0) == []
        standings = await repo.count_completed(conn, [good])
        assert {(s.board.region, s.board.window, s.distance_m, s.workouts) for s in standings} == {
            (region, window, 1000.0, 1) for region in ("global", "DE") for window in repo.WINDOWS}


def _completion(user: uuid.UUID, distance_m: float, started_at: dt.datetime) -> events.WorkoutCompleted:
    start_ms = int(started_at.timestamp() * 1000)
    summary = events.WorkoutSummary(version=9, status="finished", sport="run",
                                    started_at_ms=start_ms, ended_at_ms=start_ms + 1_800_000,
                                    distance_m=distance_m, duration_s=1800.0)
    return events.WorkoutCompleted(workout_id=uuid.uuid4(), user_id=user,
                                   at_ms=start_ms + 1_800_000, summary=summary)


async def _dead_letters(stack: Settings, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka, **kafka_options(), group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        found = []
        for records in (await consumer.getmany(timeout_ms=2000)).values():
            found += [(r.value, dict(r.headers)) for r in records]
        return found
    finally:
        await consumer.stop()


async def test_the_worker_counts_each_completion_once_and_dead_letters_an_unknown_athlete(
    stack: Settings, stream_worker, redis: aioredis.Redis, eventually  # type: ignore[no-untyped-def]
) -> None:
    users = await _insert_users(stream_worker.pg_dsn, ["DE", "FR", None, "DE"])
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    iso_year, iso_week, _ = started.isocalendar()
    week = f"{stream_worker.redis_prefix}:lb:run:global:week:{iso_year:04d}-W{iso_week:02d}"
    de_all = f"{stream_worker.redis_prefix}:lb:run:DE:all:all"

    async def board(key: str) -> list[tuple[str, float]]:
        return [(m.decode(), s) for m, s in await redis.zrevrange(key, 0, -1, withscores=True)]

    def shows(key: str, expected: list[tuple[str, float]]):  # type: ignore[no-untyped-def]
        async def check() -> bool:
            return await board(key) == expected
        return check

    async def all_committed() -> bool:
        lifecycle = stream_worker.topic_prefix + topics.LIFECYCLE
        return (await consumer_lag(stack.kafka, stream_worker.group, [lifecycle]))[lifecycle] == 0

    first = [_completion(users[0], 5000.0, started), _completion(users[0], 2500.5, started),
             _completion(users[1], 6000.0, started)]
    producer = EventProducer(stack.kafka, topic_prefix=stream_worker.topic_prefix)
    try:
        await producer.publish([(topics.LIFECYCLE, e) for e in first])
        expected = [(str(users[0]), 7500.5), (str(users[1]), 6000.0)]
        await eventually(shows(week, expected), timeout_s=60)
        assert await board(de_all) == [(str(users[0]), 7500.5)]

        # The same completion again: once every record is committed, it was seen (and ignored).
        await producer.publish([(topics.LIFECYCLE, first[0]),
                                (topics.LIFECYCLE, _completion(users[2], 100.0, started))])
        expected = [*expected, (str(users[2]), 100.0)]
        await eventually(shows(week, expected), timeout_s=30)
        await eventually(all_committed, timeout_s=30)
        assert await board(week) == expected

        unknown = _completion(uuid.uuid4(), 9000.0, started)
        await producer.publish([(topics.LIFECYCLE, unknown),
                                (topics.LIFECYCLE, _completion(users[3], 50.0, started))])
        expected = [*expected, (str(users[3]), 50.0)]
        await eventually(shows(week, expected), timeout_s=30)
    finally:
        await producer.stop()
    assert await board(de_all) == [(str(users[0]), 7500.5), (str(users[3]), 50.0)]

    async def ours() -> list[bytes]:
        found = await _dead_letters(stack, stream_worker.topic_prefix + topics.DEAD_LETTER)
        # Other agents (the workouts projection) refuse the unknown athlete too.
        return [value for value, headers in found
                if headers.get("error", b"").startswith(b"leaderboards:")]

    assert await eventually(ours, timeout_s=30) == [events.encode(unknown)]
    await eventually(all_committed, timeout_s=30)
    assert await ours() == [events.encode(unknown)]
    async with await psycopg.AsyncConnection.connect(stream_worker.pg_dsn) as conn:
        cur = await conn.execute("SELECT count(*), sum(distance_m) FROM leaderboard_entries")
        assert await cur.fetchone() == (5, 7500.5 + 6000.0 + 100.0 + 50.0)
