"""Erasing a person (GDPR art. 17): the order of the steps, over one port per kind of store.

The steps, and why in this order:
1. `begin` — lock the account, end its sessions and device tokens, tombstone every workout
   id (`workout_ids.deleted_at`: every writer skips such ids, so events still in Kafka
   cannot bring anything back) and open the person's `erasure_journal` row. Committed first:
   from here on no token of theirs works and nothing new is written for them.
2. `ended` — tell the gateways, so the person's device and live sockets close now rather
   than at the next periodic re-check (gateway/access_watch.py).
3. `stop_actor` — workouts still recording lose their Ray actor (and its in-memory state);
   once more after step 4, in case a frame that raced the socket's close started one again,
   and their rows are deleted once more (a sink's write that began before step 1).
4. `delete_workout`, one workout per transaction — a big account is many short
   transactions, never one long lock on the time-series tables.
5. `purge` — Redis: every key naming the person or one of their workouts, and their
   places on every leaderboard.
6. `forget_keys` — the per-user data key goes with the users row (crypto-shredding of the
   Kafka records: privacy/keys.py); in-process caches of it are dropped here.
7. `finish` — pseudonymise the journals that keep an audit trail, delete the users row
   (its cascades take the rest) and complete the journal row with what was cleared.

Every step is idempotent, so an erasure that stopped half-way is simply run again (the
users row, deleted last, still carries `erasure_requested_at`): the worker's maintenance
job does that. This module orders the steps; storage/erasure.py implements the ports.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec


class WorkoutRef(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    recording: bool
    """Still created, active or paused (or never summarised): its actor may be running."""


class Begun(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    """Some stores key the person by a digest of it (login throttling)."""
    ended_tokens: list[uuid.UUID]
    """Sessions and device tokens that ended: their sockets must close."""
    workouts: list[WorkoutRef]


class Report(msgspec.Struct, kw_only=True):
    """What one erasure cleared; stored (as `stores`) in the erasure journal."""

    rows: dict[str, int] = msgspec.field(default_factory=dict)
    """Rows deleted (or pseudonymised, `…:pseudonymised`) per table."""
    workouts: int = 0
    actors_stopped: int = 0
    redis_keys: int = 0
    """Redis keys deleted, plus leaderboard places removed."""
    duration_ms: int = 0

    def add(self, rows: dict[str, int]) -> None:
        for table, n in rows.items():
            self.rows[table] = self.rows.get(table, 0) + n


class Account(Protocol):
    """The person's rows in PostgreSQL (storage/erasure.py)."""

    async def begin(self, user_id: uuid.UUID, pseudonym: str) -> Begun | None:
        """Steps 1: None when there is no such account."""

    async def delete_workout(self, workout_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, int]:
        """One workout and everything derived from it; rows deleted per table."""

    async def finish(self, user_id: uuid.UUID, email: str, pseudonym: str,
                     report: Report) -> dict[str, int]:
        """Journals pseudonymised, the users row and its cascades deleted, the journal row
        completed with `report` — in one transaction."""


class Caches(Protocol):
    """The person's keys in Redis (storage/erasure.py)."""

    async def purge(self, user_id: uuid.UUID, email: str, workout_ids: list[uuid.UUID]) -> int:
        """Delete every key naming them; remove them from every leaderboard."""


Pseudonym = Callable[[uuid.UUID], str]
"""HMAC-SHA256(pepper, user_id) as hex: privacy/keys.py KeyRing.pseudonym."""


class Erasure:
    def __init__(self, account: Account, caches: Caches, pseudonym: Pseudonym, *,
                 ended: Callable[[uuid.UUID, list[uuid.UUID]], Awaitable[None]] | None = None,
                 stop_actor: Callable[[uuid.UUID], Awaitable[None]] | None = None,
                 forget_keys: Callable[[uuid.UUID], None] | None = None) -> None:
        self._account = account
        self._caches = caches
        self._pseudonym = pseudonym
        self._ended = ended
        self._stop_actor = stop_actor
        self._forget_keys = forget_keys

    async def erase(self, user_id: uuid.UUID) -> Report | None:
        """Erase the person everywhere; None when there is no such account (already erased
        or never there). Raises on a store failure: run it again to finish."""
        started = time.monotonic()
        pseudonym = self._pseudonym(user_id)
        begun = await self._account.begin(user_id, pseudonym)
        if begun is None:
            return None
        if self._ended is not None:
            await self._ended(user_id, begun.ended_tokens)
        report = Report(workouts=len(begun.workouts))
        recording = [w.id for w in begun.workouts if w.recording]
        await self._stop_actors(recording)
        report.actors_stopped = len(recording) if self._stop_actor is not None else 0
        for workout in begun.workouts:
            report.add(await self._account.delete_workout(workout.id, user_id))
        # Again: a frame that raced the socket's close may have started a new actor, and a
        # sink's write that began before step 1 may have committed after its workout went.
        await self._stop_actors(recording)
        for workout_id in recording:
            report.add(await self._account.delete_workout(workout_id, user_id))
        report.redis_keys = await self._caches.purge(user_id, begun.email,
                                                     [w.id for w in begun.workouts])
        if self._forget_keys is not None:
            self._forget_keys(user_id)
        report.duration_ms = round((time.monotonic() - started) * 1000)
        report.add(await self._account.finish(user_id, begun.email, pseudonym, report))
        # After the users row is gone: coach feeds that showed the person re-check now.
        if self._ended is not None:
            await self._ended(user_id, [])
        return report


    async def _stop_actors(self, workout_ids: list[uuid.UUID]) -> None:
        if self._stop_actor is not None:
            for workout_id in workout_ids:
                await self._stop_actor(workout_id)


def stand_in(pseudonym: str) -> uuid.UUID:
    """The UUID that replaces the person's id in the journals kept as an audit trail: the
    same for every row of one person, and not their id."""
    return uuid.UUID(hex=pseudonym[:32])
