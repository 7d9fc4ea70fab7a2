"""Closes open WebSockets as soon as their access ends.

Every ingest and live socket registers here with what it depends on: its session (and
its expiry) and, for a coach's live feed, the athletes it watches. Logout, ending a
session, withdrawing a consent or revoking a role publishes a note on one Redis channel;
every gateway process receives it and re-checks only the sockets it concerns, closing
those no longer allowed. Expiry is checked locally once a second, without the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from gateway.auth import Principal

log = logging.getLogger("stride.access")
POLICY_VIOLATION = 1008
RESUBSCRIBE_AFTER_S = 1.0
"""Pause before subscribing again when Redis went away."""


class AccessChanged(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    athlete_id: uuid.UUID | None = None


class Watched:
    """One open socket: who holds it, what it shows, how to re-check it and close it."""

    def __init__(self, principal: Principal, still_allowed: Callable[[], Awaitable[bool]],
                 close: Callable[[int, str], Awaitable[None]],
                 athletes: set[uuid.UUID] | None = None, any_consent: bool = False) -> None:
        self.principal = principal
        self.still_allowed = still_allowed
        self.close = close
        self.athletes = athletes or set()
        self.any_consent = any_consent  # a group feed: any consent change may concern it

    def concerned_by(self, note: AccessChanged) -> bool:
        p = self.principal
        return ((note.session_id is not None and note.session_id == p.session_id)
                or (note.user_id is not None and note.user_id == p.user_id)
                or (note.athlete_id is not None
                    and (self.any_consent or note.athlete_id in self.athletes)))


class AccessWatch:
    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis = redis
        self._channel = f"{prefix}:access-changed"
        self._open: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None

    def register(self, watched: Watched) -> None:
        self._open.add(watched)

    def unregister(self, watched: Watched) -> None:
        self._open.discard(watched)

    async def announce(self, note: AccessChanged) -> None:
        await self._redis.publish(self._channel, msgspec.json.encode(note))

    async def announce_consent(self, athlete_id: uuid.UUID) -> None:
        await self.announce(AccessChanged(athlete_id=athlete_id))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="access-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    while True:
                        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if msg is not None:
                            note = msgspec.json.decode(msg["data"], type=AccessChanged)
                            await self._recheck([w for w in self._open if w.concerned_by(note)])
                        await self._close_expired()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("access watch lost Redis; re-subscribing")
                await self._close_expired()
                await asyncio.sleep(RESUBSCRIBE_AFTER_S)

    async def _recheck(self, sockets: list[Watched]) -> None:
        for watched in sockets:
            if not await watched.still_allowed():
                await self._close(watched, "access ended (logout, session ended or consent withdrawn)")

    async def _close_expired(self) -> None:
        now = dt.datetime.now(dt.UTC)
        for watched in list(self._open):
            expires = watched.principal.expires_at
            if expires is not None and expires <= now:
                await self._close(watched, "session expired; log in again")

    async def _close(self, watched: Watched, reason: str) -> None:
        self.unregister(watched)
        try:
            await watched.close(POLICY_VIOLATION, reason)
        except Exception:  # already closed by the peer
            log.debug("socket was already closed")
