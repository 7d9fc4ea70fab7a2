"""The Redis client every Stride process uses.

redis-py's asyncio pool raises `MaxConnectionsError` once more commands are in flight at
the same time than it has connections (100 by default), which a host holding thousands of
workouts reaches at once. A blocking pool makes the excess wait for a free connection
instead, so a burst costs latency, not errors.

A command never waits on a silent network for longer than `COMMAND_TIMEOUT_S`: without a
socket timeout, a connection cut off mid-command (a partitioned host) blocks it until the
kernel stops retransmitting, minutes later, and whatever waits on it with it (a sink's
unacknowledged batch, a device's ack). TCP keepalives find a dead idle connection. No Stride
command blocks on the server by design (pub/sub reads pass their own short timeout).
"""

from __future__ import annotations

import socket

import redis.asyncio as aioredis

MAX_CONNECTIONS = 64
WAIT_FOR_CONNECTION_S = 10.0
COMMAND_TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 5.0
KEEPALIVE = {socket.TCP_KEEPIDLE: 10, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3}


def connect(url: str, *, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=WAIT_FOR_CONNECTION_S,
        socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_keepalive=True, socket_keepalive_options=KEEPALIVE)
    return aioredis.Redis(connection_pool=pool)
