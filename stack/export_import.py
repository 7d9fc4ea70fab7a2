"""`stride import` of a Stride export's workout: its CSV (the JSON summary beside it gives
the sport and the figures to compare), or the export's ZIP (every workout in it, or one).

The CSV (storage/export_formats.py) is replayed as it was recorded: the start time, every
sample with all its fields, pause and resume after the same samples, and the finish at its
time — so the actor counts the same moving time and everything after it. Each workout gets
a new id (ids are their owner's for ever).
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from gateway.client import DeviceClient, DeviceError
from stack.settings import Settings
from stack.track_import import _summary
from storage.export_formats import BadCsv, Recording, read_csv
from streams.events import Sample, Sport

console = Console()
BATCH = 500
COMPARED = ("samples_count", "distance_m", "duration_s", "moving_time_s", "elevation_gain_m",
            "avg_hr", "max_hr", "hr_zone_s", "calories_kcal", "trimp", "min_spo2")


class Exported:
    """One workout of an export: its recording, and its summary when the JSON was found."""

    def __init__(self, name: str, recording: Recording, summary: dict[str, Any] | None) -> None:
        self.name, self.recording, self.summary = name, recording, summary


def read_workouts(path: Path, only: str | None = None) -> list[Exported]:
    """The workouts of a CSV (+ its JSON) or of an export ZIP; BadCsv when unreadable."""
    if path.suffix.lower() == ".csv":
        beside = path.with_suffix(".json")
        summary = json.loads(beside.read_text()) if beside.is_file() else None
        with path.open(newline="") as f:
            return [Exported(path.name, read_csv(f), summary)]
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BadCsv(f"{path} is not a ZIP: {exc}") from None
    with archive:
        names = sorted(n for n in archive.namelist()
                       if n.startswith("workouts/") and n.endswith(".csv"))
        if only is not None:
            names = [n for n in names if n == f"workouts/{only}.csv"]
            if not names:
                raise BadCsv(f"no workout {only} in {path}")
        return list(_from_zip(archive, names))


def _from_zip(archive: zipfile.ZipFile, names: list[str]) -> Iterator[Exported]:
    for name in names:
        json_name = name[:-4] + ".json"
        summary = (json.loads(archive.read(json_name)) if json_name in archive.namelist()
                   else None)
        with archive.open(name) as raw:
            yield Exported(name, read_csv(io.TextIOWrapper(raw, encoding="utf-8", newline="")),
                           summary)


def run_export_import(settings: Settings, path: Path, sport: Sport | None, token: str,
                      workout: str | None) -> int:
    try:
        found = read_workouts(path, workout)
    except (BadCsv, OSError, ValueError) as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    if not found:
        console.print(f"[red]no workouts in {path}[/]")
        return 2
    return asyncio.run(_import_all(settings, token, found, sport))


async def _import_all(settings: Settings, token: str, found: list[Exported],
                      sport: Sport | None) -> int:
    for item in found:
        kind = cast(Sport, sport or (item.summary or {}).get("sport") or "run")
        wid = uuid.uuid4()
        try:
            await replay(settings.gateway_ws_url, token, wid, kind, item.recording)
        except DeviceError as exc:
            console.print(f"[red]the gateway refused {item.name}:[/] {exc}")
            return 1
        except OSError as exc:
            console.print(f"[red]cannot reach {settings.gateway_ws_url}:[/] {exc} — is the stack up?")
            return 1
        _compare(item, wid, await _summary(settings, token, wid))
    return 0


async def replay(ws_url: str, token: str, wid: uuid.UUID, sport: Sport, rec: Recording) -> None:
    """Stream the recording as its device did: samples up to each event, then the event."""
    async with DeviceClient(ws_url, token) as device:
        await device.start(wid, sport, rec.started_at_ms)
        sent = 0
        finished = False
        for event in [*rec.events]:
            sent = await _send(device, wid, rec.samples, sent, event.after_seq + 1)
            if event.kind == "pause":
                await device.pause(wid, event.t_ms)
            elif event.kind == "resume":
                await device.resume(wid, event.t_ms)
            else:
                await device.finish(wid, event.t_ms)
                finished = True
        sent = await _send(device, wid, rec.samples, sent, len(rec.samples))
        if not finished:  # exported while it was recording: it ends with its last sample
            last = int(rec.samples[-1][0]) if rec.samples else rec.started_at_ms  # type: ignore[arg-type]
            await device.finish(wid, last)


async def _send(device: DeviceClient, wid: uuid.UUID, samples: list[Sample], start: int,
                end: int) -> int:
    for seq in range(start, end, BATCH):
        await device.send_samples(wid, seq, [_trimmed(s) for s in samples[seq:min(seq + BATCH, end)]])
    return max(start, end)


def _trimmed(sample: Sample) -> Sample:
    """Without the empty optional fields at its end (a 6-field sample is the plain form)."""
    n = len(sample)
    while n > 6 and sample[n - 1] is None:
        n -= 1
    return sample[:n]


def _compare(item: Exported, wid: uuid.UUID, now: dict[str, object]) -> None:
    table = Table(title=f"{item.name} → workout {wid}")
    table.add_column("figure")
    table.add_column("exported", justify="right")
    table.add_column("re-imported", justify="right")
    before = item.summary or {}
    for key in COMPARED:
        table.add_row(key, _shown(before.get(key)), _shown(now.get(key)))
    console.print(table)


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return " ".join(_shown(v) for v in value)
    return "-" if value is None else str(value)
