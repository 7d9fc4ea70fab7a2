"""`GET /v1/recommendations/me` through the running stack: nothing yet, then the set the
recommender published on `recommendations.ready` (stored once however often it is
replayed), from Redis and, without the cache, from PostgreSQL."""

from __future__ import annotations

import time
import uuid

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis

from stack.settings import Settings
from storage import keyspace
from streams import events, topics
from streams.producer import EventProducer

pytestmark = pytest.mark.e2e


async def test_recommendations_arrive_once_and_survive_a_lost_cache(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    me = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=me.headers, timeout=30) as http:
        empty = (await http.get("/v1/recommendations/me")).json()
        assert empty["id"] is None and empty["workouts"] == [] and empty["promos"] == []

        now = int(time.time() * 1000)
        ready = events.RecommendationsReady(
            workout_id=uuid.uuid4(), user_id=me.id, recommendation_id=uuid.uuid4(),
            model_type="recommend", model_version="test-1", generated_at_ms=now,
            expires_at_ms=now + 86_400_000,
            workouts=[events.RecommendedWorkout(template_id="easy-run-40", sport="run",
                                                duration_min=40, target_zone=2,
                                                intensity="easy", score=0.91)],
            promos=[events.PromoOffer(code="SPRING-SI", title="10 % off", expires_on="2099-01-01")])
        producer = EventProducer(stack.kafka)
        try:
            await producer.publish([(topics.RECOMMENDATIONS, ready)] * 3)  # replayed
        finally:
            await producer.stop()

        async def arrived() -> dict | None:  # type: ignore[type-arg]
            body = (await http.get("/v1/recommendations/me")).json()
            return body if body["id"] == str(ready.recommendation_id) else None

        body = await eventually(arrived, timeout_s=30)
        assert body["workouts"][0]["template_id"] == "easy-run-40"
        assert body["promos"][0]["code"] == "SPRING-SI"
        assert body["model_version"] == "test-1" and body["after_workout"] == str(ready.workout_id)

        redis = aioredis.from_url(stack.redis_url)
        try:
            assert await redis.delete(keyspace.recommendations(stack.redis_prefix, me.id)) == 1
        finally:
            await redis.aclose()
        again = (await http.get("/v1/recommendations/me")).json()
        assert again["id"] == body["id"] and again["workouts"] == body["workouts"]
    with psycopg.connect(stack.pg_dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM recommendations WHERE user_id = %s",
                            (me.id,)).fetchone()
    assert rows is not None and rows[0] == 1
