"""The Faust app: composition root of the stream processors (`stride worker run`)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
from pathlib import Path
from typing import Any

import faust
import msgspec
from psycopg_pool import AsyncConnectionPool

from storage import data_keys
from storage.pool import open_pool
from storage.retention import Retention
from streams import agents, redis_pool, topics
from streams.retry import retry
from streams.tls import client_context

log = logging.getLogger("stride.streams")


class StreamsConfig(msgspec.Struct, frozen=True, kw_only=True):
    kafka: str
    pg_dsn: str
    data_dir: str
    web_port: int
    redis_url: str
    redis_prefix: str
    topic_prefix: str = ""
    app_id: str = topics.WORKER_GROUP
    ray_address: str = ""
    """Where the recommender agent finds Ray Serve."""
    ray_namespace: str = "stride"
    retention: Retention = Retention()
    """How long each kind of record is kept (the maintenance agent enforces it)."""
    keys_dir: str = ""
    """The key material's folder: records sealed with people's data keys are opened with
    it (streams/sealing.py), recommendations sealed with it. Empty: plain events only."""


class Deps:
    """What the agents share: the database pool (opened lazily inside the worker's loop)."""

    def __init__(self, config: StreamsConfig, app: faust.App) -> None:
        self.config = config
        self.app = app
        self._pool: AsyncConnectionPool | None = None
        self._opening = asyncio.Lock()
        self.redis = redis_pool.connect(config.redis_url)
        self.dead_letter = app.topic(config.topic_prefix + topics.DEAD_LETTER,
                                     key_serializer="raw", value_serializer="raw")
        self.dead_lettered = 0
        self.data_keys = data_keys.over(self.pool, config.keys_dir) if config.keys_dir else None
        self.shredded_skipped = 0
        """Records met again whose person was erased (their key is gone): skipped."""

    async def pool(self) -> AsyncConnectionPool:
        """The pool, opened without waiting: while PostgreSQL is away it keeps reconnecting
        in the background, and a write waiting for a connection times out (PoolTimeout, a
        transient error the sinks retry) instead of the pool closing for good."""
        async with self._opening:
            if self._pool is None:
                pool = open_pool(self.config.pg_dsn, min_size=1, max_size=8, timeout=10)
                await pool.open(wait=False)
                self._pool = pool
        return self._pool

    def topic(self, name: str) -> Any:
        return self.app.topic(self.config.topic_prefix + name,
                              key_serializer="raw", value_serializer="raw")

    async def send_dead_letter(self, key: bytes | None, value: bytes, source: str, error: str) -> None:
        """Put a record that can never be written on the dead-letter topic, and wait until
        Kafka has it: only then may the caller acknowledge the original."""
        log.error("dead-lettering a record from %s: %s", source, error)
        async def send() -> None:
            delivered = await self.dead_letter.send(
                key=key, value=value,
                headers={"source": source.encode(), "error": error[:1000].encode()})
            await delivered

        # Kafka away: the record stays unacknowledged meanwhile, however long that takes
        await retry(send, "dead-letter send", transient=(Exception,))
        self.dead_lettered += 1


def register_agents(app: faust.App, deps: Deps) -> list[str]:
    """Autodiscovery: every module in `streams.agents` with a `register(app, deps)` is one
    concern (a sink, a projection); returns their names."""
    found = []
    for info in sorted(pkgutil.iter_modules(agents.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{agents.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(app, deps)
            found.append(info.name)
    return found


def create_app(config: StreamsConfig) -> faust.App:
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.kafka}",
        # The worker's client certificate when the stack runs TLS (streams/tls.py).
        broker_credentials=client_context(),
        datadir=config.data_dir,
        store="memory://",
        web_enabled=True,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=config.web_port,
        producer_acks=-1,
        consumer_metadata_max_age_ms=topics.METADATA_MAX_AGE_MS,
        producer_metadata_max_age_ms=topics.METADATA_MAX_AGE_MS,
        topic_replication_factor=1,
        topic_allow_declare=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    deps = Deps(config, app)
    register_agents(app, deps)

    @app.page("/healthz/")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"ok": True, "dead_lettered": deps.dead_lettered,
                         "shredded_skipped": deps.shredded_skipped})

    return app
