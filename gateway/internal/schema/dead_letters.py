"""Dead letters (admins): the records a sink could never write, inspected, replayed into the
topic they came from once the cause is fixed, or discarded — each settled once, journalled.

Kafka is read and written by streams/dead_letters.py (what a record is: its source, error,
event type and ids, never its payload); the journal is storage/dead_letter_journal.py. A
replay journals the record and sends it in one transaction that commits only after Kafka has
acknowledged the send, so a second replay of the same record — another click, another admin
at the same moment — finds the row and is refused with `already_settled`, and a send that
failed leaves nothing journalled. (Should the commit itself fail after the send, the record
could be replayed again; the sinks' writes are idempotent, so it would still be written once.)
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import NewType, NoReturn

import strawberry
from aiokafka.errors import KafkaError
from graphql import GraphQLError
from strawberry.types import Info

from gateway.internal.audit_trail import audited
from gateway.internal.permissions import Admin, context_of, principal_of, refuse
from gateway.internal.probes import Targets
from gateway.text import NO_CONTROL
from privacy.keys import DataKeys
from storage import dead_letter_journal as journal
from streams import dead_letters, topics

MAX_LIMIT = 200
NOTE_MAX = 500
_NOTE = re.compile(NO_CONTROL)
_KAFKA_DOWN = (KafkaError, OSError, TimeoutError)


def _offset(value: object) -> int:
    # A GraphQLError, not a ValueError: graphql-core keeps any other exception as the error's
    # cause, which the API answers as `internal` (graphql_api.error_body).
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise GraphQLError("an offset is a whole number from 0 to 2^63 - 1")
    return value


KafkaOffset = NewType("KafkaOffset", int)
SCALARS = {KafkaOffset: strawberry.scalar(
    name="KafkaOffset", serialize=int, parse_value=_offset,
    description="A record's offset in its partition: a 64-bit whole number (GraphQL's Int "
                "has 32 bits).")}


@strawberry.enum(description="What an admin did with a dead-lettered record.")
class DeadLetterAction(enum.Enum):
    REPLAYED = "replayed"
    DISCARDED = "discarded"


@strawberry.type(description="How a dead-lettered record was settled (the journal's row).")
class DeadLetterSettlement:
    action: DeadLetterAction
    replayed_to: str | None = strawberry.field(
        description="The topic a replay sent the record back to; null for a discard.")
    actor_id: uuid.UUID
    at: dt.datetime
    note: str


@strawberry.type(description="A record on the dead-letter topic: where it came from and why it "
                             "was never written; never its payload.")
class DeadLetter:
    partition: int
    offset: KafkaOffset
    at: dt.datetime = strawberry.field(description="When it was dead-lettered.")
    source: str = strawberry.field(description="The topic it came from.")
    error: str = strawberry.field(description="Why the sink refused it.")
    event_type: str | None = strawberry.field(
        description="The event's type, or null when the bytes are no Stride event.")
    workout_id: uuid.UUID | None
    user_id: uuid.UUID | None
    size_bytes: int
    settlement: DeadLetterSettlement | None = strawberry.field(
        description="Null while the record is unsettled.")


def _ops(info: Info) -> Targets:
    ops: Targets = context_of(info).state.ops
    return ops


def _topic(ops: Targets) -> str:
    return ops.topic_prefix + topics.DEAD_LETTER


def _kafka_down(exc: BaseException) -> NoReturn:
    refuse("unavailable", f"Kafka did not answer ({type(exc).__name__}); try again shortly")


def _settlement(found: journal.Settlement | None, prefix: str) -> DeadLetterSettlement | None:
    if found is None:
        return None
    return DeadLetterSettlement(
        action=DeadLetterAction(found.action), actor_id=found.actor_id, at=found.at,
        note=found.note,
        replayed_to=None if found.replayed_to is None else found.replayed_to.removeprefix(prefix))


def _letter(found: dead_letters.DeadLetter, settled: journal.Settlement | None,
            prefix: str) -> DeadLetter:
    return DeadLetter(partition=found.partition, offset=KafkaOffset(found.offset), at=found.at,
                      source=found.source, error=found.error, event_type=found.event_type,
                      workout_id=found.workout_id, user_id=found.user_id,
                      size_bytes=found.size_bytes, settlement=_settlement(settled, prefix))


def _position(partition: int, note: str | None = None) -> str:
    """The note, stripped; refuses a bad partition or note."""
    if not 0 <= partition < 2**31:
        refuse("invalid", "`partition` must be a whole number from 0")
    if note is None:
        return ""
    note = note.strip()
    if not 1 <= len(note) <= NOTE_MAX or not _NOTE.match(note):
        refuse("invalid", f"`note` must say why, in 1 to {NOTE_MAX} characters without "
                          "control or invisible characters")
    return note


def _keys(info: Info) -> DataKeys | None:
    """The data keys that open sealed records (streams/sealing.py) for their type and ids."""
    keys: DataKeys | None = getattr(context_of(info).state, "data_keys", None)
    return keys


async def _find(ops: Targets, partition: int, offset: int,
                keys: DataKeys | None) -> dead_letters.DeadLetter:
    try:
        found = await dead_letters.find(ops.kafka, ops.topic_prefix, partition, offset, keys)
    except _KAFKA_DOWN as exc:
        _kafka_down(exc)
    if found is None:
        refuse("not_found", f"the dead-letter topic holds no record {partition}:{offset}")
    return found


async def _settle(info: Info, partition: int, offset: int, note: str,
                  action: journal.Action) -> DeadLetter:
    """Journal the record as settled by `action` (and for a replay, send it back) in one
    audited transaction."""
    ops = _ops(info)
    topic = _topic(ops)
    async with audited(info, f"deadletter:{partition}:{offset}", {"note": note[:NOTE_MAX]}) as conn:
        note = _position(partition, note)
        if await journal.settlement(conn, topic, partition, offset) is not None:
            refuse("already_settled", f"record {partition}:{offset} was settled before")
        found = await _find(ops, partition, offset, _keys(info))
        replayed_to = ops.topic_prefix + found.source if action == "replayed" else None
        settled = await journal.settle(conn, topic=topic, partition=partition, offset=offset,
                                       action=action, actor_id=principal_of(info).user_id,
                                       note=note, replayed_to=replayed_to)
        if settled is None:  # another admin's settle committed while we looked
            refuse("already_settled", f"record {partition}:{offset} was settled before")
        if action == "replayed":
            try:
                await dead_letters.replay(ops.kafka, ops.topic_prefix, partition, offset, note)
            except dead_letters.NotReplayable as exc:
                refuse("not_replayable", str(exc))
            except _KAFKA_DOWN as exc:
                _kafka_down(exc)
    return _letter(found, settled, ops.topic_prefix)


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="The newest dead-lettered records, newest first, each with "
                                  "how it was settled.")
    async def dead_letters(self, info: Info, limit: int = 50) -> list[DeadLetter]:
        if not 1 <= limit <= MAX_LIMIT:
            refuse("invalid", f"`limit` must be between 1 and {MAX_LIMIT}")
        ops = _ops(info)
        try:
            found = (await dead_letters.newest(ops.kafka, ops.topic_prefix, limit,
                                               _keys(info)))[:limit]
        except _KAFKA_DOWN as exc:
            _kafka_down(exc)
        async with context_of(info).state.pool.connection() as conn:
            settled = await journal.settlements(conn, _topic(ops),
                                                [(d.partition, d.offset) for d in found])
        return [_letter(d, settled.get((d.partition, d.offset)), ops.topic_prefix)
                for d in found]

    @strawberry.field(permission_classes=[Admin],
                      description="One dead-lettered record, or null when the topic does not "
                                  "hold it (never did, or it passed the retention).")
    async def dead_letter(self, info: Info, partition: int,
                          offset: KafkaOffset) -> DeadLetter | None:
        _position(partition)
        ops = _ops(info)
        try:
            found = await dead_letters.find(ops.kafka, ops.topic_prefix, partition, offset,
                                            _keys(info))
        except _KAFKA_DOWN as exc:
            _kafka_down(exc)
        if found is None:
            return None
        async with context_of(info).state.pool.connection() as conn:
            settled = await journal.settlement(conn, _topic(ops), partition, offset)
        return _letter(found, settled, ops.topic_prefix)


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[Admin],
                         description="Send a dead-lettered record back to the topic it came from "
                                     "(once its cause is fixed), journalled with `note`; "
                                     "`already_settled` if it was replayed or discarded before.")
    async def replay_dead_letter(self, info: Info, partition: int, offset: KafkaOffset,
                                 note: str) -> DeadLetter:
        return await _settle(info, partition, offset, note, "replayed")

    @strawberry.mutation(permission_classes=[Admin],
                         description="Settle a dead-lettered record without replaying it, "
                                     "journalled with `note`; `already_settled` if it was "
                                     "replayed or discarded before.")
    async def discard_dead_letter(self, info: Info, partition: int, offset: KafkaOffset,
                                  note: str) -> DeadLetter:
        return await _settle(info, partition, offset, note, "discarded")

