"""Events on Kafka sealed with their person's data key (crypto-shredding, issue 18).

Kafka cannot delete one person's records, so every Stride event goes out sealed: the record's
value is an envelope `{type: "sealed", key_id, blob}` where `blob` is the MessagePack event
(streams/events.py) encrypted with AES-256-GCM under the person's data key
(privacy/keys.py), and the record's key is `key_id` too. `key_id` is random: nothing but the
`user_data_keys` row ties it to the person, so once erasure deleted that row a record is
bytes nobody can read or attribute — in every topic, the dead-letter topic and any copy.

Which events: all of them. Every event names its person (`user_id`), and most carry
health data or a position besides (samples, metrics, summaries, risk alerts,
recommendations, notifications); sealing one costs microseconds. Keying by `key_id` keeps a
person's events — hence each of their workouts' events — in order on one partition.

Readers (the sinks, the dead-letter view) open envelopes with `open_value`; a record whose
key was shredded comes back as None, to be skipped and counted, never raised. Records
from before sealing (plain events) still read, so topics written by an older version drain.
"""

from __future__ import annotations

import secrets
import uuid

import msgspec

from privacy.keys import DataKey, DataKeys, KeysError
from streams import events

AAD = b"stride/event/v1"


class SealedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="sealed", tag_field="type"):
    """What a sealed record's value holds: the key's id and nonce || ciphertext || tag."""

    key_id: uuid.UUID
    blob: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[SealedEvent | events.AnyEvent] = msgspec.msgpack.Decoder(
    SealedEvent | events.AnyEvent)


def _aad(key_id: uuid.UUID) -> bytes:
    return AAD + key_id.bytes


def seal_with(key: DataKey, event: events.AnyEvent) -> tuple[bytes, bytes]:
    """(record key, record value) of `event` sealed with `key`."""
    blob = key.seal(events.encode(event), _aad(key.key_id))
    return key.key_id.bytes, _encoder.encode(SealedEvent(key_id=key.key_id, blob=blob))


async def seal(keys: DataKeys, event: events.AnyEvent) -> tuple[bytes, bytes]:
    """(record key, record value) of `event` sealed with its person's data key. Raises
    Shredded when the person no longer exists."""
    return seal_with(await keys.for_user(event.user_id), event)


def throwaway_key() -> DataKey:
    """A key kept nowhere, for records nobody reads (health probes): they pay the same
    sealing cost as real ones and carry nothing readable."""
    return DataKey(key_id=uuid.uuid4(), user_id=uuid.uuid4(), key=secrets.token_bytes(32))


def peek(value: bytes) -> SealedEvent | events.AnyEvent:
    """The envelope (or a plain event) without opening it; raises msgspec errors on bytes
    that are neither."""
    return _decoder.decode(value)


async def open_value(value: bytes, keys: DataKeys | None) -> events.AnyEvent | None:
    """The event in a record's value; None when it was sealed with a shredded key.

    Raises msgspec.MsgspecError on bytes that are no event or envelope, and
    privacy.keys.Unreadable on an envelope that does not open (damaged, forged): both are
    for the dead-letter topic. Plain events (records from before sealing) pass as they are."""
    outer = _decoder.decode(value)
    if not isinstance(outer, SealedEvent):
        return outer
    if keys is None:
        raise KeysError("a sealed record, and this process holds no data keys")
    key = await keys.by_id(outer.key_id)
    if key is None:
        return None
    return events.decode(key.open(outer.blob, _aad(outer.key_id)))
