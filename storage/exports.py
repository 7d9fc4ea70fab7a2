"""Export jobs (`export_jobs`, 0018) and a workout's pauses (`workout_breaks`, 0018).

A job is claimed by one gateway at a time on a lease: `claim` takes the oldest pending job,
or a running one whose lease ran out (its gateway stopped), with FOR UPDATE SKIP LOCKED, and
`progress` pushes the lease on. Only the gateway holding the lease (`attempts` names the
claim) may move the job on, so a gateway that comes back after its lease was taken over
cannot overwrite the newer attempt's result.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec
from psycopg import AsyncConnection, errors

JobStatus = Literal["pending", "running", "ready", "failed", "expired"]


class ExportJob(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    status: JobStatus
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None
    attempts: int
    workouts_done: int
    workouts_total: int | None
    file_name: str | None
    size_bytes: int | None
    sha256: str | None
    error: str | None


_COLUMNS = ("id, user_id, status, created_at, started_at, finished_at, expires_at, attempts,"
            " workouts_done, workouts_total, file_name, size_bytes, sha256, error")


def _job(row: Sequence[object]) -> ExportJob:
    return ExportJob(**dict(zip(ExportJob.__struct_fields__, row, strict=True)))  # type: ignore[arg-type]


class AlreadyOpen(Exception):
    """The person has a pending or running export already."""

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(f"export {job_id} is still being prepared")
        self.job_id = job_id


async def open_job(conn: AsyncConnection, user_id: uuid.UUID) -> ExportJob | None:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM export_jobs WHERE user_id = %s"
                             " AND status IN ('pending', 'running')", (user_id,))
    row = await cur.fetchone()
    return None if row is None else _job(row)


async def create(conn: AsyncConnection, user_id: uuid.UUID) -> ExportJob:
    """A new pending job; AlreadyOpen when one is pending or running (the unique index
    decides, so two requests at the same moment cannot both start one)."""
    try:
        async with conn.transaction():
            cur = await conn.execute(f"INSERT INTO export_jobs (user_id) VALUES (%s)"
                                     f" RETURNING {_COLUMNS}", (user_id,))
            row = await cur.fetchone()
    except errors.UniqueViolation:
        running = await open_job(conn, user_id)
        if running is None:  # it finished in between: the caller may simply ask again
            raise
        raise AlreadyOpen(running.id) from None
    assert row is not None
    return _job(row)


async def started_since(conn: AsyncConnection, user_id: uuid.UUID, since: dt.timedelta) -> int:
    """How many exports the person asked for within `since` (erased ones aside)."""
    cur = await conn.execute("SELECT count(*) FROM export_jobs WHERE user_id = %s"
                             " AND created_at > now() - %s", (user_id, since))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def get(conn: AsyncConnection, user_id: uuid.UUID, job_id: uuid.UUID) -> ExportJob | None:
    """The job if it is this person's (anyone else's is as good as missing)."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM export_jobs WHERE id = %s AND user_id = %s",
                             (job_id, user_id))
    row = await cur.fetchone()
    return None if row is None else _job(row)


async def list_for(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 50) -> list[ExportJob]:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM export_jobs WHERE user_id = %s"
                             " ORDER BY created_at DESC, id DESC LIMIT %s", (user_id, limit))
    return [_job(r) for r in await cur.fetchall()]


async def claim(conn: AsyncConnection, lease: dt.timedelta) -> ExportJob | None:
    """The oldest job nobody is working on, now running under a lease for this caller."""
    async with conn.transaction():
        cur = await conn.execute(
            f"""
            UPDATE export_jobs SET status = 'running', started_at = now(), attempts = attempts + 1,
                lease_until = now() + %(lease)s, workouts_done = 0, workouts_total = NULL
            WHERE id = (SELECT id FROM export_jobs
                        WHERE status = 'pending' OR (status = 'running' AND lease_until < now())
                        ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING {_COLUMNS}
            """, {"lease": lease})
        row = await cur.fetchone()
    return None if row is None else _job(row)


async def progress(conn: AsyncConnection, job: ExportJob, done: int, total: int,
                   lease: dt.timedelta) -> bool:
    """Record how far the job got and extend its lease; False when this attempt lost it."""
    cur = await conn.execute(
        "UPDATE export_jobs SET workouts_done = %s, workouts_total = %s,"
        " lease_until = now() + %s WHERE id = %s AND status = 'running' AND attempts = %s",
        (done, total, lease, job.id, job.attempts))
    return cur.rowcount == 1


async def finish(conn: AsyncConnection, job: ExportJob, file_name: str, size_bytes: int,
                 sha256: str, keep: dt.timedelta) -> bool:
    cur = await conn.execute(
        "UPDATE export_jobs SET status = 'ready', finished_at = now(), expires_at = now() + %s,"
        " file_name = %s, size_bytes = %s, sha256 = %s, lease_until = NULL"
        " WHERE id = %s AND status = 'running' AND attempts = %s",
        (keep, file_name, size_bytes, sha256, job.id, job.attempts))
    return cur.rowcount == 1


async def fail(conn: AsyncConnection, job: ExportJob, error: str) -> None:
    await conn.execute(
        "UPDATE export_jobs SET status = 'failed', finished_at = now(), error = %s,"
        " lease_until = NULL WHERE id = %s AND status = 'running' AND attempts = %s",
        (error[:500], job.id, job.attempts))


async def expire(conn: AsyncConnection) -> list[str]:
    """Mark every ready job past its expiry as expired; the files to remove."""
    cur = await conn.execute(
        "UPDATE export_jobs SET status = 'expired' WHERE status = 'ready' AND expires_at <= now()"
        " RETURNING file_name")
    return [r[0] for r in await cur.fetchall() if r[0]]


async def live_files(conn: AsyncConnection) -> set[str]:
    """File names a job still points at (anything else in the folder is a leftover)."""
    cur = await conn.execute("SELECT file_name FROM export_jobs WHERE file_name IS NOT NULL"
                             " AND status IN ('ready', 'running')")
    return {r[0] for r in await cur.fetchall()}


async def delete_for(conn: AsyncConnection, user_id: uuid.UUID, folder: Path) -> list[Path]:
    """Erasure: delete the person's export jobs; returns their files under `folder`, which
    the caller removes once its transaction committed (a job still running writes its file
    under a temporary name and finds its row gone when it tries to finish)."""
    cur = await conn.execute("DELETE FROM export_jobs WHERE user_id = %s RETURNING id, file_name",
                             (user_id,))
    files: list[Path] = []
    for job_id, file_name in await cur.fetchall():
        files.append(folder / (file_name or f"{job_id}.zip"))
        files.append(folder / f"{job_id}.zip.part")
    return files


# --- a workout's pauses ------------------------------------------------------------------


class Break(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["pause", "resume"]
    at_ms: int
    after_seq: int
    """The last sample applied before the change (-1: none yet)."""


async def record_breaks(conn: AsyncConnection,
                        rows: Sequence[tuple[uuid.UUID, int, str, int, int]]) -> None:
    """Store (workout_id, version, kind, at_ms, after_seq) once each, for workouts that are
    stored (a deleted one has no row, so its late events add nothing)."""
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO workout_breaks (workout_id, version, kind, at_ms, after_seq)"
            " SELECT %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM workouts WHERE id = %s)"
            " ON CONFLICT DO NOTHING",
            [(*row, row[0]) for row in rows])


async def breaks_of(conn: AsyncConnection, workout_id: uuid.UUID) -> list[Break]:
    cur = await conn.execute("SELECT kind, at_ms, after_seq FROM workout_breaks"
                             " WHERE workout_id = %s ORDER BY version", (workout_id,))
    return [Break(kind=r[0], at_ms=r[1], after_seq=r[2]) for r in await cur.fetchall()]
