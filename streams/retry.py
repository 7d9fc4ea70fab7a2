"""How a sink writes: retry what may pass later, dead-letter what never will.

Faust marks an event done even when the agent raised, so a sink must never let a failed
write escape. Connection trouble is retried with capped exponential backoff, forever:
the event stays unacknowledged meanwhile. A record the database refuses on its merits
(a constraint, a bad value) is poison: it goes to the dead-letter topic, counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg

T = TypeVar("T")
log = logging.getLogger("stride.sinks")

TRANSIENT = (psycopg.OperationalError, psycopg.errors.SerializationFailure,
             psycopg.errors.DeadlockDetected, OSError, TimeoutError)


def is_poison(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.Error) and not isinstance(exc, TRANSIENT)


async def retry_transient(
    write: Callable[[], Awaitable[T]], what: str, *, first_delay_s: float = 0.1, max_delay_s: float = 5.0
) -> T:
    """Run `write` until it succeeds or fails for a reason retrying cannot fix."""
    delay = first_delay_s
    attempt = 0
    while True:
        try:
            return await write()
        except TRANSIENT as exc:
            attempt += 1
            log.warning("%s failed (attempt %d, retry in %.1f s): %s", what, attempt, delay, exc)
            await asyncio.sleep(delay)
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
