"""Data keys (privacy/keys.py) for processes that have no PostgreSQL pool of their own.

A workout host (a Ray actor) seals its events with its athletes' data keys but otherwise
never talks to PostgreSQL, and `dedicated` placement runs hundreds of hosts: each keeps at
most two connections, opened on the first lookup and closed again after `IDLE_S` unused.
Lookups are rare — a key is cached CACHE_TTL_S (30 s) — so a host of one workout holds a
connection for a few seconds every half minute instead of one for ever (PostgreSQL's
connection limit stays the gateway's and the worker's).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

from privacy.keys import DataKeys, load_keyring
from storage.pool import network_bounds

IDLE_S = 5.0


class LazyPool:
    """A pool opened on first use, inside whichever event loop first asks."""

    def __init__(self, open_: Callable[[], Awaitable[AsyncConnectionPool]]) -> None:
        self._open = open_
        self._pool: AsyncConnectionPool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> AsyncConnectionPool:
        async with self._opening:
            if self._pool is None:
                self._pool = await self._open()
        return self._pool

    def connection(self) -> AbstractAsyncContextManager[Any]:
        return self._connection()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        async with (await self.pool()).connection() as conn:
            yield conn

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def on_demand(pg_dsn: str, keys_dir: str) -> DataKeys:
    """DataKeys over a small pool of their own that opens when first needed; the keyring
    is loaded now (a host without key material fails at once, saying why)."""
    async def open_() -> AsyncConnectionPool:
        pool = AsyncConnectionPool(pg_dsn, min_size=0, max_size=2, open=False, timeout=10,
                                   max_idle=IDLE_S, kwargs=network_bounds(pg_dsn),
                                   check=AsyncConnectionPool.check_connection)
        await pool.open(wait=False)
        return pool

    folder = Path(keys_dir)
    return DataKeys(LazyPool(open_), load_keyring(folder), reload=lambda: load_keyring(folder))


def over(pool: Callable[[], Awaitable[AsyncConnectionPool]], keys_dir: str) -> DataKeys:
    """DataKeys over a process's own pool, handed out by the coroutine `pool` (the stream
    worker opens its pool lazily)."""
    folder = Path(keys_dir)
    return DataKeys(LazyPool(pool), load_keyring(folder), reload=lambda: load_keyring(folder))


def on_pool(pool: AsyncConnectionPool, keys_dir: str) -> DataKeys | None:
    """DataKeys over an open pool (the gateways'); None without a keys folder (events then
    go out unsealed: benches and tests that ask for it)."""
    if not keys_dir:
        return None
    folder = Path(keys_dir)
    return DataKeys(pool, load_keyring(folder), reload=lambda: load_keyring(folder))
