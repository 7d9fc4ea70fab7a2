"""The producer every Stride event goes out through: `acks=all`, idempotent, msgpack values,
sealed with each person's data key (streams/sealing.py).

aiokafka defaults to acks=1 without idempotence; the durability rule (DESIGN) needs both,
so this is the only way events are produced. Without `keys` (benches and tests that write
plain events on purpose) events go out unsealed; every process of the stack passes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from privacy.keys import DataKeys, Shredded
from streams import events, sealing, topics
from streams.tls import kafka_options

log = logging.getLogger("stride.producer")


class EventProducer:
    def __init__(self, bootstrap: str, *, topic_prefix: str = "", keys: DataKeys | None = None
                 ) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, **kafka_options(),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=262_144,
            request_timeout_ms=15000,
            metadata_max_age_ms=topics.METADATA_MAX_AGE_MS,
        )
        self._prefix = topic_prefix
        self._starting: asyncio.Future[None] | None = None
        self.keys = keys
        self._probe_key = sealing.throwaway_key()
        self.erased_dropped = 0
        """Events of people erased meanwhile, not produced (their key is gone)."""

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
        acknowledge anything to the device then. An event of a person erased meanwhile is
        not produced (counted): their data is to be gone, and a key for it cannot be made.
        """
        await self.start()
        futures = []
        for topic, event in items:
            try:
                key, value = await self._record(topic, event)
            except Shredded:
                self.erased_dropped += 1
                log.info("an event of an erased person was not produced (%d so far)",
                         self.erased_dropped)
                continue
            futures.append(await self._producer.send(self._prefix + topic, value, key=key))
        await asyncio.gather(*futures)

    async def _record(self, topic: str, event: events.AnyEvent) -> tuple[bytes, bytes]:
        if self.keys is None:
            return events.key_of(event), events.encode(event)
        if topic == topics.PROBE:  # nobody's: sealed all the same, with a key kept nowhere
            return sealing.seal_with(self._probe_key, event)
        return await sealing.seal(self.keys, event)
