"""REST: `POST /v1/workouts/import` — a GPX or FIT file becomes one of your finished workouts.

multipart/form-data: `file` (the recording), optional `sport` (default run) and `title`.
The file is read by the parser `stride import` uses (actors/recordings.py); its samples
must be what a device could send (the device protocol's ranges, gateway/protocol.py),
after 2000 and not in the future. They are replayed through the workout actor's own code
(actors/replay.py) with the athlete's profile and load history, and stored as the sinks
store a streamed workout (storage/workout_import.py): 201 with the workout, complete in
every read. Its completion then goes out on `workout.lifecycle` like any other, for the
services that follow completed workouts (recommendations); what is stored already, the
counting on the leaderboards included, takes no notice of it twice.

Refusals: a body over `STRIDE_INGEST_UPLOAD_MAX_BYTES` (default 20 MB) → 413 `too_large`,
told by Content-Length before it is read (a body without one → 411); a file that is not
GPX or FIT → 422 `unreadable_file`; one without timed points → 422 `no_track_points`;
values a device could not send → 422 `invalid_track`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.status_codes import HTTP_201_CREATED

from actors import recordings, replay
from gateway import protocol
from gateway.access import principal_of
from gateway.errors import ApiError
from gateway.ingest_limits import EARLIEST_START_MS
from gateway.workouts_api import WorkoutOut, to_out
from gateway.workouts_manage_api import Title
from storage import athletes
from storage import workout_import as import_repo
from storage import workouts as workouts_repo
from streams import events, topics
from streams import leaderboards as redis_boards
from streams.events import Sample, Sport

log = logging.getLogger("stride.gateway")

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the form's other fields and part headers around the file."""
METRICS_STEP_MS = 10_000
"""Metrics snapshots of an upload: one per 10 s of its time (a live workout's are 1 s
apart; the per-minute charts need a few a minute, and a long file replays far faster)."""
PUBLISH_TIMEOUT_S = 5.0
_titles = msgspec.json.Decoder(Title)


@dataclasses.dataclass
class ImportForm:
    file: UploadFile
    """The recording: a .gpx or .fit file."""
    sport: Sport = "run"
    title: str | None = None
    """A name for the workout (1–120 characters)."""


async def _within_upload_limit(request: Request[Any, Any, Any]) -> None:
    """Refuse a body over the limit from its Content-Length, before reading any of it (the
    server reads no more than Content-Length says)."""
    limit = request.app.state.ingest_limits.upload_max_bytes
    length = request.headers.get("content-length")
    if length is None:
        raise ApiError(411, "length_required", "send the file with a Content-Length")
    if not length.isdigit() or int(length) > limit + FORM_OVERHEAD_BYTES:
        raise ApiError(413, "too_large", f"a workout file may have at most {limit:,} bytes")


@post("/v1/workouts/import", status_code=HTTP_201_CREATED, before_request=_within_upload_limit,
      request_max_body_size=None,
      summary="Upload a GPX or FIT file as one of your finished workouts")
async def import_workout(
    request: Request[Any, Any, Any],
    data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Response[WorkoutOut]:
    me = principal_of(request).user_id
    state = request.app.state
    content = await data.file.read()
    limit = state.ingest_limits.upload_max_bytes
    if len(content) > limit:
        raise ApiError(413, "too_large", f"a workout file may have at most {limit:,} bytes")
    title = _title(data.title)
    samples = await asyncio.to_thread(_samples_of, content, data.file.filename or "the file",
                                      state.ingest_limits.max_future_ms)
    workout_id = uuid.uuid4()
    day = dt.datetime.fromtimestamp(int(samples[0][0]) / 1000, tz=dt.UTC).date()  # type: ignore[arg-type]
    async with state.pool.connection() as conn:
        profile = await athletes.profile_of(conn, me, day)
        history = await athletes.daily_loads(conn, me, day)
    produced = await asyncio.to_thread(replay.replay, workout_id, me, data.sport, samples,
                                       profile=profile, load_history=history,
                                       metrics_step_ms=METRICS_STEP_MS)
    async with state.pool.connection() as conn:
        standings = await import_repo.store_import(conn, workout_id, me, title, produced)
        row = await workouts_repo.get_workout(conn, workout_id)
    assert row is not None
    await redis_boards.apply_standings(state.redis, state.redis_prefix, standings)
    completed = produced[-1]
    assert isinstance(completed, events.WorkoutCompleted)
    await _announce(request, completed)
    return Response(to_out(row, True), status_code=HTTP_201_CREATED,
                    headers={"Location": f"/v1/workouts/{workout_id}"})


def _title(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return _titles.decode(msgspec.json.encode(text))
    except msgspec.ValidationError as exc:
        raise ApiError(400, "invalid", f"title: {exc}") from None


def _samples_of(content: bytes, name: str, max_future_ms: int) -> list[Sample]:
    """The file's samples, checked as the device protocol checks a device's."""
    try:
        samples = recordings.samples_of(
            recordings.parse(content, recordings.kind_of(content, name), name), name)
    except recordings.NoTrackPoints as exc:
        raise ApiError(422, "no_track_points", str(exc)) from None
    except recordings.Unreadable as exc:
        raise ApiError(422, "unreadable_file", str(exc)) from None
    try:
        checked = msgspec.convert(samples, list[protocol.DeviceSample])
    except msgspec.ValidationError as exc:
        raise ApiError(422, "invalid_track", f"{name}: a point a device could not send: {exc}"
                       ) from None
    first, last = checked[0].t_ms, checked[-1].t_ms
    if first < EARLIEST_START_MS or last > time.time() * 1000 + max_future_ms:
        raise ApiError(422, "invalid_track", f"{name}: its times must lie between 2000 and now")
    return [s.row() for s in checked]


async def _announce(request: Request[Any, Any, Any], completed: events.WorkoutCompleted) -> None:
    """Tell the services that follow completed workouts. The workout is stored already: with
    Kafka away they miss this one, and the log says so."""
    try:
        await asyncio.wait_for(request.app.state.events.publish([(topics.LIFECYCLE, completed)]),
                               PUBLISH_TIMEOUT_S)
    except Exception as exc:  # KafkaError, a timeout: the upload itself succeeded
        log.warning("imported workout %s not announced: %r", completed.workout_id, exc)


ROUTES = [import_workout]
