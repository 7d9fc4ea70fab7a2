"""The Redis client every Stride process uses.

redis-py's asyncio pool raises `MaxConnectionsError` once more commands are in flight at
the same time than it has connections (100 by default), which a host holding thousands of
workouts reaches at once. A blocking pool makes the excess wait for a free connection
instead, so a burst costs latency, not errors.
"""

from __future__ import annotations

import redis.asyncio as aioredis

MAX_CONNECTIONS = 64
WAIT_FOR_CONNECTION_S = 10.0


def connect(url: str, *, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=WAIT_FOR_CONNECTION_S)
    return aioredis.Redis(connection_pool=pool)
