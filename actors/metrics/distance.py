"""Distance and moving time from GPS fixes, with spike rejection and auto-pause.

Method: haversine on a sphere of the IUGG mean radius R1 = 6 371 008.8 m. Against the WGS84
ellipsoid (Karney's geodesics) its error is at most ~0.5 % for long lines and typically
0.1-0.3 % at the scale of a workout; tests/unit/test_distance.py measures it against
`geographiclib`. Sources: REFERENCE.md (Distance); Moritz 1980 for R1.

Noise handling:
- a fix implying a speed above the sport's ceiling (a GPS jump) is rejected; the next
  fix is measured from the last good one, so a spike adds nothing;
- if fixes keep being rejected (the athlete really is elsewhere, e.g. after a GPS outage
  on a train, or the very first fix was wrong), the track re-anchors at the fix that makes
  `REANCHOR_AFTER` rejections in a row, adding no distance for the jump;
- a step slower than the sport's stop speed counts neither distance nor moving time, so
  a stationary device's drift adds little.
"""

from __future__ import annotations

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray

EARTH_RADIUS_M = 6_371_008.8
REANCHOR_AFTER = 5


class SportLimits(msgspec.Struct, frozen=True):
    max_speed_mps: float
    """Faster than this between two fixes is a GPS jump, not the athlete."""
    stop_speed_mps: float
    """Slower than this is standing still (auto-pause); ~1 km/h by default."""


SPORT_LIMITS: dict[str, SportLimits] = {
    "run": SportLimits(13.0, 0.28),
    "walk": SportLimits(4.5, 0.28),
    "hike": SportLimits(4.5, 0.28),
    "ride": SportLimits(35.0, 0.8),
    "swim": SportLimits(4.0, 0.1),
    "row": SportLimits(8.0, 0.28),
    "ski": SportLimits(45.0, 0.5),
    "other": SportLimits(45.0, 0.28),
}


class DistanceState(msgspec.Struct, kw_only=True):
    distance_m: float = 0.0
    moving_ms: int = 0
    last_lat: float | None = None
    last_lon: float | None = None
    last_t_ms: int | None = None
    speed_mps: float | None = None
    rejected_in_a_row: int = 0
    rejected_total: int = 0


def haversine_m(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """Great-circle distance in metres between arrays of points in degrees."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def initial() -> DistanceState:
    return DistanceState()


def update(
    state: DistanceState, batch: Batch, limits: SportLimits, counting: bool = True
) -> DistanceState:
    """Fold a batch of fixes into the state.

    The result is the same whether fixes come one at a time or in batches of any size:
    each fix is judged against the last accepted one, as a live device would be.
    `counting=False` (a paused workout) moves the anchor along without adding distance.
    """
    ok = ~(np.isnan(batch.lat) | np.isnan(batch.lon))
    lat, lon, t = batch.lat[ok], batch.lon[ok], batch.t_ms[ok].astype(np.float64)
    if state.last_t_ms is not None:
        newer = t > state.last_t_ms
        lat, lon, t = lat[newer], lon[newer], t[newer]
    if lat.size == 0:
        return state
    if state.last_lat is None or state.last_lon is None or state.last_t_ms is None:
        carry = 0  # the very first fix only anchors the track
    else:
        carry = state.rejected_in_a_row
        lat = np.concatenate(([state.last_lat], lat))
        lon = np.concatenate(([state.last_lon], lon))
        t = np.concatenate(([float(state.last_t_ms)], t))

    keep, breaks = _judge_fixes(lat, lon, t, limits, carry)
    idx = np.flatnonzero(keep)
    step = haversine_m(lat[idx[:-1]], lon[idx[:-1]], lat[idx[1:]], lon[idx[1:]])
    dt_s = np.diff(t[idx]) / 1000.0
    counted = ~breaks[idx[1:]]
    moving = counted & (step >= limits.stop_speed_mps * dt_s)
    distance = float(step[moving].sum()) if counting else 0.0
    moving_ms = int(round(dt_s[moving].sum() * 1000)) if counting else 0
    speed = state.speed_mps
    if step.size:
        speed = float(step[-1] / dt_s[-1]) if counted[-1] and dt_s[-1] > 0 else None

    last = int(idx[-1])
    has_anchor = state.last_lat is not None
    in_a_row = lat.size - 1 - last + (carry if last == 0 and has_anchor else 0)
    rejected = int(lat.size - keep.sum())
    return DistanceState(
        distance_m=state.distance_m + distance,
        moving_ms=state.moving_ms + moving_ms,
        last_lat=float(lat[last]),
        last_lon=float(lon[last]),
        last_t_ms=int(t[last]),
        speed_mps=speed,
        rejected_in_a_row=in_a_row,
        rejected_total=state.rejected_total + rejected,
    )


def _judge_fixes(
    lat: FloatArray, lon: FloatArray, t: FloatArray, limits: SportLimits, carry: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which fixes to keep, and which kept fixes start afresh (a re-anchor, step not counted).

    Index 0 is the anchor (already accepted). Each round finds the first step faster than
    the sport allows, rejects the fix it leads to, and recomputes from the last good fix,
    so the outcome equals judging fix by fix. Rounds are needed only per rejected fix,
    which is rare; the steps themselves are computed vectorised.
    """
    keep = np.ones(lat.size, dtype=bool)
    breaks = np.zeros(lat.size, dtype=bool)
    while True:
        idx = np.flatnonzero(keep)
        step = haversine_m(lat[idx[:-1]], lon[idx[:-1]], lat[idx[1:]], lon[idx[1:]])
        dt_s = np.diff(t[idx]) / 1000.0
        jump = (step > limits.max_speed_mps * dt_s) & ~breaks[idx[1:]]
        if not jump.any():
            return keep, breaks
        j = int(np.argmax(jump))
        prev, fix = int(idx[j]), int(idx[j + 1])
        # Everything between prev and fix was rejected already: this is the run's length.
        run = fix - prev + (carry if prev == 0 else 0)
        if run >= REANCHOR_AFTER:
            breaks[fix] = True  # the athlete really is elsewhere: start again from here
        else:
            keep[fix] = False


def result(state: DistanceState) -> float:
    return state.distance_m
