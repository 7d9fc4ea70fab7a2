"""The producer every Stride event goes out through: `acks=all`, idempotent, msgpack values.

aiokafka defaults to acks=1 without idempotence; the durability rule (DESIGN) needs both,
so this is the only way events are produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from streams import events, topics


class EventProducer:
    def __init__(self, bootstrap: str, *, topic_prefix: str = "") -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=262_144,
            request_timeout_ms=15000,
            metadata_max_age_ms=topics.METADATA_MAX_AGE_MS,
        )
        self._prefix = topic_prefix
        self._starting: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Connect once, however many callers ask at the same time; after a failed
        start, the next call tries again."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._producer.start())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        except Exception:
            if self._starting is starting:  # not a newer attempt's
                self._starting = None
            raise

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting = None
            await self._producer.stop()

    async def publish(self, items: Sequence[tuple[str, events.AnyEvent]]) -> None:
        """Produce (topic, event) pairs; returns once the broker has acknowledged all of them.

        Raises the producer's error if any was not written; the caller must not
        acknowledge anything to the device then.
        """
        await self.start()
        futures = [
            await self._producer.send(
                self._prefix + topic, events.encode(event), key=events.key_of(event)
            )
            for topic, event in items
        ]
        await asyncio.gather(*futures)

