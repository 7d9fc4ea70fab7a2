"""`stride import FILE.gpx|FILE.fit`: replay a recorded workout through the device protocol.

The track's points become samples `[t_ms, lat, lon, alt_m, hr_bpm, null]`, streamed with
their original times as one athlete's workout, so history can be loaded and the platform's
metrics compared with the file's own figures (gpxpy's, over the same points).
- GPX: heart rate from the Garmin TrackPointExtension `hr` element when present.
- FIT (Garmin's garmin-fit-sdk decoder): `record` messages; positions are in semicircles
  (degrees = semicircles × 180 / 2³¹), altitude `enhanced_altitude` or `altitude`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import gpxpy
import gpxpy.gpx
import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gateway.client import DeviceClient, DeviceError
from stack.settings import Settings
from streams.events import Sample, Sport
from streams.retry import wait_until_async

console = Console()
BATCH = 500


def track_samples(gpx: gpxpy.gpx.GPX) -> list[Sample]:
    """Every timed point of every track, in time order; points without a time are skipped
    (the protocol numbers samples by time)."""
    out: list[Sample] = []
    for track in gpx.tracks:
        for segment in track.segments:
            for p in segment.points:
                if p.time is None:
                    continue
                out.append((int(p.time.timestamp() * 1000), p.latitude, p.longitude,
                            p.elevation, _heart_rate(p), None))
    out.sort(key=lambda s: s[0])
    # Two points at the same millisecond: keep the first (a device logs one fix per time).
    return [s for i, s in enumerate(out) if i == 0 or s[0] != out[i - 1][0]]


def _heart_rate(point: gpxpy.gpx.GPXTrackPoint) -> float | None:
    for ext in point.extensions:
        for element in ext.iter():
            if element.tag.endswith("}hr") or element.tag == "hr":
                try:
                    bpm = float(element.text or "")
                except ValueError:
                    return None
                return bpm if 20 <= bpm <= 250 else None
    return None


SEMICIRCLE_DEG = 180 / 2**31


def read_gpx(path: Path) -> gpxpy.gpx.GPX:
    """A GPX file, or a FIT file's records as one GPX track (ValueError if unreadable)."""
    if path.suffix.lower() == ".fit":
        return _fit_as_gpx(path)
    try:
        return gpxpy.parse(path.read_text())
    except (OSError, gpxpy.gpx.GPXException) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def _fit_as_gpx(path: Path) -> gpxpy.gpx.GPX:
    from garmin_fit_sdk import Decoder, Stream

    try:
        decoder = Decoder(Stream.from_file(str(path)))
        if not decoder.is_fit():
            raise ValueError(f"cannot read {path}: not a FIT file")
        decoder = Decoder(Stream.from_file(str(path)))  # is_fit() read the header
        messages, errors = decoder.read()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if errors:
        raise ValueError(f"cannot read {path}: {errors[0]}")
    segment = gpxpy.gpx.GPXTrackSegment()
    for record in messages.get("record_mesgs", []):
        lat, lon = record.get("position_lat"), record.get("position_long")
        at = record.get("timestamp")
        point = gpxpy.gpx.GPXTrackPoint(
            latitude=lat * SEMICIRCLE_DEG if lat is not None else None,
            longitude=lon * SEMICIRCLE_DEG if lon is not None else None,
            elevation=record.get("enhanced_altitude", record.get("altitude")),
            time=at if isinstance(at, dt.datetime) else None)
        if record.get("heart_rate") is not None:
            hr = ET.Element("hr")
            hr.text = str(record["heart_rate"])
            point.extensions.append(hr)
        segment.points.append(point)
    track = gpxpy.gpx.GPXTrack()
    track.segments.append(segment)
    gpx = gpxpy.gpx.GPX()
    gpx.tracks.append(track)
    return gpx


def read_track(path: Path) -> list[Sample]:
    """The file's timed track points as samples; ValueError if unreadable or empty."""
    samples = track_samples(read_gpx(path))
    if not samples:
        raise ValueError(f"{path} has no track points with a time; nothing to use")
    return samples


def run_import(settings: Settings, path: Path, sport: Sport, token: str | None) -> int:
    if not token:
        console.print("[red]whose workout is it?[/] pass the athlete's login token with --token "
                      "(POST /v1/auth/login gives one) or set STRIDE_TOKEN")
        return 2
    try:
        gpx = read_gpx(path)
        samples = read_track(path)
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
