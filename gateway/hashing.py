"""Password hashing on its own small, bounded pool.

Argon2id takes tens of milliseconds of CPU per hash by design. Run on the event loop's
default thread pool, a flood of `register`/`login` would queue the device path's own
thread hops behind it (the ingest handler looks up actors in threads) and delay every
ack. So hashing gets threads of its own, at a lower CPU priority than the event loop,
and a bounded queue: when it is full the request is refused at once (503 `busy`, retry
after a second) instead of waiting.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Argon2id at OWASP's minimum (Password Storage Cheat Sheet): m = 19 MiB, t = 2, p = 1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
T = TypeVar("T")
NICENESS = 10
"""How much lower the hashing threads run than the event loop (Linux: per thread)."""


class Busy(Exception):
    """Every hashing thread is busy and the queue is full."""


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
    except (OSError, AttributeError):  # not Linux, or not allowed: hashing still works
        pass


class PasswordHashing:
    def __init__(self, threads: int = 1, queue: int = 32) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2",
                                        initializer=_lower_priority)
        self._capacity = threads + queue
        self._in_use = 0
        # Verified when the e-mail is unknown, so both answers take the same time.
        self._dummy = HASHER.hash("stride-dummy-password")

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._in_use >= self._capacity:
            raise Busy(f"{self._capacity} password checks are already waiting")
        self._in_use += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._in_use -= 1

    async def hash(self, password: str) -> str:
        return await self._run(HASHER.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; always spends one hash, even with no account."""
        return await self._run(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return HASHER.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    def needs_rehash(password_hash: str) -> bool:
        return HASHER.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
