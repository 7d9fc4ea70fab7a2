"""workout.lifecycle + workout.metrics → the `workouts` read model, and its GPS path.

A workout's summary comes with every lifecycle and metrics event; the newest `version`
wins, whatever order the topics deliver in. The GPS path is built from the samples table
once the workout has finished and every sample it counted is stored (the samples sink
reads another topic and may be behind): at completion if they are there already,
otherwise by a timer that scans the finished workouts still without a path. Pauses and
resumes are also kept (`workout_breaks`), after the summary they belong to, so an export can
say where the recording paused and a re-import pause there too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storage.exports import record_breaks
from storage.workouts import build_gps_path, pending_gps_paths, project_summaries
from streams import events, topics
from streams.sink import Record, batches, write_batch

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")

SUMMARY_EVENTS = (events.WorkoutMetricsUpdated, events.WorkoutStarted, events.WorkoutPaused,
                  events.WorkoutResumed, events.WorkoutCompleted)
PATH_SCAN_INTERVAL_S = 5.0
PATH_GIVE_UP_AFTER_S = 600
"""A finished workout whose samples are still incomplete this long after it ended (some
were dead-lettered) gets its path from the samples that are there."""


def register(app: Any, deps: Deps) -> None:
    source = app.topic(deps.config.topic_prefix + topics.LIFECYCLE,
                       deps.config.topic_prefix + topics.METRICS,
                       key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="workouts_projection")
    async def workouts_projection(stream: Any) -> None:
        async for records in batches(stream, deps, SUMMARY_EVENTS, size=5000, within_s=0.2):
            newest: dict[uuid.UUID, Record[Any]] = {}
            for record in records:
                seen = newest.get(record.event.workout_id)
                if seen is None or seen.event.summary.version < record.event.summary.version:
                    newest[record.event.workout_id] = record
            written = await write_batch(deps, "workout projection", list(newest.values()),
                                        lambda rs: _project(deps, rs))
            breaks = [r for r in records
                      if isinstance(r.event, (events.WorkoutPaused, events.WorkoutResumed))]
            await write_batch(deps, "workout breaks", breaks, lambda rs: _breaks(deps, rs))
            finished = [r.event.workout_id for r in written if r.event.summary.status == "finished"]
            if finished:
                await _build_paths(deps, finished, give_up_after_s=None)

    @app.timer(PATH_SCAN_INTERVAL_S)
    async def gps_paths() -> None:
        try:
            pool = await deps.pool()
            async with pool.connection() as conn:
                pending = await pending_gps_paths(conn)
            await _build_paths(deps, pending, give_up_after_s=PATH_GIVE_UP_AFTER_S)
        except Exception as exc:  # the next scan tries again
            log.warning("GPS path scan failed: %s", exc)


async def _project(deps: Deps, records: Sequence[Record[Any]]) -> None:
    pool = await deps.pool()
    async with pool.connection() as conn, conn.transaction():
        await project_summaries(conn, [(r.event.workout_id, r.event.user_id, r.event.summary)
                                       for r in records])


async def _breaks(deps: Deps, records: Sequence[Record[Any]]) -> None:
    pool = await deps.pool()
    async with pool.connection() as conn, conn.transaction():
        await record_breaks(conn, [
            (r.event.workout_id, r.event.summary.version,
             "pause" if isinstance(r.event, events.WorkoutPaused) else "resume",
             r.event.at_ms, r.event.summary.last_seq) for r in records])


async def _build_paths(deps: Deps, workout_ids: Sequence[uuid.UUID],
                       give_up_after_s: float | None) -> None:
    """Best effort: a path not built now is built by a later scan."""
    pool = await deps.pool()
    for workout_id in workout_ids:
        try:
            async with pool.connection() as conn:
                await build_gps_path(conn, workout_id, give_up_after_s=give_up_after_s)
        except Exception as exc:
            log.warning("GPS path of %s not built yet: %s", workout_id, exc)
