"""`stride import FILE.gpx|FILE.fit|FILE.csv|EXPORT.zip`: replay a recorded workout through the
device protocol.

The track's points (actors/recordings.py reads both formats) become samples
`[t_ms, lat, lon, alt_m, hr_bpm, null]`, streamed with their original times as one athlete's
workout, so history can be loaded and the platform's metrics compared with the file's own
figures (gpxpy's, over the same points). `POST /v1/workouts/import` takes the same files
over HTTP.

A workout of a Stride export (storage/export_zip.py) — its CSV, with its JSON beside it, or the
export's ZIP (every workout in it, or `--workout ID`) — is replayed as it was recorded:
every sample field, the start time, the pauses and resumes after the same samples and the
finish, so the platform computes the same metrics; the table then shows both summaries.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import gpxpy
import gpxpy.gpx
import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from actors.recordings import read_gpx, samples_of
from gateway.client import DeviceClient, DeviceError
from stack.settings import Settings
from streams.events import Sample, Sport
from streams.retry import wait_until_async

console = Console()
BATCH = 500


def run_import(settings: Settings, path: Path, sport: Sport | None, token: str | None,
               workout: str | None = None) -> int:
    if not token:
        console.print("[red]whose workout is it?[/] pass the athlete's login token with --token "
                      "(POST /v1/auth/login gives one) or set STRIDE_TOKEN")
        return 2
    if path.suffix.lower() in (".csv", ".zip"):
        from stack.export_import import run_export_import

        return run_export_import(settings, path, sport, token, workout)
    sport = sport or "run"
    try:
        gpx = read_gpx(path)
        samples = samples_of(gpx, str(path))
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    return asyncio.run(_replay(settings, token, gpx, samples, sport))


async def _replay(settings: Settings, token: str, gpx: gpxpy.gpx.GPX, samples: list[Sample],
                  sport: Sport) -> int:
    wid = uuid.uuid4()
    try:
        async with DeviceClient(settings.gateway_ws_url, token) as device:
            await device.start(wid, sport, samples[0][0])
            with Progress(console=console, transient=True) as progress:
                bar = progress.add_task(f"replaying {len(samples):,} points", total=len(samples))
                for seq in range(0, len(samples), BATCH):  # the client waits out a rate limit
                    await device.send_samples(wid, seq, samples[seq:seq + BATCH])
                    progress.advance(bar, len(samples[seq:seq + BATCH]))
            await device.finish(wid, samples[-1][0])
    except DeviceError as exc:
        console.print(f"[red]the gateway refused the track:[/] {exc}")
        return 1
    except OSError as exc:
        console.print(f"[red]cannot reach {settings.gateway_ws_url}:[/] {exc} — is the stack up?")
        return 1
    summary = await _summary(settings, token, wid)
    # gpxpy's figures over the same path: every point of every track, joined in time order
    # (its own per-track totals would leave out the way between tracks).
    joined = gpxpy.gpx.GPXTrackSegment(
        sorted((p for t in gpx.tracks for seg in t.segments for p in seg.points
                if p.time and p.latitude is not None and p.longitude is not None),
               key=lambda p: p.time))  # type: ignore[arg-type,return-value]
    table = Table(title=f"imported workout {wid}")
    table.add_column("figure")
    table.add_column("Stride", justify="right")
    table.add_column("gpxpy, same points", justify="right")
    table.add_row("points", f"{summary.get('samples_count', '?')}", f"{len(samples)}")
    table.add_row("distance", f"{summary.get('distance_m', 0):.0f} m", f"{joined.length_2d():.0f} m")
    moving = joined.get_moving_data()
    table.add_row("moving time", f"{summary.get('moving_time_s', 0):.0f} s",
                  f"{moving.moving_time:.0f} s" if moving else "-")
    table.add_row("elevation gain", f"{summary.get('elevation_gain_m', 0):.0f} m",
                  f"{joined.get_uphill_downhill().uphill:.0f} m")
    table.add_row("heart rate avg / max", f"{summary.get('avg_hr')} / {summary.get('max_hr')}",
                  "in the file" if any(s[4] is not None for s in samples) else "not in the file")
    console.print(table)
    console.print(f"GET /v1/workouts/{wid} shows the whole summary.")
    return 0


async def _summary(settings: Settings, token: str, wid: uuid.UUID) -> dict[str, object]:
    found: dict[str, object] = {}
    async with httpx.AsyncClient(base_url=settings.gateway_url,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        async def stored() -> bool:
            resp = await http.get(f"/v1/workouts/{wid}")
            if resp.status_code == 200 and resp.json().get("status") == "finished":
                found.update(resp.json())
                return True
            return False

        await wait_until_async(stored, timeout_s=30)
    return found
