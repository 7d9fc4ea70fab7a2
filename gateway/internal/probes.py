"""Stack health for the admin area, probed from the internal gateway itself.

Each probe asks one part of the platform the question that shows it can serve — PostgreSQL
runs a query, Redis answers PING, Kafka names its brokers and how far the stream worker is
behind, the worker and the public gateway answer their own health pages — within
`TIMEOUT_S`, all at once. A probe that fails or times out reports why instead of raising,
so one part down never hides the others. Nothing here imports `stack/`: the internal
gateway is given the addresses in its settings, as in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec
from aiokafka.admin import AIOKafkaAdminClient

from streams import topics
from streams.lag import consumer_lag, records_held
from streams.tls import kafka_options

TIMEOUT_S = 5.0


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    component: str
    ok: bool
    latency_ms: float
    detail: str
    """What it found (a version, a count) or why it failed."""


class ConsumerLag(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    records: int


class StackHealth(msgspec.Struct, frozen=True, kw_only=True):
    probes: list[Probe]
    lag: list[ConsumerLag]
    """The stream worker's records not yet committed, per topic (empty: Kafka did not say)."""
    dead_letters: int | None
    """Records on the dead-letter topic (None: Kafka did not say)."""


class Targets(msgspec.Struct, frozen=True, kw_only=True):
    """Where the parts are (the internal gateway's settings)."""

    kafka: str
    worker_group: str
    topic_prefix: str
    worker_url: str
    """The stream worker's web port, e.g. http://127.0.0.1:26066."""
    gateway_url: str
    """The public gateway, e.g. http://127.0.0.1:28080."""


async def _timed(component: str, check: Callable[[], Awaitable[str]]) -> Probe:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), TIMEOUT_S)
        ok = True
    except TimeoutError:
        detail, ok = f"no answer within {TIMEOUT_S:g} s", False
    except Exception as exc:  # any failure is the probe's finding, never the page's error
        detail, ok = f"{type(exc).__name__}: {exc}"[:300], False
    return Probe(component=component, ok=ok, detail=detail,
                 latency_ms=round((time.perf_counter() - started) * 1000, 1))


async def stack_health(pool: Any, redis: Any, targets: Targets) -> StackHealth:
    """Probe everything at once (a few seconds at most, however much is down)."""

    async def postgres() -> str:
        async with pool.connection() as conn:
            cur = await conn.execute("SHOW server_version")
            row = await cur.fetchone()
        return f"PostgreSQL {row[0]}" if row else "PostgreSQL"

    async def redis_ping() -> str:
        await redis.ping()
        return "PONG"

    async def kafka() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=targets.kafka, **kafka_options(),
                                    request_timeout_ms=4000)
        await admin.start()
        try:
            described = await admin.describe_cluster()
        finally:
            await admin.close()
        return f"{len(described.get('brokers', []))} broker(s)"

    async def http_health(url: str) -> str:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            answer = await http.get(url)
        if answer.status_code != 200:
            raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")
        return "healthy"

    consumed = [targets.topic_prefix + t for t in topics.WORKER_CONSUMES]

    async def lag() -> dict[str, int] | None:
        try:
            return await asyncio.wait_for(
                consumer_lag(targets.kafka, targets.worker_group, consumed), TIMEOUT_S)
        except Exception:
            return None

    async def dead_letters() -> int | None:
        try:
            return await asyncio.wait_for(
                records_held(targets.kafka, targets.topic_prefix + topics.DEAD_LETTER), TIMEOUT_S)
        except Exception:
            return None

    probes, lagged, dead = await asyncio.gather(
        asyncio.gather(
            _timed("postgres", postgres), _timed("redis", redis_ping), _timed("kafka", kafka),
            _timed("worker", lambda: http_health(targets.worker_url.rstrip("/") + "/healthz/")),
            _timed("gateway", lambda: http_health(targets.gateway_url.rstrip("/") + "/healthz"))),
        lag(), dead_letters())
    return StackHealth(
        probes=list(probes),
        lag=[ConsumerLag(topic=t.removeprefix(targets.topic_prefix), records=n)
             for t, n in sorted((lagged or {}).items())],
        dead_letters=dead)
