"""Recorded workouts — GPX and FIT files — as device samples.

One parser for every way a file comes in: `stride import` (stack/track_import.py) replays
it through the device protocol, `POST /v1/workouts/import` (gateway/workouts_manage_api.py)
stores it as a finished workout. The track's timed points become samples
`[t_ms, lat, lon, alt_m, hr_bpm, null]`, in time order.
- GPX: heart rate from the Garmin TrackPointExtension `hr` element when present.
- FIT (Garmin's garmin-fit-sdk decoder): `record` messages; positions are in semicircles
  (degrees = semicircles × 180 / 2³¹), altitude `enhanced_altitude` or `altitude`.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal

import gpxpy
import gpxpy.gpx

from streams.events import Sample

Kind = Literal["gpx", "fit"]
SEMICIRCLE_DEG = 180 / 2**31
FIT_MAGIC = b".FIT"
"""Bytes 8–11 of every FIT file's header."""


class Unreadable(ValueError):
    """The file is not a GPX or FIT file this parser can read, or holds no timed point."""


class NoTrackPoints(Unreadable):
    """A readable file without a single track point that has a time."""


def kind_of(data: bytes, name: str = "") -> Kind:
    """FIT when the header says so (or the name ends in .fit), GPX otherwise."""
    return "fit" if data[8:12] == FIT_MAGIC or name.lower().endswith(".fit") else "gpx"


def track_samples(gpx: gpxpy.gpx.GPX) -> list[Sample]:
    """Every timed point of every track, in time order; points without a time are skipped
    (the protocol numbers samples by time)."""
    timed: list[tuple[int, Sample]] = []
    for track in gpx.tracks:
        for segment in track.segments:
            for p in segment.points:
                if p.time is None:
                    continue
                t_ms = int(p.time.timestamp() * 1000)
                timed.append((t_ms, (t_ms, p.latitude, p.longitude, p.elevation,
                                     _heart_rate(p), None)))
    timed.sort(key=lambda pair: pair[0])
    # Two points at the same millisecond: keep the first (a device logs one fix per time).
    return [s for i, (t_ms, s) in enumerate(timed) if i == 0 or t_ms != timed[i - 1][0]]


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


def parse(data: bytes, kind: Kind, name: str = "the file") -> gpxpy.gpx.GPX:
    """A GPX document, or a FIT file's records as one GPX track; Unreadable if neither."""
    if kind == "fit":
        return _fit_as_gpx(data, name)
    try:
        return gpxpy.parse(data.decode("utf-8-sig"))
    except Exception as exc:  # untrusted input: any failure of the parser means unreadable
        raise Unreadable(f"cannot read {name}: {exc}") from None


def _fit_as_gpx(data: bytes, name: str) -> gpxpy.gpx.GPX:
    from garmin_fit_sdk import Decoder, Stream

    try:
        decoder = Decoder(Stream.from_byte_array(bytearray(data)))
        if not decoder.is_fit():
            raise Unreadable(f"cannot read {name}: not a FIT file")
        decoder = Decoder(Stream.from_byte_array(bytearray(data)))  # is_fit() read the header
        messages, errors = decoder.read()
    except Unreadable:
        raise
    except Exception as exc:  # untrusted input: any failure of the decoder means unreadable
        raise Unreadable(f"cannot read {name}: {exc}") from None
    if errors:
        raise Unreadable(f"cannot read {name}: {errors[0]}")
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


def samples_of(gpx: gpxpy.gpx.GPX, name: str = "the file") -> list[Sample]:
    """The track's timed points as samples; Unreadable if there is none."""
    samples = track_samples(gpx)
    if not samples:
        raise NoTrackPoints(f"{name} has no track points with a time; nothing to use")
    return samples


def read_gpx(path: Path) -> gpxpy.gpx.GPX:
    """A GPX or FIT file from disk (Unreadable, a ValueError, if unreadable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc}") from None
    return parse(data, "fit" if path.suffix.lower() == ".fit" else "gpx", str(path))


def read_track(path: Path) -> list[Sample]:
    """The file's timed track points as samples; ValueError if unreadable or empty."""
    return samples_of(read_gpx(path), str(path))
