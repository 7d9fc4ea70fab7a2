"""Leaderboards in Redis: one sorted set per board, members user ids, scores metres.

Key: `{prefix}:lb:{sport}:{region}:{window}:{period}`, period `YYYY-MM-DD` (day), ISO
`YYYY-Www` (week) or `all`. Day keys lapse 8 days after the day began, week keys 5 weeks
after the week began (`storage.leaderboards.KEEP`); `all` keys never do. Older periods are
answered from PostgreSQL's `leaderboard` table, which keeps every board.

Writes carry absolute scores read back from the table, with `ZADD … GT`: a score only ever
grows, so a redelivered, retried or out-of-order write can never lower one. Redis is a
cache: `rebuild` rewrites every live key from the table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from psycopg import AsyncConnection

from storage import keyspace
from storage import leaderboards as repo
from storage.leaderboards import Board, Standing

REBUILD_CHUNK = 2000
"""Members per ZADD while a rebuild fills a board."""
TMP_TTL_S = 3600
CATCH_UP = dt.timedelta(minutes=1)
"""A rebuild re-applies the rows changed this long before its snapshot (and after): a
counting transaction that began before and committed after the snapshot is caught too."""


class RankedMember(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    distance_m: float


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a board as Redis holds it; `me` is (rank from 1, distance_m) or None."""

    members: list[RankedMember]
    me: tuple[int, float] | None


class RebuildSummary(msgspec.Struct, frozen=True, kw_only=True):
    boards: int
    entries: int
    removed: int
    """Keys of boards that are no longer in the table (erased athletes, lapsed periods)."""


def key_of(prefix: str, board: Board) -> str:
    period = repo.period_label(board.window, board.period_start)
    return keyspace.leaderboard(prefix, board.sport, board.region, board.window, period)


def _pattern(prefix: str) -> str:
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
    return keyspace.leaderboard_pattern(escaped)


async def apply_standings(redis: aioredis.Redis, prefix: str, standings: Sequence[Standing],
                          now: dt.datetime | None = None) -> int:
    """Write absolute rows (ZADD GT) to their boards; boards already lapsed are skipped.
    Returns the number of rows written."""
    now = now or dt.datetime.now(dt.UTC)
    pipe = redis.pipeline(transaction=False)
    written = 0
    for standing in standings:
        until = repo.expires_at(standing.board)
        if until is not None and until <= now:
            continue
        key = key_of(prefix, standing.board)
        pipe.zadd(key, {str(standing.user_id): standing.distance_m}, gt=True)
        if until is not None:
            pipe.expireat(key, until)
        written += 1
    if written:
        await pipe.execute()
    return written


async def replace_standings(redis: aioredis.Redis, prefix: str, retracted: repo.Retracted,
                            now: dt.datetime | None = None) -> int:
    """After a workout left (or moved between) boards: write the rows it touched as they now
    are, lower ones included (a plain ZADD, where counting only ever raises with GT), and
    remove athletes left without a workout on a board. Lapsed boards are skipped. A counting
    that races this write may leave Redis a step behind the table until the next write for
    that athlete or `stride leaderboards rebuild`; Redis is a cache. Returns the rows written
    or removed."""
    now = now or dt.datetime.now(dt.UTC)
    pipe = redis.pipeline(transaction=False)
    written = 0
    for board, user_id, score in [*((s.board, s.user_id, s.distance_m) for s in retracted.standings),
                                  *((b, u, None) for b, u in retracted.emptied)]:
        until = repo.expires_at(board)
        if until is not None and until <= now:
            continue
        key = key_of(prefix, board)
        if score is None:
            pipe.zrem(key, str(user_id))
        else:
            pipe.zadd(key, {str(user_id): score})
            if until is not None:
                pipe.expireat(key, until)
        written += 1
    if written:
        await pipe.execute()
    return written


async def read_page(redis: aioredis.Redis, prefix: str, board: Board, limit: int, offset: int,
                    me: uuid.UUID) -> Page | None:
    """A page of the board, best first (equal scores: Redis's order), and the caller's rank;
    None when Redis has no key for the board (lapsed or not rebuilt: ask the table)."""
    key = key_of(prefix, board)
    pipe = redis.pipeline(transaction=True)  # one consistent view of the board
    pipe.exists(key)
    pipe.zrevrange(key, offset, offset + limit - 1, withscores=True)
    pipe.zrevrank(key, str(me))
    pipe.zscore(key, str(me))
    exists, members, rank, score = await pipe.execute()
    if not exists:
        return None
    return Page(
        members=[RankedMember(user_id=uuid.UUID(_text(m)), distance_m=float(s)) for m, s in members],
        me=None if rank is None else (int(rank) + 1, float(score)),
    )


def _text(member: Any) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)


async def rebuild(conn: AsyncConnection, redis: aioredis.Redis, prefix: str,
                  now: dt.datetime | None = None) -> RebuildSummary:
    """Rewrite every board still kept in Redis from the `leaderboard` table.

    Each board is filled under a temporary key and RENAMEd over the live one, so readers
    see the old board or the new one, never half of one. Keys of boards the table no longer
    has are deleted. Live writes that raced with the snapshot are re-applied last (ZADD GT,
    so applying one twice is harmless)."""
    now = now or dt.datetime.now(dt.UTC)
    cur = await conn.execute("SELECT clock_timestamp()")
    row = await cur.fetchone()
    assert row is not None
    snapshot_at: dt.datetime = row[0]
    writer = _BoardWriter(redis, prefix)
    async with conn.transaction():
        async for standing in repo.board_rows(conn, now):
            await writer.add(standing)
    await writer.finish()
    removed = await _delete_other_keys(redis, prefix, writer.keys)
    await apply_standings(redis, prefix, await repo.rows_changed_since(conn, snapshot_at - CATCH_UP),
                          now)
    return RebuildSummary(boards=len(writer.keys), entries=writer.entries, removed=removed)


class _BoardWriter:
    """Fills one board at a time under a temporary key, then swaps it in."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._board: Board | None = None
        self._tmp = ""
        self._pending: dict[str, float] = {}
        self.keys: set[str] = set()
        self.entries = 0

    async def add(self, standing: Standing) -> None:
        if standing.board != self._board:
            await self.finish()
            self._board = standing.board
            self._tmp = keyspace.leaderboard_rebuild(self._prefix, uuid.uuid4().hex)
        self._pending[str(standing.user_id)] = standing.distance_m
        self.entries += 1
        if len(self._pending) >= REBUILD_CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(self._tmp, self._pending)
            pipe.expire(self._tmp, TMP_TTL_S)  # a rebuild that dies leaves no litter behind
            await pipe.execute()
            self._pending = {}

    async def finish(self) -> None:
        if self._board is None:
            return
        await self._flush()
        key = key_of(self._prefix, self._board)
        pipe = self._redis.pipeline(transaction=True)
        until = repo.expires_at(self._board)
        if until is None:
            pipe.persist(self._tmp)
        else:
            pipe.expireat(self._tmp, until)
        pipe.rename(self._tmp, key)  # RENAME keeps the source's TTL
        await pipe.execute()
        self.keys.add(key)
        self._board = None


async def _delete_other_keys(redis: aioredis.Redis, prefix: str, keep: set[str]) -> int:
    stale = [key async for key in redis.scan_iter(match=_pattern(prefix), count=1000)
             if _text(key) not in keep]
    for start in range(0, len(stale), 500):
        await redis.delete(*stale[start:start + 500])
    return len(stale)
