"""Values at rest in Redis sealed with their person's data key (issue 18, encryption at rest).

A workout actor's snapshot and journal and a workout's newest live update hold where the
athlete is and their heart rate; a Redis dump, replica or backup must not give them away, and
erasing the person must make any copy left behind unreadable (crypto-shredding, as on Kafka:
streams/sealing.py). So each such value is stored as

    0xC1 · version (1) · key_id (16 bytes) · nonce · AES-256-GCM ciphertext · tag

under the person's data key (privacy/keys.py), with the value's Redis key name as associated
data: a value copied under another key (another workout, a journal entry passed off as a
snapshot) does not open. 0xC1 is a byte MessagePack never uses and UTF-8 never starts with,
so a value written before sealing (MessagePack snapshot, JSON live update) is told apart and
still read: workouts live across an upgrade.

Opening needs no user id: the key id travels with the value, and once the key is shredded
`open_value` raises Shredded, which readers treat as "gone".
"""

from __future__ import annotations

import uuid

from privacy.keys import DataKey, DataKeys, KeysError, Shredded, Unreadable

MAGIC = 0xC1
VERSION = 1
_HEADER = 2 + 16
_AAD = b"stride/redis/v1|"

__all__ = ["KeysError", "Shredded", "Unreadable", "is_sealed", "open_value", "seal_value"]


def seal_value(key: DataKey, redis_key: str, plaintext: bytes) -> bytes:
    """`plaintext`, sealed for storing under `redis_key`."""
    return bytes((MAGIC, VERSION)) + key.key_id.bytes + key.seal(plaintext, _AAD + redis_key.encode())


def is_sealed(value: bytes) -> bool:
    return len(value) > 0 and value[0] == MAGIC


async def open_value(keys: DataKeys | None, redis_key: str, value: bytes) -> bytes:
    """What was sealed under `redis_key` (a value from before sealing passes as it is).

    Raises Shredded when its key is gone (the person was erased), Unreadable when it does
    not open (damaged, or moved from another key), KeysError when this process holds no
    data keys but the value is sealed."""
    if not is_sealed(value):
        return value
    if len(value) < _HEADER or value[1] != VERSION:
        raise Unreadable(f"a sealed value of an unknown version under {redis_key}")
    if keys is None:
        raise KeysError("a sealed value in Redis, and this process holds no data keys")
    key = await keys.by_id(uuid.UUID(bytes=value[2:_HEADER]))
    if key is None:
        raise Shredded("the data key is gone")
    return key.open(value[_HEADER:], _AAD + redis_key.encode())
