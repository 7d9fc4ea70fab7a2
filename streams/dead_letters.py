"""The dead-letter topic, read and replayed for the admin area (gateway/internal).

A record a sink can never write goes to `stride.deadletter` with headers naming the topic it
came from and why (streams/app.py `send_dead_letter`). Here an operator can list those
records — where they came from, why, the event's type and ids, never its payload (health
data stays inside the platform; a sealed record is opened for its type and ids only, and
one whose person was erased shows neither) — and, once the cause is fixed, replay one into the topic it
came from: the sinks' writes are idempotent, so a replayed record is written once even if it
had partly landed. Which records were replayed or discarded, by whom, is journalled in
PostgreSQL (storage/dead_letter_journal.py); this module only talks to Kafka.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from privacy.keys import DataKeys, KeysError
from streams import sealing, topics
from streams.tls import kafka_options

READ_TIMEOUT_MS = 5000


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    partition: int
    offset: int
    at: dt.datetime
    """When it was dead-lettered (the record's timestamp)."""
    source: str
    """The topic it came from (without the deployment's prefix)."""
    error: str
    event_type: str | None
    """The event's tag, or None when the bytes are not a Stride event."""
    workout_id: uuid.UUID | None
    user_id: uuid.UUID | None
    size_bytes: int


async def _describe(prefix: str, partition: int, offset: int, timestamp_ms: int, value: bytes,
                    headers: dict[str, bytes], keys: DataKeys | None) -> DeadLetter:
    """The record's facts; its event's type and ids only when it opens (a sealed record of
    an erased person, or one with no keys at hand, shows neither)."""
    event_type = workout_id = user_id = None
    try:
        event = await sealing.open_value(value, keys)
    except (msgspec.MsgspecError, KeysError):
        event = None
    if event is not None:
        event_type = type(event).__struct_config__.tag
        workout_id = getattr(event, "workout_id", None)
        user_id = getattr(event, "user_id", None)
    return DeadLetter(
        partition=partition, offset=offset,
        at=dt.datetime.fromtimestamp(timestamp_ms / 1000, tz=dt.UTC),
        source=headers.get("source", b"").decode(errors="replace").removeprefix(prefix),
        error=headers.get("error", b"").decode(errors="replace"),
        event_type=event_type if isinstance(event_type, str) else None,
        workout_id=workout_id, user_id=user_id, size_bytes=len(value))


async def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_options(), group_id=None,
                                enable_auto_commit=False, request_timeout_ms=READ_TIMEOUT_MS)
    await consumer.start()
    return consumer


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, none when the cluster does not know it. (A consumer knows a
    topic's partitions only once it has its metadata: `partitions_for_topic` is None before.)"""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_options(),
                                request_timeout_ms=READ_TIMEOUT_MS)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"]) for d in described if d["error_code"] == 0
            for p in sorted(d["partitions"], key=lambda p: p["partition"])]


async def newest(bootstrap: str, prefix: str, limit: int, keys: DataKeys | None = None
                 ) -> list[DeadLetter]:
    """Up to `limit` records of each partition, the newest first; sealed ones are opened
    with `keys` to tell their event type and ids."""
    topic = prefix + topics.DEAD_LETTER
    partitions = await _partitions(bootstrap, topic)
    if not partitions:
        return []
    consumer = await _consumer(bootstrap)
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        unread = {}
        for tp in partitions:
            first = max(starts[tp], ends[tp] - limit)
            consumer.seek(tp, first)
            if first < ends[tp]:
                unread[tp] = ends[tp]
        found: list[DeadLetter] = []
        while unread:
            batch = await consumer.getmany(*unread, timeout_ms=READ_TIMEOUT_MS)
            if not batch:
                break  # the broker stopped answering: show what came
            for tp, records in batch.items():
                found += [await _describe(prefix, tp.partition, r.offset, r.timestamp,
                                          r.value or b"", dict(r.headers), keys)
                          for r in records if r.offset < unread[tp]]
                if records and records[-1].offset + 1 >= unread[tp]:
                    del unread[tp]
        return sorted(found, key=lambda d: (d.at, d.partition, d.offset), reverse=True)
    finally:
        await consumer.stop()


async def _read_one(bootstrap: str, prefix: str, partition: int, offset: int
                    ) -> tuple[bytes | None, bytes, int, dict[str, bytes]] | None:
    """The record at `offset` (key, value, timestamp, headers), or None when the topic does
    not hold it (never did, or it passed the retention)."""
    tp = TopicPartition(prefix + topics.DEAD_LETTER, partition)
    consumer = await _consumer(bootstrap)
    try:
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not start <= offset < end:
            return None
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=READ_TIMEOUT_MS, max_records=1)
        for r in batch.get(tp, []):
            if r.offset == offset:
                return r.key, r.value or b"", r.timestamp, dict(r.headers)
        return None
    finally:
        await consumer.stop()


async def find(bootstrap: str, prefix: str, partition: int, offset: int,
               keys: DataKeys | None = None) -> DeadLetter | None:
    """One record, or None when the topic does not hold it."""
    found = await _read_one(bootstrap, prefix, partition, offset)
    if found is None:
        return None
    _, value, timestamp, headers = found
    return await _describe(prefix, partition, offset, timestamp, value, headers, keys)


class NotReplayable(Exception):
    """The record is gone, or names no topic it came from."""


async def replay(bootstrap: str, prefix: str, partition: int, offset: int, note: str) -> str:
    """Send the record back to the topic it came from (same key and value, a header saying
    it is a replay), and wait until Kafka has it. Returns that topic."""
    found = await _read_one(bootstrap, prefix, partition, offset)
    if found is None:
        raise NotReplayable(f"the dead-letter topic holds no record {partition}:{offset}")
    key, value, _, headers = found
    source = headers.get("source", b"").decode(errors="replace")
    if not source.startswith(prefix) or source.removeprefix(prefix) not in topics.WORKER_CONSUMES:
        raise NotReplayable(f"record {partition}:{offset} names no topic a sink consumes "
                            f"({source or 'none'})")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap,
                                **kafka_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(source, value, key=key, headers=[
            ("replayed-from", f"{topics.DEAD_LETTER}:{partition}:{offset}".encode()),
            ("replay-note", note[:500].encode())])
    finally:
        await producer.stop()
    return source.removeprefix(prefix)
