"""The Redis part of a backup set: the keys worth keeping, as Redis's own DUMP payloads.

Redis is a cache and a fan-out (storage/keyspace.py): everything in it can be rebuilt or is
short-lived. A backup keeps the families whose loss costs something to rebuild — workout
actors' snapshots and journals (a workout streaming at backup time resumes exactly where the
restored snapshot says), the leaderboards and the recommendation sets — and leaves out the
rest: placements and spare hosts name Ray actors that do not outlive the cluster, live state
is seconds old, quotas, login throttles and sign-in flows are counters and flows under way.

Why DUMP/RESTORE of keys rather than an RDB file (BGSAVE, `redis-cli --rdb`): an RDB holds
the whole server (every prefix sharing it, tests' and other stacks'), and loading one means
stopping Redis and replacing its files (with appendonly on, its AOF too), which a restore
must not do to a server it did not start. Keys restore into the running server, under the
restoring stack's own prefix, and one at a time — so the erasure replay can then remove what
belonged to an erased person like any other key.

File format: records of a 4-byte big-endian length and a MessagePack `RedisRecord`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec
import redis

KEPT_FAMILIES = ("workout", "lb", "reco")
"""Key families (the part after the prefix, up to the next ':') a backup keeps."""

_BATCH = 500
_LENGTH = struct.Struct(">I")


class RedisRecord(msgspec.Struct, frozen=True, array_like=True):
    key: bytes
    """The key without the stack's prefix and its ':'."""
    expires_at_ms: int
    """When the key expires, Unix milliseconds; 0: never. Absolute, so a day-leaderboard
    restored a week later still expires when it would have (or is not restored at all)."""
    payload: bytes
    """Redis's DUMP serialisation (value, type and RDB version)."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RedisRecord)


def _kept_keys(client: redis.Redis, prefix: str) -> Iterator[bytes]:
    for family in KEPT_FAMILIES:
        yield from client.scan_iter(match=f"{prefix}:{family}:*", count=1000)


def count_kept(client: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in _kept_keys(client, prefix))


def dump_keys(client: redis.Redis, prefix: str, out: BinaryIO,
              advance: Callable[[int], None]) -> int:
    """Write every kept key under `prefix` to `out`; returns how many were written.

    A key that expires or is deleted between SCAN and DUMP is skipped (DUMP answers nil)."""
    strip = len(prefix) + 1
    written = 0
    batch: list[bytes] = []

    def flush() -> int:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.dump(key)
            pipe.pttl(key)
        answers = pipe.execute()
        now_ms = int(time.time() * 1000)
        done = 0
        for i, key in enumerate(batch):
            payload, ttl_ms = answers[2 * i], answers[2 * i + 1]
            if payload is None:
                continue
            expires_at_ms = now_ms + int(ttl_ms) if int(ttl_ms) > 0 else 0
            frame = _encoder.encode(RedisRecord(key[strip:], expires_at_ms, payload))
            out.write(_LENGTH.pack(len(frame)) + frame)
            done += 1
        advance(len(batch))
        batch.clear()
        return done

    for key in _kept_keys(client, prefix):
        batch.append(key)
        if len(batch) >= _BATCH:
            written += flush()
    if batch:
        written += flush()
    return written


def read_records(path: Path) -> Iterator[RedisRecord]:
    with path.open("rb") as src:
        while header := src.read(_LENGTH.size):
            if len(header) < _LENGTH.size:
                raise ValueError(f"{path.name} ends inside a record header")
            (size,) = _LENGTH.unpack(header)
            frame = src.read(size)
            if len(frame) < size:
                raise ValueError(f"{path.name} ends inside a record")
            yield _decoder.decode(frame)


def clear_kept(client: redis.Redis, prefix: str) -> int:
    """Delete the kept families under `prefix` (what a restore replaces); returns the count."""
    removed = 0
    batch: list[bytes] = []
    for key in _kept_keys(client, prefix):
        batch.append(key)
        if len(batch) >= _BATCH:
            removed += int(client.unlink(*batch))
            batch.clear()
    if batch:
        removed += int(client.unlink(*batch))
    return removed


def restore_keys(client: redis.Redis, prefix: str, path: Path,
                 advance: Callable[[int], None]) -> int:
    """RESTORE every record of `path` under `prefix` (replacing a key that exists); a key
    whose time ran out since the backup is left out. Returns how many were restored."""
    restored = 0
    pipe = client.pipeline(transaction=False)
    for record in read_records(path):
        if record.key.split(b":", 1)[0].decode(errors="replace") not in KEPT_FAMILIES:
            raise ValueError(f"{path.name} holds a key outside the kept families")
        if record.expires_at_ms and record.expires_at_ms <= time.time() * 1000:
            advance(1)
            continue
        pipe.restore(prefix.encode() + b":" + record.key, record.expires_at_ms, record.payload,
                     replace=True, absttl=bool(record.expires_at_ms))
        restored += 1
        if len(pipe) >= _BATCH:
            pipe.execute()
            advance(_BATCH)
    if len(pipe):
        advance(len(pipe))
        pipe.execute()
    return restored
