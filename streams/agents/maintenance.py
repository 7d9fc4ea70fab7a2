"""Housekeeping: daily partitions ahead of time, retention, and erasures left unfinished.

- Partitions (native dialect): TimescaleDB creates its chunks itself and
  `stride_ensure_partitions` does nothing on a hypertable, so this runs on either dialect.
  It runs when the worker starts and hourly, always covering yesterday to a week ahead;
  rows never land in the DEFAULT partition.
- Retention (storage/retention.py): when the worker starts and daily, on either dialect.
- Erasures (privacy/erasure.py) a gateway began and did not finish (it died half-way): the
  account is locked and marked, so each hour they are run again from the start (every step
  is idempotent). Actors still running for them are not stopped from here — their device
  sockets closed at the first step, so they receive nothing more.
- Late rows: what a sink wrote for a workout after it was deleted or erased (its write began
  before the tombstone committed) is swept hourly, for workouts deleted in the last day.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from privacy.erasure import Erasure
from storage import erasure, retention

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

INTERVAL_S = 3600.0
RETENTION_INTERVAL_S = 24 * 3600.0
ERASURE_LOCK = 0x4552_4153  # a session advisory lock: "ERAS"
PARTITIONED = ("sensor_data", "workout_metrics")


async def ensure_partitions(deps: Deps) -> int:
    pool = await deps.pool()
    created = 0
    async with pool.connection() as conn:
        for table in PARTITIONED:
            cur = await conn.execute(
                "SELECT stride_ensure_partitions(%s::regclass, now() - interval '1 day',"
                " now() + interval '7 days')", (table,))
            row = await cur.fetchone()
            created += row[0] if row else 0
    if created:
        log.info("created %d daily partitions", created)
    return created


async def enforce_retention(deps: Deps) -> dict[str, int]:
    pool = await deps.pool()
    async with pool.connection() as conn:
        return await retention.enforce(conn, deps.config.retention)


async def finish_erasures(deps: Deps) -> int:
    """Run again every erasure that was begun and not completed; how many were finished."""
    keys = getattr(deps, "data_keys", None)
    if keys is None:
        return 0  # no key material here: the pseudonym cannot be computed
    pool = await deps.pool()
    run = Erasure(erasure.PgAccount(pool), erasure.RedisCaches(deps.redis, deps.config.redis_prefix),
                  keys.ring.pseudonym, forget_keys=keys.forget)
    async with pool.connection() as conn:
        # One worker at a time (several may run): the others find nothing left next hour.
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (ERASURE_LOCK,))
        if not (await cur.fetchone() or (False,))[0]:
            return 0
        try:
            pending = await erasure.unfinished(conn)
            await conn.commit()
            for user_id in pending:
                await run.erase(user_id)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (ERASURE_LOCK,))
    if pending:
        log.info("finished %d erasures left unfinished", len(pending))
    return len(pending)


async def sweep_late_rows(deps: Deps) -> dict[str, int]:
    pool = await deps.pool()
    async with pool.connection() as conn:
        rows = await erasure.sweep_late_rows(conn)
    if rows:
        log.info("deleted rows written after their workout was deleted: %s", rows)
    return rows


def register(app: Any, deps: Deps) -> None:
    async def run() -> None:
        try:
            await ensure_partitions(deps)
        except Exception as exc:  # the next run tries again; DEFAULT catches rows meanwhile
            log.warning("partition maintenance failed: %s", exc)
        try:
            await finish_erasures(deps)
            await sweep_late_rows(deps)
        except Exception as exc:  # the next run tries again; the account stays locked
            log.warning("finishing erasures failed: %s", exc)

    async def run_retention() -> None:
        try:
            await enforce_retention(deps)
        except Exception as exc:  # tomorrow's run deletes what this one left
            log.warning("retention failed: %s", exc)

    app.task(run)
    app.timer(INTERVAL_S)(run)
    app.task(run_retention)
    app.timer(RETENTION_INTERVAL_S)(run_retention)
