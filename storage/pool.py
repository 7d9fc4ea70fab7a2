"""The PostgreSQL connection pool of the long-running services (gateway, stream worker).

A connection whose network goes silent (a host cut off by a partition, a peer that vanished
without a FIN) would otherwise block the query on it until the kernel gives up
retransmitting, which after a cut of a few minutes is several more minutes: a sink holds its
batch unacknowledged that long, and Faust's rebalance waits for it (found by the cluster
suite). libpq's TCP settings bound it: data the server has not acknowledged for
`tcp_user_timeout` fails the connection, and keepalives find a dead idle one. The caller's
retry then takes a fresh connection. Every setting is a libpq connection parameter
(PostgreSQL docs, "Parameter Key Words"); a DSN that sets one keeps its own value.
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

NETWORK_BOUNDS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,  # ms
}


def network_bounds(dsn: str) -> dict[str, Any]:
    """The bounds the DSN does not set itself."""
    given = conninfo_to_dict(dsn)
    return {k: v for k, v in NETWORK_BOUNDS.items() if k not in given}


def open_pool(dsn: str, *, min_size: int, max_size: int, timeout: float = 30.0) -> AsyncConnectionPool:
    """A pool (not yet opened) whose connections carry the network bounds, and are checked
    before a caller gets one: a connection that died while idle (PostgreSQL restarted) is
    replaced instead of failing that caller (found by the fault suite)."""
    return AsyncConnectionPool(dsn, min_size=min_size, max_size=max_size, open=False,
                               timeout=timeout, kwargs=network_bounds(dsn),
                               check=AsyncConnectionPool.check_connection)
