"""`stride leaderboards rebuild`: rewrite the Redis leaderboards from PostgreSQL."""

from __future__ import annotations

import asyncio

import psycopg

from stack.settings import Settings
from streams import leaderboards, redis_pool


def rebuild(settings: Settings) -> str:
    """Rebuild every board still kept in Redis from the `leaderboard` table; returns a
    one-line summary. Safe while the stream worker runs (see streams.leaderboards.rebuild)."""
    summary = asyncio.run(_rebuild(settings))
    return (f"rebuilt {summary.boards} boards, {summary.entries} entries"
            f" ({summary.removed} stale keys removed)")


async def _rebuild(settings: Settings) -> leaderboards.RebuildSummary:
    redis = redis_pool.connect(settings.redis_url, max_connections=4)
    try:
        async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
            return await leaderboards.rebuild(conn, redis, settings.redis_prefix)
    finally:
        await redis.aclose()
