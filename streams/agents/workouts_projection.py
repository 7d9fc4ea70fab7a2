"""workout.lifecycle + workout.metrics → the `workouts` read model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec

from storage.workouts import project_summary
from streams import events, topics
from streams.retry import describe, is_poison, retry_transient

if TYPE_CHECKING:
    from streams.app import Deps

log = logging.getLogger("stride.streams")


def register(app: Any, deps: Deps) -> None:
    source = app.topic(deps.config.topic_prefix + topics.LIFECYCLE,
                       deps.config.topic_prefix + topics.METRICS,
                       key_serializer="raw", value_serializer="raw")

    @app.agent(source, name="workouts_projection")
    async def workouts_projection(stream: Any) -> None:
        async for records in stream.take_events(200, within=0.2):
            await _project(deps, [(r.message.key, r.value, r.message.topic) for r in records])


async def _project(deps: Deps, records: list[tuple[bytes | None, bytes, str]]) -> None:
    newest: dict[Any, tuple[bytes | None, bytes, str, Any]] = {}
    for key, value, topic in records:
        try:
            event = events.decode(value)
        except msgspec.MsgspecError as exc:
            await deps.send_dead_letter(key, value, topic, f"undecodable: {describe(exc)}")
            continue
        summary = getattr(event, "summary", None)
        if summary is None:
            await deps.send_dead_letter(key, value, topic, f"unexpected {type(event).__name__}")
            continue
        seen = newest.get(event.workout_id)
        if seen is None or seen[3].summary.version < summary.version:
            newest[event.workout_id] = (key, value, topic, event)
    pool = await deps.pool()
    for key, value, topic, event in newest.values():
        async def write(e: Any = event) -> bool:
            async with pool.connection() as conn:
                return await project_summary(conn, e.workout_id, e.user_id, e.summary)
        try:
            await retry_transient(write, "workout projection")
        except Exception as exc:
            if not is_poison(exc):
                raise
            await deps.send_dead_letter(key, value, topic, describe(exc))
            continue
        await _publish_live(deps, event)


def live_update(event: Any) -> dict[str, Any]:
    """What a coach's live feed receives for one workout event."""
    update = {"type": "update", "event": type(event).__name__, "workout_id": str(event.workout_id),
              "athlete_id": str(event.user_id), "summary": msgspec.to_builtins(event.summary)}
    if isinstance(event, events.WorkoutMetricsUpdated):
        update |= {"t_ms": event.t_ms, "speed_mps": event.speed_mps, "hr_bpm": event.hr_bpm,
                   "spo2_pct": event.spo2_pct}
    return update


async def _publish_live(deps: Deps, event: Any) -> None:
    """Fan the update out to coaches watching (Redis pub/sub); a live view may miss one
    update when Redis is briefly away, the database row is the truth."""
    channel = f"{deps.config.redis_prefix}:live:athlete:{event.user_id}"
    try:
        await deps.redis.publish(channel, msgspec.json.encode(live_update(event)))
    except Exception as exc:  # never hold back the projection for the live view
        log.warning("live update for %s not published: %s", event.workout_id, exc)
