"""Closes open WebSockets once their access ends — without relying on any one message.

Every ingest and live socket registers here with what it depends on: its token (a session
or a device token, with the session's absolute expiry) and, for a coach's live feed, the
athletes it shows. Access ends three ways, and each is covered twice:
- a note: logout, an ended session or device, a withdrawn consent, a left group or a
  revoked role publishes an `AccessChanged` on one Redis channel. Every gateway re-checks
  at once the sockets it concerns. Notes wait in a queue keyed by what they are about, so
  one account toggling its consents a hundred times costs one re-check, not a hundred,
  and never holds up anyone else's logout or withdrawal;
- a periodic pass, every `recheck_s`: all session and device tokens of open sockets are
  checked in one query each (which also counts the open socket as use of its session), and
  every live feed is authorized again. So a note that was lost — Redis restarted, a
  gateway was between subscriptions — delays the close by one period at most. After the
  subscription is re-established, everything is re-checked at once;
- absolute expiry, checked locally once a second.
The same pass keeps the quota slots of open sockets and live workouts alive (gateway/quotas.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from gateway.auth import Principal
from storage import accounts, devices, keyspace

log = logging.getLogger("stride.access")
POLICY_VIOLATION = 1008
RESUBSCRIBE_AFTER_S = 1.0
"""Pause before subscribing again when Redis went away."""

Slot = tuple[str, uuid.UUID, uuid.UUID]
"""A quota slot an open socket holds: (kind, user, member) — see QuotaGuard.touch."""


class AccessChanged(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID | None = None
    """A session or device token ended."""
    user_id: uuid.UUID | None = None
    """A user's roles or memberships changed."""
    athlete_id: uuid.UUID | None = None
    """An athlete's consents changed (to `group_id`, when only one group is concerned)."""
    group_id: uuid.UUID | None = None

    def key(self) -> tuple[object, ...]:
        return (self.session_id, self.user_id, self.athlete_id, self.group_id)


class Watched:
    """One open socket: who holds it, what it shows, how to re-check it and close it."""

    def __init__(self, principal: Principal, still_allowed: Callable[[], Awaitable[bool]],
                 close: Callable[[int, str], Awaitable[None]],
                 athletes: set[uuid.UUID] | None = None, group: uuid.UUID | None = None,
                 feed: bool = False) -> None:
        self.principal = principal
        self.still_allowed = still_allowed
        self.close = close
        self.athletes = athletes or set()
        self.group = group
        self.feed = feed
        """A coach's live feed: re-authorized in full on every periodic pass."""
        self.slots: set[Slot] = set()

    def concerned_by(self, note: AccessChanged) -> bool:
        p = self.principal
        if note.session_id is not None and note.session_id == p.session_id:
            return True
        if note.user_id is not None and note.user_id == p.user_id:
            return True
        if note.athlete_id is None or not self.feed:
            return False
        if self.group is not None:  # a group feed: any consent to this group may concern it
            return note.group_id is None or note.group_id == self.group
        return note.athlete_id in self.athletes


class AccessWatch:
    def __init__(self, redis: Any, prefix: str, pool: Any, *, idle: dt.timedelta,
                 recheck_s: float = 5.0, quotas: Any = None) -> None:
        self._redis = redis
        self._channel = keyspace.access_changed(prefix)
        self._pool = pool
        self._idle = idle
        self.recheck_s = recheck_s
        self._quotas = quotas
        self._open: set[Watched] = set()
        self._notes: OrderedDict[tuple[object, ...], AccessChanged] = OrderedDict()
        self._noted = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        """Sockets re-checked because of notes (coalescing keeps this low)."""

    def register(self, watched: Watched) -> None:
        self._open.add(watched)

    def unregister(self, watched: Watched) -> None:
        self._open.discard(watched)

    async def announce(self, note: AccessChanged) -> None:
        """Tell every gateway. The change is stored already; should Redis be away, the
        periodic pass finds it within `recheck_s` instead."""
        try:
            await self._redis.publish(self._channel, msgspec.json.encode(note))
        except Exception as exc:
            log.warning("access change not announced (the periodic re-check will find it): %s", exc)
            self._note(note)  # this gateway at least acts at once

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="access-watch-listen"),
                       asyncio.create_task(self._work(), name="access-watch-notes"),
                       asyncio.create_task(self._periodic(), name="access-watch-periodic")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- notes --

    def _note(self, note: AccessChanged) -> None:
        self._notes.setdefault(note.key(), note)  # already queued: nothing more to do
        self._noted.set()

    async def _listen(self) -> None:
        first = True
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    if not first:  # notes may have been missed meanwhile
                        await self.recheck_all()
                    first = False
                    while True:
                        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if msg is not None:
                            self._note(msgspec.json.decode(msg["data"], type=AccessChanged))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("access watch lost Redis; re-subscribing")
                await asyncio.sleep(RESUBSCRIBE_AFTER_S)

    async def _work(self) -> None:
        while True:
            await self._noted.wait()
            while self._notes:
                _, note = self._notes.popitem(last=False)
                concerned = [w for w in list(self._open) if w.concerned_by(note)]
                await self._recheck(concerned)
            self._noted.clear()

    # -- periodic --

    async def _periodic(self) -> None:
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(1.0)  # the expiry check's pace
            try:
                await self._close_expired()
                if time.monotonic() - last_full >= self.recheck_s:
                    last_full = time.monotonic()
                    await self.recheck_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("access re-check failed; trying again next period")

    async def recheck_all(self) -> None:
        """Every open socket's token, in one query per kind, then every live feed in full."""
        sockets = list(self._open)
        sessions = [w.principal.session_id for w in sockets
                    if w.principal.kind == "session" and w.principal.session_id is not None]
        tokens = [w.principal.session_id for w in sockets
                  if w.principal.kind == "device" and w.principal.session_id is not None]
        async with self._pool.connection() as conn:
            valid = await accounts.touch_sessions(conn, sessions, self._idle)
            valid |= await devices.still_valid(conn, tokens)
        ended = [w for w in sockets if w.principal.kind != "dev" and w.principal.session_id not in valid]
        for watched in ended:
            await self._close(watched, "access ended (logout, session or device ended)")
        await self._recheck([w for w in sockets if w.feed and w not in ended])
        if self._quotas is not None:
            await self._quotas.touch([slot for w in self._open for slot in w.slots])

    async def _recheck(self, sockets: list[Watched]) -> None:
        for watched in sockets:
            if watched not in self._open:
                continue
            try:
                allowed = await watched.still_allowed()
            except Exception:  # the database is away: keep the socket, try next period
                log.warning("could not re-check a socket's access; next period", exc_info=True)
                continue
            if not allowed:
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
