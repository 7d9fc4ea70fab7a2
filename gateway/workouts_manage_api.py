"""REST: an athlete changes their own workouts.

    PATCH  /v1/workouts/{id}   {title?, sport?}  rename; correct the sport of a finished one
    DELETE /v1/workouts/{id}                     delete a finished one and all derived from it

Only the athlete (or an admin) changes a workout: a coach who may read it gets 403, anyone
else 404, as if it did not exist. A workout still recording (created, active, paused)
keeps its sport and cannot be deleted (409 `workout_active`): its actor is still writing.

A corrected sport changes the numbers — top speeds, calories, the sport-mismatch check —
so the summary is computed again from the stored samples by the actor's own code
(actors/replay.py), and the workout moves to the new sport's leaderboards (409
`samples_pending` while its samples are still on their way to the table). Pause times are
not stored, so a paused workout is then measured as if it had not been paused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, patch
from litestar.status_codes import HTTP_204_NO_CONTENT

from actors import replay
from gateway.access import access_to, principal_of, reads_health_data
from gateway.errors import ApiError
from gateway.text import NO_CONTROL
from gateway.workouts_api import WorkoutOut, to_out
from storage import athletes, keyspace, workout_changes
from storage import leaderboards as boards
from storage import samples as samples_repo
from storage import workouts as workouts_repo
from streams import leaderboards as redis_boards
from streams.events import Sport, WorkoutSummary

log = logging.getLogger("stride.gateway")

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=NO_CONTROL)]
LIVE_STATUSES = ("created", "active", "paused")
SAMPLES_WAIT = dt.timedelta(minutes=10)
"""How long after its end a workout's samples may still be on their way to the table (the
samples sink reads its own topic); later, what is stored is all there will be (the GPS path
gives up the same way: streams/agents/workouts_projection.py)."""


class WorkoutPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title | None | msgspec.UnsetType = msgspec.UNSET
    """The workout's name; null takes it away."""
    sport: Sport | msgspec.UnsetType = msgspec.UNSET
    """The right sport of a finished workout: its summary is computed again."""


async def own_workout(request: Request[Any, Any, Any],
                      workout_id: uuid.UUID) -> workouts_repo.WorkoutRow:
    """The workout if the caller may change it (its athlete, an admin); 403 for one who may
    only read it, 404 for anyone else."""
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        row = await workouts_repo.get_workout(conn, workout_id)
        if row is not None:
            if row.user_id == principal.user_id or "admin" in principal.roles:
                return row
            access = await access_to(conn, principal, row.user_id)
            s = row.summary
            started = dt.datetime.fromtimestamp(s.started_at_ms / 1000, tz=dt.UTC)
            ended = (dt.datetime.fromtimestamp(s.ended_at_ms / 1000, tz=dt.UTC)
                     if s.ended_at_ms is not None else None)
            if access.covers(started, s.status, ended, dt.datetime.now(dt.UTC)):
                raise ApiError(403, "not_owner", "only the athlete (or an admin) changes a workout")
    raise ApiError(404, "not_found", f"no workout {workout_id}")


def _refuse_live(row: workouts_repo.WorkoutRow, what: str) -> None:
    if row.summary.status in LIVE_STATUSES:
        raise ApiError(409, "workout_active", f"the workout is {row.summary.status}: {what} once "
                       "it is finished")


@patch("/v1/workouts/{workout_id:uuid}",
       summary="Rename your workout, or correct the sport of a finished one (its summary is "
               "computed again)")
async def patch_workout(request: Request[Any, Any, Any], workout_id: uuid.UUID,
                        data: WorkoutPatch) -> WorkoutOut:
    row = await own_workout(request, workout_id)
    state = request.app.state
    summary = None
    if data.sport is not msgspec.UNSET and data.sport != row.summary.sport:
        _refuse_live(row, "its sport can be corrected")
        summary = await recomputed(state.pool, row, data.sport)
    retracted = boards.Retracted()
    async with state.pool.connection() as conn, conn.transaction():
        if summary is not None:
            if not await workouts_repo.replace_summary(conn, workout_id, summary,
                                                       row.summary.version):
                raise ApiError(409, "changed_meanwhile", "the workout changed while its summary "
                               "was computed again; try again")
            retracted = await boards.recount(conn, workout_id, summary.sport, summary.distance_m)
        if data.title is not msgspec.UNSET:
            await workout_changes.set_title(conn, workout_id, data.title)
        changed = await workouts_repo.get_workout(conn, workout_id)
    if retracted.standings or retracted.emptied:
        await redis_boards.replace_standings(state.redis, state.redis_prefix, retracted)
    if changed is None:
        raise ApiError(404, "not_found", f"no workout {workout_id}")
    return to_out(changed, reads_health_data(request, changed.user_id, "workout", changed.id))


async def recomputed(pool: Any, row: workouts_repo.WorkoutRow, sport: Sport) -> WorkoutSummary:
    """The finished workout's summary under `sport`, from its stored samples, with the
    athlete's profile and the load history before its day (what its actor was given)."""
    s = row.summary
    day = dt.datetime.fromtimestamp(s.started_at_ms / 1000, tz=dt.UTC).date()
    async with pool.connection() as conn:
        samples = await samples_repo.all_samples(conn, row.id)
        profile = await athletes.profile_of(conn, row.user_id, day)
        history = await athletes.daily_loads(conn, row.user_id, day)
    ended = dt.datetime.fromtimestamp((s.ended_at_ms or s.started_at_ms) / 1000, tz=dt.UTC)
    if len(samples) < s.samples_count and dt.datetime.now(dt.UTC) - ended < SAMPLES_WAIT:
        raise ApiError(409, "samples_pending", "the workout's samples are still being stored; "
                       "try again in a few seconds")
    produced = await asyncio.to_thread(
        replay.replay, row.id, row.user_id, sport, samples, started_at_ms=s.started_at_ms,
        ended_at_ms=s.ended_at_ms, profile=profile, load_history=history)
    return msgspec.structs.replace(replay.final_summary(produced), version=s.version + 1)


@delete("/v1/workouts/{workout_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Delete your finished workout with its samples, metrics, route, leaderboard "
                "places and the alerts and recommendations about it")
async def delete_workout(request: Request[Any, Any, Any], workout_id: uuid.UUID) -> None:
    row = await own_workout(request, workout_id)
    _refuse_live(row, "it can be deleted")
    state = request.app.state
    async with state.pool.connection() as conn:
        await workout_changes.mark_deleted(conn, workout_id)
    async with state.pool.connection() as conn:
        deleted = await workout_changes.delete_workout(conn, workout_id, row.user_id)
        s = row.summary
        await workout_changes.refresh_rollup(
            conn, dt.datetime.fromtimestamp(s.started_at_ms / 1000, tz=dt.UTC),
            dt.datetime.fromtimestamp((s.ended_at_ms or s.started_at_ms) / 1000, tz=dt.UTC))
    log.info("workout %s deleted: %s", workout_id, deleted.rows)
    await redis_boards.replace_standings(state.redis, state.redis_prefix, deleted.boards)
    await state.redis.delete(*workout_changes.redis_keys(state.redis_prefix, workout_id))
    cached_key = keyspace.recommendations(state.redis_prefix, row.user_id)
    cached = await state.redis.get(cached_key)
    if cached is not None and msgspec.json.decode(cached).get("workout_id") == str(workout_id):
        await state.redis.delete(cached_key)


ROUTES = [patch_workout, delete_workout]
