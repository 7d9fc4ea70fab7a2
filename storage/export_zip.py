"""A person's export (GDPR art. 15 / 20) as one ZIP: `write_export`.

Used by the gateway's export jobs (gateway/export_api.py) and by support staff's
`stride users export`. What goes in: README.txt and manifest.json (every file, its format,
the layout's version), one JSON file per section of storage/export_sections.py, and per
workout its summary (JSON, as the REST API shows it to the owner), its samples with pauses
(CSV) and its route (GPX) — storage/export_formats.py.

Memory stays bounded whatever the account holds: samples are read a page at a time and
appended to the ZIP entry as they come; the compressing writes run in a thread, so the
gateway's event loop keeps serving while an export is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import msgspec
from psycopg import AsyncConnection, errors

from privacy import health
from storage import export_sections, exports
from storage import samples as samples_repo
from storage import workouts as workouts_repo
from storage.export_formats import (
    CSV_COLUMNS,
    FORMAT_VERSION,
    GARMIN_TPX_NS,
    STRIDE_GPX_NS,
    CsvWriter,
    Event,
    GpxWriter,
    Row,
)

PAGE = 5000
"""Samples read (and held) at a time."""

WorkoutView = Callable[[workouts_repo.WorkoutRow, bool], msgspec.Struct]
"""A workout's summary as the REST API shows it (row, with health data) — gateway's to_out."""
Progress = Callable[[int, int], Awaitable[bool]]
"""Called after each workout with (done, total); False stops the export (ExportStopped)."""


class ExportStopped(Exception):
    """The progress callback said stop (the job's lease was lost, or it was deleted)."""


class Written(msgspec.Struct, frozen=True, kw_only=True):
    size_bytes: int
    sha256: str
    workouts: int
    samples: int


class _Zip:
    """A ZIP being written, its blocking work done in a thread."""

    def __init__(self, path: Path) -> None:
        self.file = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
        self._entry: IO[bytes] | None = None

    async def put(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(self.file.writestr, name, data)

    async def begin(self, name: str) -> None:
        self._entry = await asyncio.to_thread(self.file.open, name, "w")

    async def append(self, text: str) -> None:
        assert self._entry is not None
        if text:
            await asyncio.to_thread(self._entry.write, text.encode())

    async def append_made(self, make: Callable[[], str]) -> None:
        """Append what `make` returns, made in the thread too: formatting thousands of
        samples is the export's main CPU cost, and the event loop has requests to serve."""
        entry = self._entry
        assert entry is not None
        await asyncio.to_thread(lambda: entry.write(make().encode()))

    async def end(self) -> None:
        assert self._entry is not None
        await asyncio.to_thread(self._entry.close)
        self._entry = None

    async def close(self) -> None:
        await asyncio.to_thread(self.file.close)


async def write_export(conn: AsyncConnection, user_id: uuid.UUID, path: Path, *,
                       workout_view: WorkoutView, health_data: bool,
                       progress: Progress | None = None) -> Written:
    """Write the person's export to `path` (replacing it). `health_data`: whether the
    recipient may receive health data (privacy/health.py: the person themselves may);
    without it the samples' and summaries' health fields are left empty."""
    workout_ids = await _workout_ids(conn, user_id)
    archive = _Zip(path)
    listed: list[dict[str, Any]] = []
    absent: list[str] = []
    total_samples = 0
    try:
        for section in export_sections.SECTIONS:
            try:
                async with conn.transaction():  # a savepoint: a missing table spoils nothing
                    data = await section.query(conn, user_id)
            except errors.UndefinedTable:  # a database not migrated this far
                absent.append(section.file)
                continue
            await archive.put(section.file, data)
        for done, workout_id in enumerate(workout_ids, start=1):
            entry = await _write_workout(conn, archive, workout_id, workout_view, health_data)
            if entry is not None:
                listed.append(entry)
                total_samples += entry["samples"]
            if progress is not None and not await progress(done, len(workout_ids)):
                raise ExportStopped(f"export of {user_id} stopped after {done} workouts")
        manifest = _manifest(user_id, listed, health_data, absent)
        await archive.put("manifest.json", msgspec.json.format(msgspec.json.encode(manifest)))
        await archive.put("README.txt", _readme(manifest).encode())
    finally:
        await archive.close()
    digest, size = await asyncio.to_thread(_digest, path)
    return Written(size_bytes=size, sha256=digest, workouts=len(listed), samples=total_samples)


async def _workout_ids(conn: AsyncConnection, user_id: uuid.UUID) -> list[uuid.UUID]:
    cur = await conn.execute("SELECT id FROM workouts WHERE user_id = %s ORDER BY start_time, id",
                             (user_id,))
    return [r[0] for r in await cur.fetchall()]


def _events(row: workouts_repo.WorkoutRow, breaks: list[exports.Break]) -> list[Event]:
    s = row.summary
    out = [Event(kind="start", t_ms=s.started_at_ms, after_seq=-1)]
    out += [Event(kind=b.kind, t_ms=b.at_ms, after_seq=b.after_seq) for b in breaks]
    if s.status == "finished" and s.ended_at_ms is not None:
        out.append(Event(kind="finish", t_ms=s.ended_at_ms, after_seq=s.last_seq))
    return out


def _page_text(writer: CsvWriter | GpxWriter, page: list[samples_repo.StoredSample],
               health_data: bool) -> str:
    return writer.page(_rows(page, health_data))


def _rows(page: list[samples_repo.StoredSample], health_data: bool) -> list[Row]:
    """Stored samples as the writers take them; without health data, hr_bpm and spo2_pct
    are left empty."""
    return [Row(seq=s.seq, sample=(s.t_ms, s.lat, s.lon, s.alt_m,
                                   s.hr_bpm if health_data else None,
                                   s.spo2_pct if health_data else None,
                                   s.speed_mps, s.accuracy_m, s.power_w)) for s in page]


async def _write_workout(conn: AsyncConnection, archive: _Zip, workout_id: uuid.UUID,
                         view: WorkoutView, health_data: bool) -> dict[str, Any] | None:
    row = await workouts_repo.get_workout(conn, workout_id)
    if row is None:  # deleted while the export ran
        return None
    breaks = await exports.breaks_of(conn, workout_id)
    events = _events(row, breaks)
    summary = view(row, health_data)
    await archive.put(f"workouts/{workout_id}.json",
                      msgspec.json.format(msgspec.json.encode(summary)) + b"\n")
    name = row.title or f"{row.summary.sport} {_day(row.summary.started_at_ms)}"
    count = 0
    for suffix, writer in (("csv", CsvWriter(events[0], events)),
                           ("gpx", GpxWriter(name, row.summary.sport, events))):
        await archive.begin(f"workouts/{workout_id}.{suffix}")
        await archive.append(writer.header())
        count = 0
        after: int | None = None
        while True:
            page = await samples_repo.read_samples(conn, workout_id, limit=PAGE, after_seq=after)
            await archive.append_made(functools.partial(_page_text, writer, page, health_data))
            count += len(page)
            if len(page) < PAGE:
                break
            after = page[-1].seq
        await archive.append(writer.end())
        await archive.end()
    return {"id": str(workout_id), "sport": row.summary.sport, "status": row.summary.status,
            "started_at": _iso(row.summary.started_at_ms), "samples": count,
            "pauses": sum(1 for b in breaks if b.kind == "pause"),
            "files": [f"workouts/{workout_id}.{x}" for x in ("json", "csv", "gpx")]}


def _day(t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC).date().isoformat()


def _iso(t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC).isoformat()


def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


FORMATS: dict[str, Any] = {
    "workouts/<id>.json": "The workout's summary exactly as GET /v1/workouts/{id} shows it to "
                          "you: SI units, times ISO 8601 UTC.",
    "workouts/<id>.csv": {
        "columns": list(CSV_COLUMNS),
        "kind": "start | sample | pause | resume | finish, in the order they happened",
        "seq": "a sample's number as the device sent it; for the other kinds the last sample "
               "applied before them (empty: none yet)",
        "t_ms": "Unix time in milliseconds (a sample's reading, or the event's time)",
        "units": "lat/lon degrees WGS84, alt_m m, hr_bpm beats/min, spo2_pct %, speed_mps m/s "
                 "(the device's Doppler speed), accuracy_m m (68 % horizontal radius), power_w W",
        "empty": "the sensor had no reading",
        "paused": "samples between a pause row and the next resume row were recorded while "
                  "paused and count for nothing",
        "reimport": "`stride import workouts/<id>.csv` replays it (with the .json beside it for "
                    "the sport) and the platform computes the same metrics",
    },
    "workouts/<id>.gpx": {
        "standard": "GPX 1.1 (http://www.topografix.com/GPX/1/1)",
        "heart_rate": f"gpxtpx:hr in Garmin's TrackPointExtension v1 ({GARMIN_TPX_NS}), whole bpm",
        "stride_namespace": STRIDE_GPX_NS,
        "stride_elements": "stride:seq, stride:spo2 (%), stride:speed (m/s), stride:accuracy (m), "
                           "stride:power (W) per trkpt; stride:events (start, pause, resume, "
                           "finish with time and after_seq) in the trk's extensions; "
                           "stride:state paused on a trkseg recorded while paused",
        "segments": "a new trkseg at every pause and every resume",
        "positions": "samples without a position are only in the CSV",
    },
}


def _manifest(user_id: uuid.UUID, workouts: list[dict[str, Any]], health_data: bool,
              absent: list[str]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "person": str(user_id),
        "health_data": health_data,
        "health_fields": sorted(health.HEALTH_FIELDS),
        "files": [{"file": "manifest.json", "describes": "This list.", "format": "application/json"},
                  {"file": "README.txt", "describes": "The same, for people.",
                   "format": "text/plain"},
                  *(f for f in export_sections.describe() if f["file"] not in absent)],
        "workout_formats": FORMATS,
        "workouts": workouts,
        "pauses_note": "Pauses are recorded since export format 1; a workout recorded before "
                       "shows none even if it was paused.",
        "not_exported": export_sections.NOT_EXPORTED,
    }


def _readme(manifest: dict[str, Any]) -> str:
    lines = [
        "Your Stride data",
        "================",
        "",
        f"Exported {manifest['generated_at']} (layout version {manifest['format_version']}).",
        "Every file is UTF-8. manifest.json lists them for programs; this is the same for people.",
        "",
        "Files",
        "-----",
        *(f"{f['file']}: {f['describes']}" for f in manifest["files"]),
        "",
        f"Workouts ({len(manifest['workouts'])}), three files each under workouts/:",
    ]
    for name, spec in FORMATS.items():
        lines.append(f"{name}:")
        if isinstance(spec, str):
            lines.append(f"  {spec}")
        else:
            lines += [f"  {key}: {value}" for key, value in spec.items()]
    lines += ["", manifest["pauses_note"], "", "Not included, and why", "---------------------",
              *(f"{table}: {why}" for table, why in manifest["not_exported"].items()), ""]
    if not manifest["health_data"]:
        lines.insert(5, "Health fields (heart rate, SpO2 and what is derived) are left empty.")
    return "\n".join(lines)
