"""Kilometre splits and pace.

`update` takes the batch and each sample's cumulative distance in metres (non-decreasing,
as the distance metric counts it: `distance.update` releases samples with it).

A split ends where the distance crosses a whole kilometre, the moment found by linear
interpolation between the two samples around the crossing. Split time is elapsed time with
paused stretches (`counting=False`) left out; gaps in the recording count in full, because
the athlete kept moving. Its heart rate is the time-weighted mean over the samples whose
distance lies in that kilometre. Average pace is that same clock over the whole distance;
current pace is taken over the last PACE_WINDOW_MS of samples, and is None when the
athlete is (nearly) standing still.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray
from actors.metrics import heart_rate
from actors.metrics.heart_rate import Carry

SPLIT_M = 1000.0
PACE_WINDOW_MS = 30_000
STOPPED_MPS = 0.28
"""Below ~1 km/h over the pace window there is no meaningful current pace."""


class Split(msgspec.Struct, frozen=True, kw_only=True):
    km: int
    """1 for the first kilometre."""
    time_s: float
    avg_hr_bpm: float | None


class SplitsState(msgspec.Struct, kw_only=True):
    carry: Carry = msgspec.field(default_factory=Carry)
    distance_m: float | None = None
    """Cumulative distance at the carried (newest) sample."""
    clock_s: float = 0.0
    """Elapsed time, pauses left out, up to the newest sample."""
    split_start_s: float = 0.0
    """`clock_s` when the current kilometre began."""
    hr_time_sum: float = 0.0
    """Σ hr·dt within the current kilometre (bpm·s)."""
    hr_time_s: float = 0.0
    splits: list[Split] = msgspec.field(default_factory=list)
    tail_t_ms: list[int] = msgspec.field(default_factory=list)
    """Samples of the last PACE_WINDOW_MS, for the current pace."""
    tail_distance_m: list[float] = msgspec.field(default_factory=list)


class Splits(msgspec.Struct, frozen=True, kw_only=True):
    splits: list[Split]
    pace_s_per_km: float | None
    """Current pace over the last PACE_WINDOW_MS."""
    avg_pace_s_per_km: float | None


def initial() -> SplitsState:
    return SplitsState()


def update(state: SplitsState, batch: Batch, distance_m: FloatArray, counting: bool = True,
           timing: heart_rate.Timing | None = None) -> SplitsState:
    """Fold a batch in; `distance_m[i]` is the cumulative distance at sample i."""
    if batch.size == 0:
        return state
    iv, carry = timing or heart_rate.intervals(state.carry, batch)
    if batch.size == 1 and state.distance_m is not None and iv.dt_s.size == 1 \
            and math.isfinite(distance_m[0]):
        return _update_one(state, int(batch.t_ms[0]), float(distance_m[0]), counting, iv, carry)
    dist = np.maximum.accumulate(np.asarray(distance_m, dtype=np.float64))
    raw_s = iv.raw_s if counting else np.zeros_like(iv.raw_s)
    if state.distance_m is None:  # the first sample: no interval closes on it
        d_pts, clock_pts = dist, state.clock_s + np.concatenate(([0.0], np.cumsum(raw_s)))
    else:
        d_pts = np.concatenate(([state.distance_m], np.maximum(dist, state.distance_m)))
        clock_pts = state.clock_s + np.concatenate(([0.0], np.cumsum(raw_s)))
    new = msgspec.structs.replace(state, carry=carry, distance_m=float(d_pts[-1]),
                                  clock_s=float(clock_pts[-1]), splits=list(state.splits))
    _close_splits(new, d_pts, clock_pts, iv.hr_bpm, iv.dt_s if counting else np.zeros_like(iv.dt_s))
    tail_t = np.concatenate((np.asarray(state.tail_t_ms, dtype=np.int64), batch.t_ms))
    tail_d = np.concatenate((np.asarray(state.tail_distance_m), d_pts[-batch.size:]))
    recent = tail_t >= batch.t_ms[-1] - PACE_WINDOW_MS
    new.tail_t_ms, new.tail_distance_m = tail_t[recent].tolist(), tail_d[recent].tolist()
    return new


def _update_one(state: SplitsState, t_ms: int, distance_m: float, counting: bool,
                iv: heart_rate.Intervals, carry: Carry) -> SplitsState:
    """`update` for one sample closing one interval (the live case), in scalars; arrays only
    when it completes a kilometre. The same float operations as the array code (a one-element
    numpy sum is 0.0 + x, and x ≥ 0 here)."""
    assert state.distance_m is not None
    d_pts = (state.distance_m, max(state.distance_m, distance_m))  # as np.maximum(distance_m, ...)
    raw_s = float(iv.raw_s[0]) if counting else 0.0
    clock_pts = (state.clock_s + 0.0, state.clock_s + raw_s)
    new = msgspec.structs.replace(state, carry=carry, distance_m=d_pts[1], clock_s=clock_pts[1],
                                  splits=list(state.splits))
    km_done = len(state.splits)
    if math.floor(d_pts[0] / SPLIT_M) == math.floor(d_pts[1] / SPLIT_M) == km_done:
        hr_bpm, dt_s = float(iv.hr_bpm[0]), (float(iv.dt_s[0]) if counting else 0.0)
        known = not math.isnan(hr_bpm)
        new.hr_time_sum = (hr_bpm * dt_s if known else 0.0) + state.hr_time_sum
        new.hr_time_s = (dt_s if known else 0.0) + state.hr_time_s
    else:
        _close_splits(new, np.array(d_pts), np.array(clock_pts), iv.hr_bpm,
                      iv.dt_s if counting else np.zeros(1))
    # the pace window: samples of the last PACE_WINDOW_MS (timestamps may be out of order)
    cutoff = t_ms - PACE_WINDOW_MS
    tail = [(t, d) for t, d in zip(state.tail_t_ms, state.tail_distance_m, strict=True) if t >= cutoff]
    tail.append((t_ms, d_pts[1]))
    new.tail_t_ms, new.tail_distance_m = [t for t, _ in tail], [d for _, d in tail]
    return new


def _close_splits(state: SplitsState, d_pts: FloatArray, clock_pts: FloatArray,
                  hr_bpm: FloatArray, dt_s: FloatArray) -> None:
    """Emit the kilometres completed within these points; keep the open one's sums."""
    km_done = len(state.splits)
    # interval i runs from point i to i+1 and belongs to the kilometre its start lies in
    bucket = np.floor(d_pts[:-1] / SPLIT_M).astype(np.int64) - km_done
    known = ~np.isnan(hr_bpm)
    last = int(np.floor(d_pts[-1] / SPLIT_M)) - km_done
    size = max(last, int(bucket.max()) if bucket.size else 0) + 1
    # (astype: bincount of nothing comes back as integers)
    weighted = hr_bpm[known] * dt_s[known]
    hr_sum = np.bincount(bucket[known], weights=weighted, minlength=size).astype(np.float64)
    hr_s = np.bincount(bucket[known], weights=dt_s[known], minlength=size).astype(np.float64)
    hr_sum[0] += state.hr_time_sum
    hr_s[0] += state.hr_time_s
    for b in range(last):
        end_s = _clock_at(d_pts, clock_pts, (km_done + b + 1) * SPLIT_M)
        state.splits.append(Split(km=km_done + b + 1, time_s=end_s - state.split_start_s,
                                  avg_hr_bpm=float(hr_sum[b] / hr_s[b]) if hr_s[b] > 0 else None))
        state.split_start_s = end_s
    state.hr_time_sum, state.hr_time_s = float(hr_sum[last]), float(hr_s[last])


def _clock_at(d_pts: FloatArray, clock_pts: FloatArray, mark_m: float) -> float:
    """The clock when the distance reached `mark_m`, interpolated within its interval."""
    i = int(np.searchsorted(d_pts, mark_m, side="left"))
    if i == 0:
        return float(clock_pts[0])
    d0, d1 = d_pts[i - 1], d_pts[i]
    return float(clock_pts[i - 1] + (mark_m - d0) / (d1 - d0) * (clock_pts[i] - clock_pts[i - 1]))


def result(state: SplitsState) -> Splits:
    pace = None
    if len(state.tail_t_ms) >= 2:
        span_s = (state.tail_t_ms[-1] - state.tail_t_ms[0]) / 1000.0
        moved_m = state.tail_distance_m[-1] - state.tail_distance_m[0]
        if span_s > 0 and moved_m / span_s >= STOPPED_MPS:
            pace = span_s / moved_m * SPLIT_M
    avg = None
    if state.distance_m and state.distance_m > 0 and state.clock_s > 0:
        avg = state.clock_s / state.distance_m * SPLIT_M
    return Splits(splits=list(state.splits), pace_s_per_km=pace, avg_pace_s_per_km=avg)


def under_way(state: SplitsState) -> Split | None:
    """The kilometre in progress, so far (its time and heart rate as a closed split's would
    be); None before the first sample."""
    if state.distance_m is None:
        return None
    return Split(km=len(state.splits) + 1, time_s=state.clock_s - state.split_start_s,
                 avg_hr_bpm=state.hr_time_sum / state.hr_time_s if state.hr_time_s > 0 else None)
