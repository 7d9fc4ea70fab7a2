"""How every agent consumes and writes: nothing acknowledged while unwritten.

Faust's `take_events` acks a batch when the agent's loop moves on, and also when the agent
raises or is cancelled (its `finally`). So each agent holds one extra reference on every
message it takes (`Message.incref`) and drops it only once the batch is written or
dead-lettered. A worker stopped or killed in the middle of a write leaves the messages
unacknowledged, their offsets uncommitted, and the next worker reads them again; the
writes are idempotent, so nothing is lost and nothing counted twice.

Writing a batch (`write_batch`):
- connection trouble (database, Redis, Kafka away) is retried with capped exponential
  backoff, forever: lag grows and is visible in `stride stack status`;
- a batch the database refuses on its merits (a constraint, a bad value) is split: each
  record is written alone, and the ones still refused go to the dead-letter topic;
- any other exception (a bug) is retried a few times, then treated like a refusal, so one
  bad record cannot stall a partition forever and is never dropped silently either.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import msgspec
import redis.exceptions

from privacy.keys import KeysError
from streams import sealing
from streams.retry import TRANSIENT, Refused, describe, retry

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.sinks")

E = TypeVar("E")

SINK_TRANSIENT = (*TRANSIENT, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                  redis.exceptions.BusyLoadingError)


class Record(NamedTuple, Generic[E]):
    """One decoded Kafka record: raw key and value (for the dead-letter topic), topic, event."""

    key: bytes | None
    value: bytes
    topic: str
    event: E


async def batches(stream: Any, deps: Deps, accept: tuple[type, ...], *, size: int,
                  within_s: float) -> AsyncIterator[list[Record[Any]]]:
    """Decoded batches of the `accept` events of a stream (other Stride events on the same
    topics are some other agent's concern and skipped); an undecodable record goes to the
    dead-letter topic. Sealed records are opened (streams/sealing.py); one whose data key
    was shredded (its person erased) is skipped and counted. A batch is acknowledged when
    the consumer asks for the next one."""
    async for taken in stream.take_events(size, within=within_s):
        for event in taken:
            event.message.incref()  # our hold: released only after the batch is written
        records: list[Record[Any]] = []
        for event in taken:
            key, value, topic = event.message.key, event.value, event.message.topic
            decoded, bad = await retry(functools.partial(_open, value, deps), "opening a record",
                                       transient=SINK_TRANSIENT)
            if bad is not None:
                await deps.send_dead_letter(key, value, topic, f"undecodable: {describe(bad)}")
                continue
            if decoded is None:  # its person was erased: nothing in it may be written again
                deps.shredded_skipped += 1
                log.info("skipped a record of an erased person from %s (%d so far)", topic,
                         deps.shredded_skipped)
                continue
            if isinstance(decoded, accept):
                records.append(Record(key, value, topic, decoded))
        if records:
            yield records
        for event in taken:
            event.ack()  # drops our hold; take_events drops its own when we come back


async def _open(value: bytes, deps: Deps) -> tuple[Any, Exception | None]:
    """(the event or None when shredded, None) or (None, why the bytes are no event): a
    bad record is an answer, not an error to retry; the database away (looking a key up)
    is, and `retry` keeps trying meanwhile."""
    try:
        return await sealing.open_value(value, deps.data_keys), None
    except (msgspec.MsgspecError, KeysError) as exc:
        return None, exc


async def write_batch(deps: Deps, what: str, records: Sequence[Record[E]],
                      write: Callable[[Sequence[Record[E]]], Awaitable[object]]) -> list[Record[E]]:
    """Write `records` with `write`; returns the ones written (the rest are dead-lettered)."""
    if not records:
        return []
    try:
        await retry(lambda: write(records), what, transient=SINK_TRANSIENT)
        return list(records)
    except Refused as refused:
        if len(records) == 1:
            await _dead_letter(deps, records[0], f"{what}: {refused}")
            return []
    log.warning("%s: a batch of %d was refused; writing its records one by one", what, len(records))
    written: list[Record[E]] = []
    for record in records:
        try:
            await retry(lambda r=record: write([r]), what, transient=SINK_TRANSIENT)
            written.append(record)
        except Refused as refused:
            await _dead_letter(deps, record, f"{what}: {refused}")
    return written


async def _dead_letter(deps: Deps, record: Record[Any], why: str) -> None:
    await deps.send_dead_letter(record.key, record.value, record.topic, why)
