"""Can this gateway start a workout now? The health check behind `/healthz`.

A gateway whose connections all answer may still be unable to serve a new workout (found by
trying: after a fault run, every `start` timed out while every component looked healthy).
So the check does what a `start` does: it asks the placement for a host for a new workout id
(a spare or a new actor, as a start would; for the sharded placement, the host that id
hashes to), has the host run a throwaway workout through its metrics, Kafka and Redis
(actors/shell.py `probe`), and releases it. Nothing of it reaches PostgreSQL, a leaderboard
or a coach.

A probe costs a host and a Kafka write, so its result is kept for `fresh_s` (a failure for
`RETRY_S`) and one probe runs at a time, however many ask: load balancers and `stride stack
status` may call `/healthz` as often as they like.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import msgspec

log = logging.getLogger("stride.gateway")

RETRY_S = 2.0
TIMEOUT_S = 15.0


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    ms: float | None = None
    """How long the probe took, from asking for a host to its answer."""
    error: str | None = None
    at: float = 0.0
    """time.monotonic() of the probe."""


class WorkoutProbe:
    def __init__(self, placement: Any, fresh_s: float = 30.0) -> None:
        self._placement = placement
        self._fresh_s = fresh_s
        self._last: ProbeResult | None = None
        self._running: asyncio.Task[ProbeResult] | None = None

    async def result(self) -> ProbeResult:
        last = self._last
        if last is not None and time.monotonic() - last.at < (self._fresh_s if last.ok else RETRY_S):
            return last
        if self._running is None:
            self._running = asyncio.create_task(self._probe())
        running = self._running
        try:
            return await asyncio.shield(running)
        finally:
            if running.done() and self._running is running:
                self._running = None

    async def _probe(self) -> ProbeResult:
        began = time.monotonic()
        wid = uuid.uuid4()
        try:
            host = await asyncio.wait_for(asyncio.to_thread(self._placement.handle, wid), TIMEOUT_S)
            await asyncio.wait_for(host.probe.remote(), TIMEOUT_S)
            result = ProbeResult(ok=True, ms=(time.monotonic() - began) * 1000, at=time.monotonic())
        except Exception as exc:  # Ray, the host, Kafka or Redis: any of them stops a start
            why = _reason(exc)
            log.warning("workout probe failed: %s", why)
            self._placement.forget(wid)
            result = ProbeResult(ok=False, error=f"a new workout cannot start: {why}", at=time.monotonic())
        finally:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._placement.release, wid), TIMEOUT_S)
            except Exception as exc:  # a host that never came up has nothing to release
                log.debug("probe host not released: %s", exc)
        self._last = result
        return result


def _reason(exc: BaseException) -> str:
    """One line: the host's own exception where Ray wraps one (its text is a traceback)."""
    cause = getattr(exc, "cause", None)
    inner = cause if isinstance(cause, BaseException) else exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(inner)).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}"[:300]
