"""Housekeeping of the time-series tables: daily partitions ahead of time (native dialect).

TimescaleDB creates its chunks itself and `stride_ensure_partitions` does nothing on a
hypertable, so this runs on either dialect. It runs when the worker starts and hourly,
always covering yesterday to a week ahead; rows never land in the DEFAULT partition.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

INTERVAL_S = 3600.0
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


def register(app: Any, deps: Deps) -> None:
    async def run() -> None:
        try:
            await ensure_partitions(deps)
        except Exception as exc:  # the next run tries again; DEFAULT catches rows meanwhile
            log.warning("partition maintenance failed: %s", exc)

    app.task(run)
    app.timer(INTERVAL_S)(run)
