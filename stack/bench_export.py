"""`stride bench export`: how long a person's export takes and how much memory it needs.

Makes a bench account straight in PostgreSQL with --workouts finished workouts of
--hours each at 1 Hz (every sample field, one pause each), then writes its export ZIP
(storage/export_zip.py, the code the gateway's jobs and `stride users export` run) and reports
the time (wall, and this process's CPU in every thread: the machine may be busy), the
samples per second, the ZIP's size and the peak memory: the Python heap's peak during the
export (tracemalloc) and the process's resident set before and after.
The account and its workouts are deleted afterwards. Needs PostgreSQL (the stack's).
"""

from __future__ import annotations

import asyncio
import math
import resource
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console

from gateway.workouts_api import to_out
from stack.bench_actors import save_report
from stack.settings import Settings
from storage.export_zip import write_export
from storage.exports import record_breaks
from storage.samples import write_samples
from storage.workouts import project_summary
from streams.events import SamplesAccepted, WorkoutSummary

console = Console()
T0 = 1_767_225_600_000  # 2026-01-01


def _samples(n: int, t0: int) -> list[tuple[Any, ...]]:
    return [(t0 + 1000 * i, 45.0 + 2.7e-5 * i, 7.0 + 1e-5 * math.sin(i / 60), 200.0 + (i % 300) / 8,
             float(120 + i % 50), float(95 + i % 4), 3.0, 4.0, 200.0 + i % 40) for i in range(n)]


async def _make(conn: psycopg.AsyncConnection, user_id: uuid.UUID, workouts: int,
                samples: int) -> list[uuid.UUID]:
    ids = []
    for k in range(workouts):
        wid = uuid.uuid4()
        t0 = T0 + k * 86_400_000
        track = _samples(samples, t0)
        await conn.execute("INSERT INTO workout_ids (id, user_id) VALUES (%s, %s)", (wid, user_id))
        summary = WorkoutSummary(version=3, status="finished", sport="run", started_at_ms=t0,
                                 ended_at_ms=t0 + samples * 1000, last_seq=samples - 1,
                                 samples_count=samples, distance_m=3.0 * samples)
        await project_summary(conn, wid, user_id, summary)
        for seq in range(0, samples, 5000):
            await write_samples(conn, [SamplesAccepted(workout_id=wid, user_id=user_id, sport="run",
                                                       seq=seq, samples=track[seq:seq + 5000])])
        half = samples // 2
        await record_breaks(conn, [(wid, 1, "pause", t0 + half * 1000, half - 1),
                                   (wid, 2, "resume", t0 + (half + 60) * 1000, half + 59)])
        await conn.commit()
        ids.append(wid)
        console.print(f"made workout {k + 1}/{workouts}", end="\r")
    return ids


async def _drop(conn: psycopg.AsyncConnection, user_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    await conn.execute("DELETE FROM sensor_data WHERE workout_id = ANY(%s)", (ids,))
    await conn.execute("DELETE FROM workouts WHERE user_id = %s", (user_id,))
    await conn.execute("DELETE FROM workout_ids WHERE user_id = %s", (user_id,))
    await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
    await conn.commit()


async def _export(conn: psycopg.AsyncConnection, user_id: uuid.UUID, path: Path) -> Any:
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    written = await write_export(conn, user_id, path, workout_view=to_out, health_data=True)
    await conn.rollback()
    return written


def _rss_mib() -> float:
    """The process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _bench(settings: Settings, workouts: int, hours: float) -> dict[str, Any]:
    samples = int(hours * 3600)
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn) as conn:
        row = await (await conn.execute(
            "INSERT INTO users (email, first_name) VALUES (%s, 'Bench') RETURNING id",
            (f"bench-export-{uuid.uuid4().hex[:8]}@stride.test",))).fetchone()
        assert row is not None
        user_id: uuid.UUID = row[0]
        made = time.perf_counter()
        ids = await _make(conn, user_id, workouts, samples)
        made_s = time.perf_counter() - made
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "export.zip"
                rss_before = _rss_mib()
                started, cpu = time.perf_counter(), time.process_time()
                written = await _export(conn, user_id, path)
                took, cpu = time.perf_counter() - started, time.process_time() - cpu
                rss_peak = _rss_mib()
                # Again with the heap traced (tracemalloc slows allocation, so not timed).
                tracemalloc.start()
                await _export(conn, user_id, path)
                _, heap_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
        finally:
            await _drop(conn, user_id, ids)
    return {"workouts": workouts, "samples_per_workout": samples,
            "samples": written.samples, "setup_s": round(made_s, 1), "export_s": round(took, 2),
            "export_cpu_s": round(cpu, 2),
            "samples_per_s": round(written.samples / took), "zip_mb": round(written.size_bytes / 1e6, 1),
            "heap_peak_mib": round(heap_peak / 2**20, 1), "rss_before_mib": round(rss_before, 1),
            "rss_peak_mib": round(rss_peak, 1)}


def run(settings: Settings, workouts: int, hours: float) -> int:
    report = asyncio.run(_bench(settings, workouts, hours))
    markdown = (
        f"# Export of {report['workouts']} workouts × {report['samples_per_workout']:,} samples\n\n"
        "| figure | value |\n|---|---|\n"
        + "".join(f"| {k} | {v} |\n" for k, v in report.items()))
    save_report("export", report, markdown)
    return 0
