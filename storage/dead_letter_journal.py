"""The dead-letter journal (`dead_letter_journal`, 0016): which dead-lettered records an admin
replayed or discarded, who, when and why — each record at most once.

`settle` is called inside the transaction that does the work (for a replay, the Kafka send
comes after it and the transaction commits only once Kafka has the record), so the unique key
is the lock: a second settle of the same record waits for the first transaction and then
finds the row, whoever asked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Literal

import msgspec
from psycopg import AsyncConnection

Action = Literal["replayed", "discarded"]


class Settlement(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    """The dead-letter topic, with the deployment's prefix."""
    partition: int
    offset: int
    action: Action
    replayed_to: str | None
    """The topic a replay sent the record back to (with the prefix); None for a discard."""
    actor_id: uuid.UUID
    at: dt.datetime
    note: str


_COLUMNS = "topic, partition, record_offset, action, replayed_to, actor_id, at, note"


def _settlement(r: tuple[object, ...]) -> Settlement:
    return Settlement(topic=r[0], partition=r[1], offset=r[2], action=r[3],  # type: ignore[arg-type]
                      replayed_to=r[4], actor_id=r[5], at=r[6], note=r[7])  # type: ignore[arg-type]


async def settle(conn: AsyncConnection, *, topic: str, partition: int, offset: int,
                 action: Action, actor_id: uuid.UUID, note: str,
                 replayed_to: str | None = None) -> Settlement | None:
    """Journal the record as settled; None when it already was (nothing written)."""
    cur = await conn.execute(
        f"INSERT INTO dead_letter_journal ({_COLUMNS})"
        " VALUES (%s, %s, %s, %s, %s, %s, now(), %s)"
        " ON CONFLICT (topic, partition, record_offset) DO NOTHING"
        f" RETURNING {_COLUMNS}",
        (topic, partition, offset, action, replayed_to, actor_id, note))
    row = await cur.fetchone()
    return None if row is None else _settlement(row)


async def settlement(conn: AsyncConnection, topic: str, partition: int,
                     offset: int) -> Settlement | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letter_journal"
        " WHERE topic = %s AND partition = %s AND record_offset = %s",
        (topic, partition, offset))
    row = await cur.fetchone()
    return None if row is None else _settlement(row)


async def settlements(conn: AsyncConnection, topic: str,
                      positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Settlement]:
    """{(partition, offset): its settlement} for those of `positions` that are settled."""
    if not positions:
        return {}
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letter_journal j"
        " JOIN unnest(%s::int[], %s::bigint[]) AS p(partition, record_offset)"
        "   USING (partition, record_offset)"
        " WHERE j.topic = %s",
        ([p for p, _ in positions], [o for _, o in positions], topic))
    found = [_settlement(r) for r in await cur.fetchall()]
    return {(s.partition, s.offset): s for s in found}
