"""Heart rate: current, time-weighted average, maximum and time in five zones.

Time weighting (shared with calories, training load, splits and risk through `intervals`):
a sample lasts until the next sample, at most MAX_INTERVAL_S, so a gap in the recording
does not count as exercise. The newest sample's length is known only when the next one
arrives, so it waits in `Carry`, which is what makes any batch split give the same result.
A heart-rate reading holds for HR_HOLD_MS, so a sample that lacks one (a GPS-only tick)
still carries the last reading; after that the heart rate is unknown (NaN).

Zones: five, bounded at 50/60/70/80/90/100 % of HRmax; when resting HR is known, the same
fractions of heart-rate reserve (Karvonen et al. 1957): THR = (HRmax − HRrest)·p + HRrest.
Below zone 1 counts in no zone; above HRmax counts in zone 5.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import NamedTuple

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray, IntArray
from actors.profile import AthleteProfile

MAX_INTERVAL_S = 10.0
"""Longest time one sample may count for; a longer gap is not exercise."""
HR_HOLD_MS = 10_000
"""How long a heart-rate reading stands for the samples after it."""
HR_VALID_BPM = (20.0, 250.0)
"""Readings outside this range are sensor glitches and treated as missing."""
ZONE_FRACTIONS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Carry(msgspec.Struct, kw_only=True):
    """The newest sample so far (its interval is still open) and the newest heart rate."""

    t_ms: int | None = None
    hr_t_ms: int | None = None
    hr_bpm: float | None = None


class Intervals(NamedTuple):
    """Closed intervals, one per sample whose successor has now arrived."""

    start_ms: IntArray
    raw_s: FloatArray
    """True length, uncapped (for pace and speed)."""
    dt_s: FloatArray
    """Length capped at MAX_INTERVAL_S (for time spent exercising)."""
    hr_bpm: FloatArray
    """Heart rate held at the start; NaN when unknown."""


Timing = tuple[Intervals, Carry]
"""A batch's closed intervals and the carry after it: `intervals(carry, batch)`. Every
HR-weighted aggregator sees the same batches, so the caller may compute it once and pass
it to each (`timing=`) instead of each recomputing it from its own identical carry."""


def valid_hr(hr_bpm: FloatArray) -> FloatArray:
    low, high = HR_VALID_BPM
    return np.where((hr_bpm >= low) & (hr_bpm <= high), hr_bpm, np.nan)


def intervals(carry: Carry, batch: Batch) -> tuple[Intervals, Carry]:
    """Close the carried sample's interval and all but the newest of this batch."""
    if batch.size == 1 and carry.t_ms is not None:
        return _interval_one(carry, int(batch.t_ms[0]), float(batch.hr_bpm[0]))
    t = batch.t_ms.astype(np.int64)
    if t.size == 0:
        empty = np.empty(0)
        return Intervals(np.empty(0, dtype=np.int64), empty, empty, empty), carry
    hr = valid_hr(batch.hr_bpm)
    held = _held_hr(carry, t, hr)
    if carry.t_ms is None:
        starts, ends, start_hr = t[:-1], t[1:], held[:-1]
    else:
        starts = np.concatenate(([carry.t_ms], t[:-1]))
        ends = t
        start_hr = np.concatenate(([_held_at(carry, carry.t_ms)], held[:-1]))
    raw_s = np.maximum(ends - starts, 0) / 1000.0
    seen = np.flatnonzero(~np.isnan(hr))
    new_carry = Carry(t_ms=int(t[-1]), hr_t_ms=carry.hr_t_ms, hr_bpm=carry.hr_bpm)
    if seen.size:
        new_carry.hr_t_ms, new_carry.hr_bpm = int(t[seen[-1]]), float(hr[seen[-1]])
    return Intervals(starts, raw_s, np.minimum(raw_s, MAX_INTERVAL_S), start_hr), new_carry


def _interval_one(carry: Carry, t_ms: int, hr_bpm: float) -> tuple[Intervals, Carry]:
    """`intervals` for one sample after the carried one (the live case), from scalars."""
    assert carry.t_ms is not None
    raw_s = max(t_ms - carry.t_ms, 0) / 1000.0
    low, high = HR_VALID_BPM
    new_carry = Carry(t_ms=t_ms, hr_t_ms=carry.hr_t_ms, hr_bpm=carry.hr_bpm)
    if low <= hr_bpm <= high:
        new_carry.hr_t_ms, new_carry.hr_bpm = t_ms, hr_bpm
    return Intervals(np.array((carry.t_ms,), dtype=np.int64), np.array((raw_s,)),
                     np.array((min(raw_s, MAX_INTERVAL_S),)),
                     np.array((_held_at(carry, carry.t_ms),))), new_carry


def _held_at(carry: Carry, t_ms: int) -> float:
    if carry.hr_t_ms is None or carry.hr_bpm is None or t_ms - carry.hr_t_ms > HR_HOLD_MS:
        return float("nan")
    return carry.hr_bpm


def _held_hr(carry: Carry, t: IntArray, hr: FloatArray) -> FloatArray:
    """Each sample's heart rate: its own reading, else the latest within HR_HOLD_MS."""
    latest = np.maximum.accumulate(np.where(np.isnan(hr), -1, np.arange(hr.size)))
    own = latest >= 0
    src_t = np.where(own, t[latest], carry.hr_t_ms if carry.hr_t_ms is not None else 0)
    src_hr = np.where(own, hr[latest], carry.hr_bpm if carry.hr_bpm is not None else np.nan)
    return np.where(t - src_t <= HR_HOLD_MS, src_hr, np.nan)


def zone_bounds_bpm(profile: AthleteProfile, fractions: tuple[float, ...] = ZONE_FRACTIONS) -> FloatArray:
    """Zone boundaries in bpm: %HRmax, or %HRR (Karvonen) when HRrest is known."""
    p = np.array(fractions)
    hr_max = profile.hr_max()
    if profile.hr_rest_bpm is None:
        return hr_max * p
    return (hr_max - profile.hr_rest_bpm) * p + profile.hr_rest_bpm


def zone_index(hr_bpm: FloatArray, bounds_bpm: FloatArray) -> IntArray:
    """Zone 0..4 for each heart rate; -1 below zone 1 or unknown; above HRmax is zone 4."""
    k = np.searchsorted(bounds_bpm, hr_bpm, side="right") - 1
    k = np.minimum(k, len(bounds_bpm) - 2)
    return np.where(np.isnan(hr_bpm), -1, k).astype(np.int64)


class HeartRateState(msgspec.Struct, kw_only=True):
    carry: Carry = msgspec.field(default_factory=Carry)
    zone_s: list[float] = msgspec.field(default_factory=lambda: [0.0] * 5)
    hr_time_sum: float = 0.0
    """Σ hr·dt over counted intervals with a known heart rate (bpm·s)."""
    hr_time_s: float = 0.0
    max_hr_bpm: float | None = None


class HeartRate(msgspec.Struct, frozen=True, kw_only=True):
    hr_bpm: float | None
    """The latest reading."""
    avg_hr_bpm: float | None
    max_hr_bpm: float | None
    hr_zone_s: list[float]
    """Seconds in zones 1..5."""


def initial() -> HeartRateState:
    return HeartRateState()


def update(state: HeartRateState, batch: Batch, profile: AthleteProfile,
           counting: bool = True, timing: Timing | None = None) -> HeartRateState:
    """Fold a batch in; `counting=False` (paused) moves the carry on without adding time."""
    iv, carry = timing or intervals(state.carry, batch)
    if batch.size == 1 and iv.dt_s.size == 1:
        return _update_one(state, float(batch.hr_bpm[0]), float(iv.hr_bpm[0]), float(iv.dt_s[0]),
                           carry, profile, counting)
    new = msgspec.structs.replace(state, carry=carry, zone_s=list(state.zone_s))
    hr = valid_hr(batch.hr_bpm)
    seen = hr[~np.isnan(hr)]
    if seen.size:
        top = float(seen.max())
        new.max_hr_bpm = top if state.max_hr_bpm is None else max(state.max_hr_bpm, top)
    if not counting:
        return new
    known = ~np.isnan(iv.hr_bpm)
    new.hr_time_sum += float(np.sum(iv.hr_bpm[known] * iv.dt_s[known]))
    new.hr_time_s += float(np.sum(iv.dt_s[known]))
    zone = zone_index(iv.hr_bpm, np.array(_zone_bounds(profile)))
    inside = zone >= 0
    added = np.bincount(zone[inside], weights=iv.dt_s[inside], minlength=5)
    new.zone_s = [a + float(b) for a, b in zip(new.zone_s, added, strict=True)]
    return new


def _update_one(state: HeartRateState, reading_bpm: float, hr_bpm: float, dt_s: float, carry: Carry,
                profile: AthleteProfile, counting: bool) -> HeartRateState:
    """`update` for one sample closing one interval (the live case), in scalars: the same
    float operations as the array code (a one-element numpy sum is 0.0 + x, and x ≥ 0 here)."""
    new = msgspec.structs.replace(state, carry=carry, zone_s=list(state.zone_s))
    low, high = HR_VALID_BPM
    if low <= reading_bpm <= high:
        new.max_hr_bpm = reading_bpm if state.max_hr_bpm is None else max(state.max_hr_bpm, reading_bpm)
    if not counting:
        return new
    known = not math.isnan(hr_bpm)
    new.hr_time_sum += hr_bpm * dt_s if known else 0.0
    new.hr_time_s += dt_s if known else 0.0
    zone = zone_of(hr_bpm, _zone_bounds(profile))
    new.zone_s = [s + (dt_s if k == zone else 0.0) for k, s in enumerate(new.zone_s)]
    return new


@functools.lru_cache(maxsize=256)
def current_zone(hr_bpm: float | None, profile: AthleteProfile) -> int | None:
    """The zone (1..5) a heart rate is in now; None below zone 1 or without a reading."""
    if hr_bpm is None:
        return None
    zone = zone_of(hr_bpm, _zone_bounds(profile))
    return None if zone < 0 else zone + 1


def _zone_bounds(profile: AthleteProfile) -> tuple[float, ...]:
    """`zone_bounds_bpm` as a tuple, once per profile (the profile is frozen)."""
    return tuple(zone_bounds_bpm(profile).tolist())


def zone_of(hr_bpm: float, bounds_bpm: Sequence[float]) -> int:
    """`zone_index` for one heart rate."""
    if math.isnan(hr_bpm):
        return -1
    return min(bisect_right(bounds_bpm, hr_bpm) - 1, len(bounds_bpm) - 2)


def result(state: HeartRateState) -> HeartRate:
    if state.hr_time_s > 0:
        avg: float | None = state.hr_time_sum / state.hr_time_s
    else:
        avg = state.carry.hr_bpm  # one reading so far: it is the average
    return HeartRate(hr_bpm=state.carry.hr_bpm, avg_hr_bpm=avg, max_hr_bpm=state.max_hr_bpm,
                     hr_zone_s=list(state.zone_s))
