"""REST: a copy of your data (GDPR art. 15 / 20) — `POST /v1/me/export` starts a job,
`GET /v1/me/export/{id}` shows its progress, `…/download` gives the ZIP (storage/export_zip.py),
`GET /v1/me/exports` lists yours.

The jobs run in the background of every gateway (ExportRunner): each claims the oldest job
nobody works on from PostgreSQL (storage/exports.py: FOR UPDATE SKIP LOCKED on a lease), so
any gateway may build it, and one that stopped half-way leaves its job to the next once the
lease runs out. One export at a time per gateway keeps the CPU it takes bounded; the ZIP goes
under the export directory (a setting; shared by the gateways) and is removed when it expires.
Everything here is the owner's alone: another person's job is answered 404, like a missing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.response import File
from psycopg_pool import AsyncConnectionPool

from gateway.access import REAUTH, principal_of
from gateway.errors import ApiError
from gateway.workouts_api import to_out
from storage import exports
from storage.export_zip import ExportStopped, Written, write_export

log = logging.getLogger("stride.gateway.export")

EXPORTS_PER_DAY = 5
"""Exports one person may start in 24 hours: each is a whole copy of their data on disk for
days, and its building takes a gateway's background for seconds to minutes."""


class ExportProgress(msgspec.Struct, frozen=True, kw_only=True):
    workouts_done: int
    workouts_total: int | None
    """None until the job has counted them."""


class ExportOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    status: exports.JobStatus
    """pending → running → ready (then expired), or failed."""
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None
    """When the download stops working (410) and the file is deleted."""
    progress: ExportProgress
    size_bytes: int | None
    sha256: str | None
    """Of the ZIP, to check a download."""
    download: str | None
    """The ZIP's URL while it is ready."""
    error: str | None


def _out(job: exports.ExportJob) -> ExportOut:
    return ExportOut(
        id=job.id, status=job.status, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, expires_at=job.expires_at,
        progress=ExportProgress(workouts_done=job.workouts_done, workouts_total=job.workouts_total),
        size_bytes=job.size_bytes, sha256=job.sha256, error=job.error,
        download=f"/v1/me/export/{job.id}/download" if job.status == "ready" else None)


DAY = dt.timedelta(days=1)


def _location(job_id: uuid.UUID) -> dict[str, str]:
    return {"Location": f"/v1/me/export/{job_id}"}


@post("/v1/me/export", status_code=202, opt=REAUTH,
      summary="Start an export of all your data (a ZIP: profile, consents, groups, "
              "notifications, every workout as JSON, CSV and GPX …); poll its Location")
async def start_export(request: Request[Any, Any, Any]) -> Response[ExportOut]:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        if await exports.started_since(conn, principal.user_id, DAY) >= EXPORTS_PER_DAY:
            raise ApiError(429, "too_many_exports", f"at most {EXPORTS_PER_DAY} exports a day; "
                           "download one you made (GET /v1/me/exports) or try tomorrow",
                           headers={"Retry-After": "3600"})
        try:
            job = await exports.create(conn, principal.user_id)
        except exports.AlreadyOpen as running:
            raise ApiError(409, "export_running",
                           f"your export {running.job_id} is still being prepared: follow it at "
                           f"/v1/me/export/{running.job_id}", headers=_location(running.job_id)) from None
    request.app.state.exports.wake()
    return Response(_out(job), status_code=202, headers=_location(job.id))


@get("/v1/me/exports", summary="Your exports, newest first")
async def list_exports(request: Request[Any, Any, Any]) -> list[ExportOut]:
    async with request.app.state.pool.connection() as conn:
        return [_out(j) for j in await exports.list_for(conn, principal_of(request).user_id)]


async def _own_job(request: Request[Any, Any, Any], export_id: uuid.UUID) -> exports.ExportJob:
    async with request.app.state.pool.connection() as conn:
        job = await exports.get(conn, principal_of(request).user_id, export_id)
    if job is None:
        raise ApiError(404, "not_found", f"no export {export_id}")
    return job


@get("/v1/me/export/{export_id:uuid}", summary="One of your exports: its progress, and the "
     "download link once ready")
async def get_export(request: Request[Any, Any, Any], export_id: uuid.UUID) -> ExportOut:
    return _out(await _own_job(request, export_id))


@get("/v1/me/export/{export_id:uuid}/download", media_type="application/zip",
     summary="Download a ready export (application/zip); 410 once it expired")
async def download_export(request: Request[Any, Any, Any], export_id: uuid.UUID) -> File:
    job = await _own_job(request, export_id)
    runner: ExportRunner = request.app.state.exports
    expired = job.status == "expired" or (
        job.expires_at is not None and job.expires_at <= dt.datetime.now(dt.UTC))
    if expired:
        raise ApiError(410, "export_expired", f"export {export_id} expired at "
                       f"{job.expires_at:%Y-%m-%d %H:%M} UTC; start a new one (POST /v1/me/export)")
    if job.status != "ready" or job.file_name is None:
        raise ApiError(409, "export_not_ready", f"export {export_id} is {job.status}"
                       + (f": {job.error}" if job.error else "; poll it until it is ready"))
    path = runner.folder / job.file_name
    if not path.is_file():
        raise ApiError(410, "export_expired", f"export {export_id} is no longer kept; start a new one")
    day = job.created_at.date().isoformat()
    return File(path=path, filename=f"stride-export-{day}.zip", media_type="application/zip",
                headers={"Cache-Control": "no-store"})


class ExportRunner:
    """Builds the exports people asked for, one at a time, in this gateway's background."""

    def __init__(self, pool: AsyncConnectionPool, folder: Path, keep: dt.timedelta, *,
                 lease: dt.timedelta = dt.timedelta(seconds=60), poll_s: float = 5.0) -> None:
        self.pool, self.folder, self.keep = pool, folder, keep
        self.lease, self.poll_s = lease, poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._task = asyncio.create_task(self._loop(), name="exports")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._sweep()
                while await self.run_one():
                    pass
            except Exception:  # PostgreSQL away, a full disk: the next round tries again
                log.exception("export round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def _sweep(self) -> None:
        """Remove expired exports' files."""
        async with self.pool.connection() as conn:
            gone = await exports.expire(conn)
        for name in gone:
            (self.folder / name).unlink(missing_ok=True)

    async def run_one(self) -> bool:
        """Claim and build one job; False when there was none."""
        async with self.pool.connection() as conn:
            job = await exports.claim(conn, self.lease)
        if job is None:
            return False
        part = self.folder / f"{job.id}.zip.part"
        try:
            written = await self._build(job, part)
        except ExportStopped:
            log.info("export %s was taken over or deleted; dropping this attempt", job.id)
            part.unlink(missing_ok=True)
            return True
        except Exception as exc:
            log.exception("export %s failed", job.id)
            part.unlink(missing_ok=True)
            async with self.pool.connection() as conn:
                await exports.fail(conn, job, f"the export could not be written ({type(exc).__name__})")
            return True
        name = f"{job.id}.zip"
        part.rename(self.folder / name)
        async with self.pool.connection() as conn:
            kept = await exports.finish(conn, job, name, written.size_bytes, written.sha256, self.keep)
        if not kept:  # erased or taken over meanwhile
            (self.folder / name).unlink(missing_ok=True)
        return True

    async def _build(self, job: exports.ExportJob, part: Path) -> Written:
        async def progress(done: int, total: int) -> bool:
            async with self.pool.connection() as conn:
                return await exports.progress(conn, job, done, total, self.lease)

        async with self.pool.connection() as conn:
            # One snapshot for the whole export, so its files agree with each other.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute("SELECT count(*) FROM workouts WHERE user_id = %s",
                                     (job.user_id,))
            row = await cur.fetchone()
            if not await progress(0, row[0] if row else 0):
                raise ExportStopped(str(job.id))
            # The recipient is the person themselves: the athlete always sees their own
            # health data (gateway/access.py sees_health_data, privacy/health.py).
            return await write_export(conn, job.user_id, part, workout_view=to_out,
                                      health_data=True, progress=progress)


ROUTES = [start_export, list_exports, get_export, download_export]
