"""workout.metrics → the live-metrics table (and, natively, its per-minute rollup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage.timeseries import write_metrics
from streams import events, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.METRICS), name="metrics_sink")
    async def metrics_sink(stream: Any) -> None:
        async for records in batches(stream, deps, (events.WorkoutMetricsUpdated,), size=1000,
                                     within_s=0.2):
            await write_batch(deps, "live metrics", records, lambda rs: _write(deps, rs))


async def _write(deps: Deps, records: Sequence[Record[events.WorkoutMetricsUpdated]]) -> None:
    pool = await deps.pool()
    async with pool.connection() as conn:
        await write_metrics(conn, [r.event for r in records])
