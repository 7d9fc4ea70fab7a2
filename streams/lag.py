"""Consumer lag of the Faust worker: how many records each topic holds that the worker has
not yet committed (end offset − committed offset, summed over partitions)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.tls import kafka_options


@contextlib.asynccontextmanager
async def _clients(bootstrap: str) -> AsyncIterator[tuple[AIOKafkaAdminClient, AIOKafkaConsumer]]:
    """An admin client and a group-less consumer (for offsets), closed afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options(), request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_options(), group_id=None,
                                request_timeout_ms=5000)
    await admin.start()
    await consumer.start()
    try:
        yield admin, consumer
    finally:
        await consumer.stop()
        await admin.close()


async def consumer_lag(bootstrap: str, group_id: str, topic_names: list[str]) -> dict[str, int]:
    """Per topic, records not yet committed by `group_id` (a partition it never committed
    counts from its beginning). LookupError for a topic the cluster does not know."""
    async with _clients(bootstrap) as (admin, consumer):
        committed = await admin.list_consumer_group_offsets(group_id)
        partitions = await _partitions(admin, topic_names)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        lag = dict.fromkeys(topic_names, 0)
        for tp in partitions:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            lag[tp.topic] += max(0, ends[tp] - position)
        return lag



async def _partitions(admin: AIOKafkaAdminClient, topic_names: list[str]) -> list[TopicPartition]:
    partitions = []
    for described in await admin.describe_topics(topic_names):
        if described["error_code"] != 0 or not described["partitions"]:
            # unknown: better no figure than a zero
            raise LookupError(f"topic {described['topic']} is not in the cluster")
        partitions += [TopicPartition(described["topic"], p["partition"])
                       for p in described["partitions"]]
    return partitions


async def records_held(bootstrap: str, topic: str) -> int:
    """Records a topic holds now (end − beginning offsets over its partitions): for the
    dead-letter topic, the records dead-lettered within its retention."""
    async with _clients(bootstrap) as (admin, consumer):
        partitions = await _partitions(admin, [topic])
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
