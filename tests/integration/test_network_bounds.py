"""Connections of the long-running services give up on a silent network instead of waiting
for the kernel to stop retransmitting (storage/pool.py, streams/redis_pool.py). The
behaviour itself, a host cut off mid-write and then healed, is the cluster suite's
(tests/cluster/test_a_host_partitioned_mid_stream); here: the settings reach the real
connections."""

from __future__ import annotations

import socket

import pytest

from stack.settings import Settings
from storage.pool import NETWORK_BOUNDS, network_bounds, open_pool
from streams import redis_pool

pytestmark = pytest.mark.integration


def test_a_dsn_keeps_its_own_network_settings() -> None:
    bounds = network_bounds("postgresql://u@h/db?connect_timeout=30&keepalives_idle=60")
    assert "connect_timeout" not in bounds and "keepalives_idle" not in bounds
    assert bounds["tcp_user_timeout"] == NETWORK_BOUNDS["tcp_user_timeout"]


async def test_pooled_postgres_connections_carry_the_bounds(stack: Settings) -> None:
    pool = open_pool(stack.pg_dsn, min_size=1, max_size=1)
    await pool.open(wait=True, timeout=30)
    try:
        async with pool.connection() as conn:
            params = conn.info.get_parameters()
            for key in ("keepalives", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout"):
                assert params.get(key) == str(NETWORK_BOUNDS[key]), (key, params)
            assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
    finally:
        await pool.close()


async def test_redis_connections_time_out_and_keep_alive(stack: Settings) -> None:
    client = redis_pool.connect(stack.redis_url, max_connections=2)
    try:
        assert await client.ping()
        conn = await client.connection_pool.get_connection()
        try:
            assert conn.socket_timeout == redis_pool.COMMAND_TIMEOUT_S
            sock = conn._writer.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == \
                redis_pool.KEEPALIVE[socket.TCP_KEEPIDLE]
        finally:
            await client.connection_pool.release(conn)
    finally:
        await client.aclose()
