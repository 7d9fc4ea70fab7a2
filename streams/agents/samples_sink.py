"""telemetry.samples → the samples table (COPY through staging, idempotent on (workout_id, seq, t))."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage.samples import write_samples
from streams import events, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

BATCH_MAX = 1000
BATCH_WITHIN_S = 0.2


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.SAMPLES), name="samples_sink")
    async def samples_sink(stream: Any) -> None:
        async for records in batches(stream, deps, (events.SamplesAccepted,), size=BATCH_MAX,
                                     within_s=BATCH_WITHIN_S):
            await write_batch(deps, "samples", records, lambda rs: _write(deps, rs))


async def _write(deps: Deps, records: Sequence[Record[events.SamplesAccepted]]) -> int:
    pool = await deps.pool()
    async with pool.connection() as conn:
        return await write_samples(conn, [r.event for r in records])
