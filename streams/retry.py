"""Retrying and waiting, in one place: `retry` (capped exponential backoff: retry what
may pass later, give up on what never will) and `wait_until` / `wait_until_async` (a bounded
poll for a condition, never a bare sleep).

Faust marks an event done even when the agent raised, so a sink must never let a failed
write escape. Connection trouble is retried with capped exponential backoff, forever:
the event stays unacknowledged meanwhile. A record the database refuses on its merits
(a constraint, a bad value) is poison: the sink sends it to the dead-letter topic, counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg

T = TypeVar("T")
log = logging.getLogger("stride.sinks")

TRANSIENT = (psycopg.OperationalError, psycopg.errors.SerializationFailure,
             psycopg.errors.DeadlockDetected, OSError, TimeoutError)


def is_poison(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.Error) and not isinstance(exc, TRANSIENT)


class Refused(Exception):
    """A call that retrying cannot fix (the wrapped error says why)."""


UNEXPECTED_ATTEMPTS = 4
"""Tries of a call that fails for no known reason before `retry` gives up on it."""


async def retry(call: Callable[[], Awaitable[T]], what: str, *,
                transient: tuple[type[BaseException], ...] = TRANSIENT,
                first_delay_s: float = 0.1, max_delay_s: float = 5.0) -> T:
    """Run `call` until it succeeds, with capped exponential backoff between tries.

    A `transient` error (the connection, a deadlock) is retried forever: whatever waits on
    the result stays unacknowledged meanwhile. A poison error (`is_poison`) raises `Refused`
    at once; any other error is retried `UNEXPECTED_ATTEMPTS` times, then raises `Refused`.
    """
    delay = first_delay_s
    attempt = unexpected = 0
    while True:
        try:
            return await call()
        except transient as exc:
            attempt += 1
            log.warning("%s failed (attempt %d, retry in %.1f s): %s", what, attempt, delay, exc)
        except Exception as exc:
            if is_poison(exc):
                raise Refused(describe(exc)) from exc
            unexpected += 1
            log.exception("%s failed unexpectedly (attempt %d of %d)", what, unexpected,
                          UNEXPECTED_ATTEMPTS)
            if unexpected >= UNEXPECTED_ATTEMPTS:
                raise Refused(describe(exc)) from exc
        await asyncio.sleep(delay)  # backoff before the next try
        delay = min(delay * 2, max_delay_s)


def describe(exc: BaseException) -> str:
    """An error for logs and dead-letter headers, without the row's values.

    PostgreSQL's message detail ("Failing row contains (…)") would copy health data into
    the logs, so only the primary message and the constraint are kept.
    """
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        constraint = f" ({exc.diag.constraint_name})" if exc.diag.constraint_name else ""
        return f"{type(exc).__name__}: {exc.diag.message_primary}{constraint}"
    return type(exc).__name__


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    """Poll `check` until it returns True or `timeout_s` passes; True if it did."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return True
        except Exception:  # a health check that raises is simply "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


async def wait_until_async(
    check: Callable[[], Awaitable[T]], timeout_s: float, interval_s: float = 0.5
) -> T | None:
    """`wait_until` for coroutines: poll `check` until it returns something true (which is
    returned) or `timeout_s` passes (None)."""
    deadline = time.monotonic() + timeout_s
    while not (value := await check()):
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval_s)
    return value
