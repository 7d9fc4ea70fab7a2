"""Topics and the event producer against the stack's real Kafka broker (own topic prefix)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from stack.settings import Settings
from streams import events, topics
from streams.producer import EventProducer
from streams.tls import kafka_options

pytestmark = pytest.mark.integration


@pytest.fixture
async def test_topics(stack: Settings, unique: str) -> AsyncIterator[str]:
    prefix = f"{unique}."
    created = await topics.ensure_topics(stack.kafka, partitions=3, replication=1,
                                         min_insync=1, prefix=prefix)
    yield prefix
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka, **kafka_options())
    await admin.start()
    try:
        await admin.delete_topics(created)
    finally:
        await admin.close()


async def test_topics_are_created_once_with_explicit_partitions(stack: Settings, test_topics: str) -> None:
    again = await topics.ensure_topics(stack.kafka, partitions=3, replication=1, min_insync=1,
                                       prefix=test_topics)
    assert again == []
    names = await topics.list_topics(stack.kafka)
    for spec in topics.TOPICS:
        assert test_topics + spec.name in names
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka, **kafka_options())
    await admin.start()
    try:
        described = await admin.describe_topics([test_topics + topics.SAMPLES])
    finally:
        await admin.close()
    assert len(described[0]["partitions"]) == 3


async def test_published_events_come_back_decoded_and_keyed_by_workout(
    stack: Settings, test_topics: str
) -> None:
    user = uuid.uuid4()
    sent = [
        events.SamplesAccepted(workout_id=uuid.uuid4(), user_id=user, sport="run", seq=i * 2,
                               samples=[(1000 * i, 45.0, 7.0, None, 150.0, None)] * 2)
        for i in range(6)
    ]
    producer = EventProducer(stack.kafka, topic_prefix=test_topics)
    try:
        await producer.publish([(topics.SAMPLES, e) for e in sent])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(test_topics + topics.SAMPLES, bootstrap_servers=stack.kafka,
                                **kafka_options(),
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    received = []
    try:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no records within 10 s"
            for records in batch.values():
                received.extend(records)
    finally:
        await consumer.stop()
    decoded = {events.decode(r.value).workout_id: (r.key, events.decode(r.value)) for r in received}
    assert len(decoded) == len(sent)
    for event in sent:
        key, back = decoded[event.workout_id]
        assert key == event.workout_id.bytes
        assert back == event


async def test_consumer_lag_counts_what_a_group_has_not_committed(
    stack: Settings, test_topics: str, unique: str
) -> None:
    from aiokafka import TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from streams.lag import consumer_lag

    topic = test_topics + topics.SAMPLES
    producer = EventProducer(stack.kafka, topic_prefix=test_topics)
    try:
        await producer.publish([(topics.SAMPLES, events.SamplesAccepted(
            workout_id=uuid.uuid4(), user_id=uuid.uuid4(), sport="run", seq=i,
            samples=[(1000 * i, 45.0, 7.0, None, None, None)])) for i in range(12)])
    finally:
        await producer.stop()
    group = f"lag-{unique}"
    assert await consumer_lag(stack.kafka, group, [topic]) == {topic: 12}  # never committed
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, **kafka_options(), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:  # commit everything but 5 records: they are the lag
        partitions = [TopicPartition(topic, p) for p in range(3)]  # as the fixture made it
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        left = 5
        commits = {}
        for tp, end in sorted(ends.items(), key=lambda kv: kv[0].partition):
            keep = min(left, end)
            left -= keep
            commits[tp] = OffsetAndMetadata(end - keep, "")
        await consumer.commit(commits)
    finally:
        await consumer.stop()
    assert await consumer_lag(stack.kafka, group, [topic]) == {topic: 5}
