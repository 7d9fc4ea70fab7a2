"""REST: `POST /v1/workouts/import` — a GPX or FIT file becomes one of your finished workouts.

multipart/form-data: `file` (the recording), optional `sport` (default run) and `title`.
The file is read by the parser `stride import` uses (actors/recordings.py); its samples
must be what a device could send (the device protocol's ranges, gateway/protocol.py),
after 2000 and not in the future. They are replayed through the workout actor's own code
(actors/replay.py) with the athlete's profile and load history — both in a worker process
of the gateway's import pool (gateway/import_pool.py), so the device path never waits on
them — and stored as the sinks
store a streamed workout (storage/workout_import.py): 201 with the workout, complete in
every read. Its completion then goes out on `workout.lifecycle` like any other, for the
services that follow completed workouts (recommendations); what is stored already, the
counting on the leaderboards included, takes no notice of it twice.

Refusals: a body over `STRIDE_INGEST_UPLOAD_MAX_BYTES` (default 20 MB) → 413 `too_large`,
told by Content-Length before it is read (a body without one → 411); a file that is not
GPX or FIT → 422 `unreadable_file`; one without timed points → 422 `no_track_points`;
values a device could not send → 422 `invalid_track`. Each file costs seconds of CPU, so
(gateway/quotas.py, README "Security"): more than `STRIDE_QUOTA_IMPORTS_PER_HOUR` uploads
an hour by one account → 429 `too_many_imports`, told before the body is read (every
upload counts, refused ones too); a second upload while one of the account's is running →
429 `import_in_progress`; every import turn of this gateway taken and its waiting line full,
or no turn within `STRIDE_INGEST_UPLOAD_WAIT_S` → 503 `imports_busy`. All with Retry-After.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.status_codes import HTTP_201_CREATED

from actors import replay
from gateway import import_pool
from gateway.access import principal_of
from gateway.errors import ApiError, refused
from gateway.quotas import Refused
from gateway.workouts_api import WorkoutOut, to_out
from gateway.workouts_manage_api import Title
from privacy import age
from storage import athletes, health_consent
from storage import workout_import as import_repo
from storage import workouts as workouts_repo
from streams import events, topics
from streams import leaderboards as redis_boards
from streams.events import Sport

log = logging.getLogger("stride.gateway")

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the form's other fields and part headers around the file."""
METRICS_STEP_MS = 10_000
"""Metrics snapshots of an upload: one per 10 s of its time (a live workout's are 1 s
apart; the per-minute charts need a few a minute, and a long file replays far faster)."""
PUBLISH_TIMEOUT_S = 5.0
BUSY_RETRY_S = 10
"""What an import refused for a busy gateway is told to wait."""
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
    try:  # counted before the body is read: a refused upload costs neither side its bytes
        await request.app.state.quotas.imported(principal_of(request).user_id)
    except Refused as exc:
        raise refused(exc) from None


@post("/v1/workouts/import", status_code=HTTP_201_CREATED, before_request=_within_upload_limit,
      request_max_body_size=None,
      summary="Upload a GPX or FIT file as one of your finished workouts")
async def import_workout(
    request: Request[Any, Any, Any],
    data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Response[WorkoutOut]:
    me = principal_of(request).user_id
    imports: import_pool.ImportPool = request.app.state.imports
    try:
        async with request.app.state.quotas.importing(me), imports.turn():
            return await _import(request, data, me)
    except Refused as exc:
        raise refused(exc) from None
    except import_pool.Busy as exc:
        raise ApiError(503, "imports_busy", f"{exc}; try again in {BUSY_RETRY_S} s",
                       headers={"Retry-After": str(BUSY_RETRY_S)}) from None


async def _import(request: Request[Any, Any, Any], data: ImportForm, me: uuid.UUID
                  ) -> Response[WorkoutOut]:
    """Read, replay and store the file: the caller holds the account's import slot and one
    of the gateway's import turns."""
    state = request.app.state
    content = await data.file.read()
    limit = state.ingest_limits.upload_max_bytes
    if len(content) > limit:
        raise ApiError(413, "too_large", f"a workout file may have at most {limit:,} bytes")
    title = _title(data.title)
    try:
        samples = await state.imports.run(import_pool.read_track, content,
                                          data.file.filename or "the file",
                                          state.ingest_limits.max_future_ms)
    except import_pool.TrackRefused as exc:
        raise ApiError(422, exc.code, exc.message) from None
    workout_id = uuid.uuid4()
    day = dt.datetime.fromtimestamp(int(samples[0][0]) / 1000, tz=dt.UTC).date()
    async with state.pool.connection() as conn:
        profile = await athletes.profile_of(conn, me, day)
        history = await athletes.daily_loads(conn, me, day)
        standing = await health_consent.standing_of(conn, me)
    headers = {"Location": f"/v1/workouts/{workout_id}"}
    if standing is None or not age.may_process_health(standing, dt.datetime.now(dt.UTC).date()):
        # No consent to process health data (privacy/age.py): the file's HR and SpO2 are
        # left out before anything computes on them, as on the device socket.
        samples = [(*s[:4], None, None, *s[6:]) for s in samples]
        headers["Stride-Notice"] = "health_consent_required"
    produced = await state.imports.run(functools.partial(
        replay.replay, workout_id, me, data.sport, samples, profile=profile,
        load_history=history, metrics_step_ms=METRICS_STEP_MS))
    async with state.pool.connection() as conn:
        standings = await import_repo.store_import(conn, workout_id, me, title, produced)
        row = await workouts_repo.get_workout(conn, workout_id)
    assert row is not None
    await redis_boards.apply_standings(state.redis, state.redis_prefix, standings)
    completed = produced[-1]
    assert isinstance(completed, events.WorkoutCompleted)
    await _announce(request, completed)
    return Response(to_out(row, True), status_code=HTTP_201_CREATED, headers=headers)


def _title(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return _titles.decode(msgspec.json.encode(text))
    except msgspec.ValidationError as exc:
        raise ApiError(400, "invalid", f"title: {exc}") from None


async def _announce(request: Request[Any, Any, Any], completed: events.WorkoutCompleted) -> None:
    """Tell the services that follow completed workouts. The workout is stored already: with
    Kafka away they miss this one, and the log says so."""
    try:
        await asyncio.wait_for(request.app.state.events.publish([(topics.LIFECYCLE, completed)]),
                               PUBLISH_TIMEOUT_S)
    except Exception as exc:  # KafkaError, a timeout: the upload itself succeeded
        log.warning("imported workout %s not announced: %r", completed.workout_id, exc)


ROUTES = [import_workout]
