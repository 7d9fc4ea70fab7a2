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
- distance counts a step only while the track is more than NOISE_RADIUS_M (10 m) away from
  where it was WINDOW_S (15 s) before, so a stationary device's wander adds nothing while
  slow real movement (≥ ~0.7 m/s) and devices that log a fix every ~10 m still count;
- moving time (auto-pause) also needs the step's speed at or above the sport's stop speed,
  ~1 km/h by default (REFERENCE: GPS noise).
"""

from __future__ import annotations

import math
from bisect import bisect_left

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray

EARTH_RADIUS_M = 6_371_008.8
REANCHOR_AFTER = 5
WINDOW_S = 15.0
NOISE_RADIUS_M = 10.0


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
    odometer: tuple[float, float] | None = None
    """(lat, lon) up to which distance has been counted: where the track last stood still."""
    travelling: bool = False
    """Whether the last step counted as movement."""
    recent: list[tuple[int, float, float]] = []
    """Accepted fixes (t_ms, lat, lon) of the last WINDOW_S before the last one: the
    stillness test looks back that far, whatever the batch boundaries."""


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
    """Fold a batch of fixes into the state (see `update_with_cumulative`)."""
    return update_with_cumulative(state, batch, limits, counting)[0]


def update_with_cumulative(
    state: DistanceState, batch: Batch, limits: SportLimits, counting: bool = True
) -> tuple[DistanceState, FloatArray]:
    """Fold a batch of fixes into the state.

    The result is the same whether fixes come one at a time or in batches of any size:
    each fix is judged against the last accepted one, as a live device would be.
    `counting=False` (a paused workout) moves the anchor along without adding distance.
    Also returns each sample's cumulative distance in metres (what splits, pace and
    calories need); a sample without an accepted fix has that of the fix before it.
    """
    if batch.size == 1 and state.last_t_ms is not None and state.last_lat is not None \
            and state.last_lon is not None:
        lat1, lon1, t1 = float(batch.lat[0]), float(batch.lon[0]), float(batch.t_ms[0])
        if not (math.isnan(lat1) or math.isnan(lon1)) and t1 > float(state.last_t_ms):
            return _one_fix(state, lat1, lon1, t1, limits, counting)
    ok = ~(np.isnan(batch.lat) | np.isnan(batch.lon))
    lat, lon, t = batch.lat[ok], batch.lon[ok], batch.t_ms[ok].astype(np.float64)
    if state.last_t_ms is not None:
        newer = t > state.last_t_ms
        lat, lon, t = lat[newer], lon[newer], t[newer]
    if lat.size == 0:
        return state, np.full(batch.size, state.distance_m)
    if state.last_lat is None or state.last_lon is None or state.last_t_ms is None:
        carry = 0  # the very first fix only anchors the track
    else:
        carry = state.rejected_in_a_row
        lat = np.concatenate(([state.last_lat], lat))
        lon = np.concatenate(([state.last_lon], lon))
        t = np.concatenate(([float(state.last_t_ms)], t))

    keep, breaks, idx, step, dt_s = _judge_fixes(lat, lon, t, limits, carry)
    kept_lat, kept_lon, kept_breaks = lat[idx], lon[idx], breaks[idx]
    counted = ~kept_breaks[1:]
    hist = np.asarray(state.recent, dtype=np.float64).reshape(-1, 3)
    ht = np.concatenate((hist[:, 0], t[idx]))
    hlat = np.concatenate((hist[:, 1], kept_lat))
    hlon = np.concatenate((hist[:, 2], kept_lon))
    hbreak = np.concatenate((np.zeros(len(hist), dtype=bool), kept_breaks))
    away = _moved_beyond_noise(ht, hlat, hlon, hbreak)[len(hist) + 1 :]
    travelled = counted & away
    odometer = state.odometer if state.odometer is not None else (float(lat[0]), float(lon[0]))
    amount, starting = _odometer_steps(kept_lat, kept_lon, step, travelled, kept_breaks[1:],
                                       odometer, state.travelling)
    moving = travelled & (step >= limits.stop_speed_mps * dt_s)
    # A fresh start is credited the time its distance takes at the step's speed.
    start_s = np.minimum(np.divide(dt_s * amount, step, out=np.zeros_like(step), where=step > 0),
                         WINDOW_S)
    moving_s = np.where(starting, start_s, dt_s)
    running = np.cumsum(amount)
    distance = float(running[-1]) if counting and running.size else 0.0
    # Each step in whole ms (half to even, as round()), so batching cannot change the total.
    moving_ms = int(np.rint(moving_s[moving] * 1000).sum()) if counting else 0
    marks = np.flatnonzero(travelled | kept_breaks[1:])
    if not counting:  # paused: the way covered meanwhile is never credited later
        odometer, travelling = (float(kept_lat[-1]), float(kept_lon[-1])), False
    else:
        if marks.size:
            odometer = (float(kept_lat[marks[-1] + 1]), float(kept_lon[marks[-1] + 1]))
        travelling = bool(travelled[-1]) if travelled.size else state.travelling
    speed = state.speed_mps
    if step.size:
        speed = float(step[-1] / dt_s[-1]) if counted[-1] and dt_s[-1] > 0 else None

    last = int(idx[-1])
    has_anchor = state.last_lat is not None
    in_a_row = lat.size - 1 - last + (carry if last == 0 and has_anchor else 0)
    rejected = int(lat.size - keep.sum())
    per_fix = np.full(lat.size, state.distance_m)
    if counting and idx.size > 1:
        per_fix[idx[1:]] += running
    per_fix = np.maximum.accumulate(np.where(keep, per_fix, -np.inf))
    fix_at = np.searchsorted(t, batch.t_ms.astype(np.float64), side="right") - 1
    cumulative = np.where(fix_at >= 0, per_fix[np.maximum(fix_at, 0)], state.distance_m)
    return DistanceState(
        distance_m=state.distance_m + distance,
        moving_ms=state.moving_ms + moving_ms,
        last_lat=float(lat[last]),
        last_lon=float(lon[last]),
        last_t_ms=int(t[last]),
        speed_mps=speed,
        rejected_in_a_row=in_a_row,
        rejected_total=state.rejected_total + rejected,
        recent=_recent(ht, hlat, hlon, hbreak),
        odometer=odometer,
        travelling=travelling,
    ), cumulative


def _one_fix(state: DistanceState, lat: float, lon: float, t_ms: float, limits: SportLimits,
             counting: bool) -> tuple[DistanceState, FloatArray]:
    """`update_with_cumulative` for one new fix after the anchor (the live case), in scalars:
    the array code's decisions and float operations (t_ms is a float there too), so the
    results are bit-identical; its three distances come from one haversine call."""
    assert state.last_lat is not None and state.last_lon is not None and state.last_t_ms is not None
    last_lat, last_lon, last_t = state.last_lat, state.last_lon, float(state.last_t_ms)
    dist_m = state.distance_m
    odometer = state.odometer if state.odometer is not None else (last_lat, last_lon)
    cutoff = t_ms - WINDOW_S * 1000.0
    # recent is in time order; recent[first:] lies within the window, the first of it is
    # where the stillness test looks back to
    first = bisect_left(state.recent, cutoff, key=lambda fix: fix[0])
    back = state.recent[first][1:] if first < len(state.recent) else (last_lat, last_lon)
    step, back_m, fresh = haversine_m(
        np.array((last_lat, back[0], odometer[0])), np.array((last_lon, back[1], odometer[1])),
        np.full(3, lat), np.full(3, lon)).tolist()
    dt_s = (t_ms - last_t) / 1000.0
    if step > limits.max_speed_mps * dt_s and state.rejected_in_a_row + 1 < REANCHOR_AFTER:
        # a GPS jump: rejected, the anchor stays
        first = bisect_left(state.recent, last_t - WINDOW_S * 1000.0, key=lambda fix: fix[0])
        return msgspec.structs.replace(
            state, distance_m=dist_m + 0.0, last_t_ms=int(last_t),
            rejected_in_a_row=state.rejected_in_a_row + 1, rejected_total=state.rejected_total + 1,
            recent=state.recent[first:], odometer=odometer if counting else (last_lat, last_lon),
            travelling=state.travelling and counting), np.array((dist_m,))
    new = DistanceState(distance_m=dist_m + 0.0, moving_ms=state.moving_ms, last_lat=lat,
                        last_lon=lon, last_t_ms=int(t_ms), rejected_total=state.rejected_total,
                        odometer=(lat, lon), recent=[])
    amount = 0.0
    if step <= limits.max_speed_mps * dt_s:  # else REANCHOR_AFTER jumps in a row: start again here
        if last_t >= cutoff:
            new.recent = [*state.recent, (int(last_t), last_lat, last_lon)][first:]
        new.speed_mps = step / dt_s if dt_s > 0 else None
        if back_m >= NOISE_RADIUS_M:  # travelled; a fresh start counts from the odometer
            starting = not state.travelling
            amount = fresh if starting else step
            if counting and step >= limits.stop_speed_mps * dt_s:
                moving_s = min(dt_s * amount / step if step > 0 else 0.0, WINDOW_S) if starting else dt_s
                new.moving_ms += int(round(moving_s * 1000))  # as np.rint per step
            new.travelling = counting
        elif counting:
            new.odometer = odometer
    if counting:
        new.distance_m = dist_m + amount
    return new, np.array((dist_m + amount if counting else dist_m,))


def _moved_beyond_noise(t: FloatArray, lat: FloatArray, lon: FloatArray,
                        breaks: np.ndarray) -> np.ndarray:
    """For each accepted fix: is it more than NOISE_RADIUS_M from where the track was
    WINDOW_S earlier (or, across a longer gap, from the previous fix)? A device standing
    still wanders a few metres around one point and never gets that far; anyone moving at
    walking pace does. Nothing before a re-anchor is looked at."""
    pos = np.arange(t.size)
    start = np.searchsorted(t, t - WINDOW_S * 1000.0, side="left")
    last_break = np.maximum.accumulate(np.where(breaks, pos, 0))
    start = np.minimum(np.maximum(start, last_break), np.maximum(pos - 1, 0))
    return haversine_m(lat[start], lon[start], lat, lon) >= NOISE_RADIUS_M


def _odometer_steps(lat: FloatArray, lon: FloatArray, step: FloatArray, travelled: np.ndarray,
                    breaks: np.ndarray, odometer: tuple[float, float],
                    was_travelling: bool) -> tuple[FloatArray, np.ndarray]:
    """Metres each step adds. A step in continuous movement adds itself; the first step
    after standing still adds the whole way from where the track stood (so the first
    metres of a start are not lost to the noise radius, and the wander is not counted)."""
    k = np.arange(step.size)
    previous = np.concatenate(([was_travelling], travelled[:-1]))
    starting = travelled & ~previous
    # The fix each step would measure a fresh start from: the last travelled-to or
    # re-anchored fix before it (position j + 1 in the kept fixes), else the odometer.
    mark = np.maximum.accumulate(np.where(travelled | breaks, k, -1))
    before = np.concatenate(([-1], mark[:-1]))
    from_lat = np.where(before >= 0, lat[before + 1], odometer[0])
    from_lon = np.where(before >= 0, lon[before + 1], odometer[1])
    fresh = haversine_m(from_lat, from_lon, lat[1:], lon[1:])
    return np.where(travelled, np.where(starting, fresh, step), 0.0), starting


def _recent(t: FloatArray, lat: FloatArray, lon: FloatArray,
            breaks: np.ndarray) -> list[tuple[int, float, float]]:
    """The accepted fixes the next batch's stillness test may look back to."""
    first = int(np.searchsorted(t, t[-1] - WINDOW_S * 1000.0, side="left"))
    if breaks.any():
        first = max(first, int(np.flatnonzero(breaks)[-1]))
    first = min(first, t.size - 1)
    return [(int(t[i]), float(lat[i]), float(lon[i])) for i in range(first, t.size - 1)]


def _judge_fixes(
    lat: FloatArray, lon: FloatArray, t: FloatArray, limits: SportLimits, carry: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, FloatArray, FloatArray]:
    """Which fixes to keep, and which kept fixes start afresh (a re-anchor, step not counted);
    also the kept fixes' indices and the steps (m) and times (s) between them.

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
        dt_s = (t[idx[1:]] - t[idx[:-1]]) / 1000.0  # np.diff, without its overhead
        jump = (step > limits.max_speed_mps * dt_s) & ~breaks[idx[1:]]
        if not jump.any():
            return keep, breaks, idx, step, dt_s
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
