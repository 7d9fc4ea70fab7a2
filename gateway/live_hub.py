"""One Redis subscription per gateway process, shared by every live feed it serves.

Feeds register a listener per channel (`…:live:athlete:{id}`); the hub subscribes to a
channel while at least one listener wants it, decodes each message once, and hands it to
the listeners without waiting on them (each feed has its own bounded queue, so a slow
coach never holds up the hub or the other coaches). If Redis goes away the hub subscribes
again and tells every listener to resynchronise (a feed then sends a fresh snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec

log = logging.getLogger("stride.live")

RESUBSCRIBE_AFTER_S = 1.0


class Listener:
    """What a feed gives the hub: where messages go, and what to do after a Redis outage."""

    def __init__(self, deliver: Callable[[dict[str, Any], bytes], None],
                 resync: Callable[[], None]) -> None:
        self.deliver = deliver
        self.resync = resync


class LiveHub:
    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._listeners: dict[str, set[Listener]] = {}
        self._pubsub: Any = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def add(self, listener: Listener, channels: set[str]) -> None:
        new = []
        for channel in channels:
            listeners = self._listeners.setdefault(channel, set())
            if not listeners:
                new.append(channel)
            listeners.add(listener)
        if new and self._pubsub is not None:
            try:
                await self._pubsub.subscribe(*new)
            except Exception as exc:  # the run loop subscribes everything again
                log.warning("live hub: subscribe failed (%s); will resubscribe", exc)
        self._changed.set()

    async def remove(self, listener: Listener, channels: set[str]) -> None:
        gone = []
        for channel in channels:
            listeners = self._listeners.get(channel)
            if listeners is None:
                continue
            listeners.discard(listener)
            if not listeners:
                del self._listeners[channel]
                gone.append(channel)
        if gone and self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(*gone)
            except Exception as exc:
                log.warning("live hub: unsubscribe failed (%s)", exc)

    @property
    def channels(self) -> int:
        return len(self._listeners)

    async def _run(self) -> None:
        first = True
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    if self._listeners:
                        await pubsub.subscribe(*self._listeners)
                    self._pubsub = pubsub
                    if not first:
                        for listeners in list(self._listeners.values()):
                            for listener in list(listeners):
                                listener.resync()
                    first = False
                    await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live hub lost Redis; subscribing again")
            self._pubsub = None
            await asyncio.sleep(RESUBSCRIBE_AFTER_S)  # back off before reconnecting

    async def _pump(self, pubsub: Any) -> None:
        while True:
            if not pubsub.subscribed:  # nothing to listen to until a feed asks
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                continue
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) \
                else message["channel"]
            raw = message["data"]
            try:
                payload = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                log.warning("live hub: undecodable message on %s dropped", channel)
                continue
            for listener in list(self._listeners.get(channel, ())):
                listener.deliver(payload, raw)
