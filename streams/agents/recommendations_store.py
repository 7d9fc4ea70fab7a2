"""recommendations.ready → the `recommendations` table (once per set) and the Redis cache
`GET /v1/recommendations/me` reads first (`{prefix}:reco:{user}`, until the set expires)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from storage import keyspace
from storage.recommendations import store
from streams import events, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.RECOMMENDATIONS), name="recommendations_store")
    async def recommendations_store(stream: Any) -> None:
        async for records in batches(stream, deps, (events.RecommendationsReady,), size=200,
                                     within_s=0.1):
            await write_batch(deps, "recommendations", records, lambda rs: _store(deps, rs))


async def _store(deps: Deps, records: Sequence[Record[events.RecommendationsReady]]) -> None:
    pool = await deps.pool()
    async with pool.connection() as conn, conn.transaction():
        for record in records:
            await store(conn, record.event)
    now_ms = int(time.time() * 1000)
    async with deps.redis.pipeline(transaction=False) as pipe:
        for record in records:
            ready = record.event
            ttl_s = (ready.expires_at_ms - now_ms) // 1000
            if ttl_s > 0:
                pipe.set(keyspace.recommendations(deps.config.redis_prefix, ready.user_id),
                         msgspec.json.encode(ready), ex=ttl_s)
        await pipe.execute()
