"""Workout files read and replayed in worker processes of their own, a few at a time.

A 20 MB file costs tens of seconds of CPU: measured here, 100,000 GPX points took 6 s to
read and 20 s to replay through the workout's code. Password hashing has a thread pool
of its own (gateway/hashing.py), which works because argon2 lets go of the GIL; parsing
and the replay are Python and hold it. In a thread of the gateway they made every turn
of its event loop wait for the GIL (an echo round trip's p95 went from 0.4 ms to 25 ms
while one file was read), and that is the loop that sends device acks. So they run in
worker processes, started fresh (never forked from a process running Ray threads), at a
lower CPU priority.

A gateway imports `workers` files at once; `queue` more may wait `wait_s` for a turn;
any other is refused at once (`Busy`, 503 `imports_busy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import msgspec

from actors import recordings
from gateway import protocol
from gateway.ingest_limits import EARLIEST_START_MS
from streams.events import Sample

log = logging.getLogger("stride.gateway")
T = TypeVar("T")
NICENESS = 10
"""How much lower the workers run than the gateway."""


class Busy(Exception):
    """Every worker is busy and the waiting line is full, or the wait was too long."""


class WorkerLost(Exception):
    """A worker process died during a job (its pool has been replaced)."""


class TrackRefused(Exception):
    """The file cannot be a workout: `code` and `message` for the 422 answer. (Raised in a
    worker and pickled back, so its args are exactly what it was made with.)"""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


def read_track(content: bytes, name: str, max_future_ms: int) -> list[Sample]:
    """The file's samples, checked as the device protocol checks a device's (in a worker)."""
    try:
        samples = recordings.samples_of(
            recordings.parse(content, recordings.kind_of(content, name), name), name)
    except recordings.NoTrackPoints as exc:
        raise TrackRefused("no_track_points", str(exc)) from None
    except recordings.Unreadable as exc:
        raise TrackRefused("unreadable_file", str(exc)) from None
    try:
        checked = msgspec.convert(samples, list[protocol.DeviceSample])
    except msgspec.ValidationError as exc:
        raise TrackRefused("invalid_track", f"{name}: a point a device could not send: {exc}"
                           ) from None
    first, last = checked[0].t_ms, checked[-1].t_ms
    if first < EARLIEST_START_MS or last > time.time() * 1000 + max_future_ms:
        raise TrackRefused("invalid_track", f"{name}: its times must lie between 2000 and now")
    return [s.row() for s in checked]


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # not allowed, not Linux: still works
        os.setpriority(os.PRIO_PROCESS, 0, NICENESS)


class ImportPool:
    def __init__(self, workers: int = 1, queue: int = 2, wait_s: float = 10.0) -> None:
        self._workers, self._wait_s = workers, wait_s
        self._capacity = workers + queue
        self._admitted = 0
        self._turns = asyncio.Semaphore(workers)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self._workers, initializer=_lower_priority,
                                   mp_context=multiprocessing.get_context("spawn"))

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One of the gateway's import turns, for the whole import (reading, replaying,
        storing); raises Busy when the line is full or the turn does not come in time."""
        if self._admitted >= self._capacity:
            raise Busy(f"{self._capacity} workout files are already being imported or waiting")
        self._admitted += 1
        try:
            try:
                await asyncio.wait_for(self._turns.acquire(), self._wait_s)
            except TimeoutError:
                raise Busy(f"no import turn came within {self._wait_s:g} s") from None
            try:
                yield
            finally:
                self._turns.release()
        finally:
            self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a worker (`fn` and its arguments must pickle)."""
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            log.error("an import worker died (killed, or out of memory); starting new ones")
            if self._pool is pool:
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise WorkerLost("the import worker stopped") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
