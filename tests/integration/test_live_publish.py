"""The live path on the stack's real Redis (a key prefix per test): a host's newest update
per workout goes to the athlete's channel and the workout's live state, older ones waiting
are dropped and counted, an update older than what Redis holds is refused, and nothing is
published on any other channel (no group channel: the gateway decides who watches)."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from actors.live_publish import LivePublisher
from stack.settings import Settings
from storage import keyspace
from streams import events, redis_pool

pytestmark = pytest.mark.integration

ATHLETE = uuid.UUID("00000000-0000-0000-0000-0000000000a1")
T0 = 1_790_000_000_000


@pytest.fixture
async def redis(stack: Settings):  # type: ignore[no-untyped-def]
    client = redis_pool.connect(stack.redis_url)
    yield client
    await client.aclose()


def update(workout: uuid.UUID, version: int, status: str = "active") -> events.WorkoutMetricsUpdated:
    summary = events.WorkoutSummary(version=version, status=status, sport="run",  # type: ignore[arg-type]
                                    started_at_ms=T0, last_seq=version, samples_count=version + 1,
                                    distance_m=3.0 * version)
    return events.WorkoutMetricsUpdated(workout_id=workout, user_id=ATHLETE, t_ms=T0 + 1000 * version,
                                        summary=summary, hr_bpm=150.0)


async def test_newest_wins_per_workout_and_the_rest_is_counted(redis, unique: str, eventually) -> None:  # type: ignore[no-untyped-def]
    a, b = uuid.uuid4(), uuid.uuid4()
    pubsub = redis.pubsub()
    await pubsub.psubscribe(f"{unique}:live:*")
    publisher = LivePublisher(redis, unique)
    # Offered without a pause (as a host does while its writer is busy): 50 updates of one
    # workout and 1 of another; only the newest of each may go out.
    publisher.offer([update(a, v) for v in range(1, 51)])
    publisher.offer([update(b, 7), events.RiskAlert(workout_id=a, user_id=ATHLETE, at_ms=T0,
                                                    level="high", reasons=["spo2 below 90 %"])])
    await publisher.drain()
    heard = []

    async def three_heard() -> bool:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            heard.append((message["channel"].decode(), msgspec.json.decode(message["data"])))
        return len(heard) >= 3

    await eventually(three_heard, timeout_s=10, interval_s=0)
    assert {channel for channel, _ in heard} == {keyspace.live_athlete(unique, ATHLETE)}
    assert sorted((m["type"], m["workout_id"], m.get("summary", {}).get("version")) for _, m in heard) == \
        sorted([("update", str(a), 50), ("update", str(b), 7), ("alert", str(a), None)])
    assert msgspec.json.decode(await redis.get(keyspace.live_state(unique, a)))["summary"]["version"] == 50
    assert publisher.stats().published == 3 and publisher.stats().dropped == 49
    publisher.offer([update(a, 51)])  # the stats hash hears of a write with the next one
    await publisher.drain()
    stats = await redis.hgetall(keyspace.live_stats(unique))
    assert int(stats[b"published"]) == 3 and int(stats[b"dropped"]) == 49
    await pubsub.aclose()


async def test_an_update_older_than_redis_holds_is_refused(redis, unique: str) -> None:  # type: ignore[no-untyped-def]
    """A restarted host folds again from its snapshot: what a coach saw stays."""
    workout = uuid.uuid4()
    first = LivePublisher(redis, unique)
    first.offer([update(workout, 40)])
    await first.drain()
    restarted = LivePublisher(redis, unique)
    restarted.offer([update(workout, 38)])
    await restarted.drain()
    assert restarted.stats().stale == 1 and restarted.stats().published == 0

    async def held() -> dict:  # type: ignore[type-arg]
        return msgspec.json.decode(await redis.get(keyspace.live_state(unique, workout)))["summary"]

    assert (await held())["version"] == 40
    restarted.offer([update(workout, 41, status="finished")])
    await restarted.drain()
    assert (await held())["status"] == "finished"
    assert 0 < await redis.ttl(keyspace.live_state(unique, workout)) <= 600  # a finished one lapses soon
