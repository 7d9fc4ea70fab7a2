"""telemetry.samples → PostgreSQL `sensor_data` (COPY through staging, idempotent)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from storage.samples import write_samples
from streams import events, topics
from streams.retry import describe, is_poison, retry_transient

if TYPE_CHECKING:
    from streams.app import Deps

BATCH_MAX = 500
BATCH_WITHIN_S = 0.2


def register(app: Any, deps: Deps) -> None:
    @app.agent(deps.topic(topics.SAMPLES), name="samples_sink")
    async def samples_sink(stream: Any) -> None:
        async for records in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            await _write(deps, [(r.message.key, r.value) for r in records])


async def _write(deps: Deps, records: list[tuple[bytes | None, bytes]]) -> None:
    batches: list[tuple[bytes | None, bytes, events.SamplesAccepted]] = []
    for key, value in records:
        try:
            event = events.decode(value)
        except msgspec.MsgspecError as exc:
            await deps.send_dead_letter(key, value, topics.SAMPLES, f"undecodable: {describe(exc)}")
            continue
        if isinstance(event, events.SamplesAccepted):
            batches.append((key, value, event))
        else:
            await deps.send_dead_letter(key, value, topics.SAMPLES, f"unexpected {type(event).__name__}")
    if not batches:
        return
    pool = await deps.pool()

    async def write_all() -> int:
        async with pool.connection() as conn:
            return await write_samples(conn, [b for _, _, b in batches])

    try:
        await retry_transient(write_all, "samples batch")
    except Exception as exc:
        if not is_poison(exc):
            raise
        # One bad record must not hold back the others: write them one by one.
        for key, value, batch in batches:
            async def write_one(b: events.SamplesAccepted = batch) -> int:
                async with pool.connection() as conn:
                    return await write_samples(conn, [b])
            try:
                await retry_transient(write_one, "samples record")
            except Exception as one_exc:
                if not is_poison(one_exc):
                    raise
                await deps.send_dead_letter(key, value, topics.SAMPLES, describe(one_exc))
