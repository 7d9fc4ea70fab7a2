"""Energy expenditure in kcal: from heart rate where it is meaningful, from METs otherwise.

Each sample, weighted by its duration (heart_rate.intervals), gets one method:

- Keytel et al. 2005 when the athlete's sex, weight and age are all known (not defaulted)
  and the heart rate (held up to HR_HOLD_MS) is at least KEYTEL_MIN_HR_BPM: the equations
  were fitted on steady exercise at 57-90 % HRmax and overstate energy near rest. With a
  known VO2max, the VO2max variant of the same paper. kJ/min ÷ 4.184 → kcal/min, ≥ 0.
- Otherwise METs, kcal = MET × kg × h (weight defaulted to 70 kg if unknown), with MET values
  from the 2011 Compendium of Physical Activities (Ainsworth et al. 2011; the 2024 edition
  differs). Walking, running and cycling are banded by speed; a listed speed ("running,
  6 mph") covers the band halfway to its neighbours, listed ranges ("12-13.9 mph") are used
  as they are. Speed comes from the cumulative distance between two consecutive fixes; a
  stretch below the sport's stop speed is standing still and adds nothing (as moving time
  does), and one without GPS on both ends uses the sport's typical MET.

The result names the method: 'keytel', 'keytel_vo2max', 'met', or 'mixed' when more than
one contributed (e.g. heart rate lost for part of the workout).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Literal

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray
from actors.metrics import heart_rate
from actors.metrics.distance import SPORT_LIMITS
from actors.metrics.heart_rate import Carry
from actors.profile import AthleteProfile, Sex
from streams.events import Sport

KEYTEL_MIN_HR_BPM = 90.0
KJ_PER_KCAL = 4.184
MPS_PER_MPH = 0.44704

Method = Literal["keytel", "keytel_vo2max", "met", "mixed"]

_WALK_BANDS = ((0.0, 2.0), (2.0, 2.8), (2.25, 3.0), (2.75, 3.5), (3.25, 4.3), (3.75, 5.0),
               (4.25, 7.0), (4.75, 8.3))
MET_BANDS: dict[Sport, tuple[tuple[float, float], ...]] = {
    # (from mph, MET). Walking: < 2.0 mph 2.0; 2.0 mph 2.8; 2.5 mph 3.0; 2.8-3.2 mph 3.5;
    # 3.5 mph 4.3; 4.0 mph 5.0; 4.5 mph 7.0; 5.0 mph 8.3.
    "walk": _WALK_BANDS,
    # Running, 4 → 14 mph; below 3.75 mph a runner is walking.
    "run": (*_WALK_BANDS[:5], (3.75, 6.0), (4.5, 8.3), (5.1, 9.0), (5.6, 9.8), (6.35, 10.5),
            (6.85, 11.0), (7.25, 11.5), (7.75, 11.8), (8.3, 12.3), (8.8, 12.8), (9.5, 14.5),
            (10.5, 16.0), (11.5, 19.0), (12.5, 19.8), (13.5, 23.0)),
    # Bicycling: < 10 mph 4.0; 10-11.9 6.8; 12-13.9 8.0; 14-15.9 10.0; 16-19 12.0; > 20 15.8.
    "ride": ((0.0, 4.0), (10.0, 6.8), (12.0, 8.0), (14.0, 10.0), (16.0, 12.0), (20.0, 15.8)),
}
MET_TYPICAL: dict[Sport, float] = {
    "run": 7.0,    # jogging, general
    "walk": 3.5,   # walking 2.8-3.2 mph, moderate pace
    "ride": 7.5,   # bicycling, general
    "swim": 5.8,   # swimming laps, freestyle, light or moderate effort
    "row": 7.0,    # rowing, moderate effort (100 W on an ergometer)
    "hike": 6.0,   # hiking, cross country
    "ski": 7.0,    # skiing, general
    "other": 5.0,  # not a Compendium entry: Stride's middle value for an unknown activity
}
"""MET when the speed is unknown, and always for the sports without speed bands."""
_MET_TABLES = {sport: (tuple(b[0] for b in bands), tuple(b[1] for b in bands))
               for sport, bands in MET_BANDS.items()}
"""MET_BANDS as (lower edges in mph, METs) for each sport."""


def met_for(sport: Sport, speed_mps: FloatArray) -> FloatArray:
    """MET for each speed (NaN: unknown speed → the sport's typical MET)."""
    speed = np.asarray(speed_mps, dtype=np.float64)
    table = _MET_TABLES.get(sport)
    if table is None:
        return np.full(speed.shape, MET_TYPICAL[sport])
    edges, values = (np.array(column) for column in table)
    unknown = np.isnan(speed)
    # (NaN → 0 is only to index with; ±inf land in the end bands either way)
    k = np.maximum(np.searchsorted(edges, np.where(unknown, 0.0, speed) / MPS_PER_MPH, side="right") - 1, 0)
    return np.where(unknown, MET_TYPICAL[sport], values[k])


def keytel_kcal_per_min(hr_bpm: FloatArray | float, sex: Sex, weight_kg: float, age_y: float,
                        vo2max: float | None = None) -> FloatArray:
    """Keytel et al. 2005 energy expenditure in kcal/min for each heart rate."""
    hr = np.asarray(hr_bpm, dtype=np.float64)
    if vo2max is None:
        if sex == "male":
            kj = -55.0969 + 0.6309 * hr + 0.1988 * weight_kg + 0.2017 * age_y
        else:
            kj = -20.4022 + 0.4472 * hr - 0.1263 * weight_kg + 0.0740 * age_y
    elif sex == "male":
        kj = -59.3954 + (-36.3781 + 0.271 * age_y + 0.394 * weight_kg + 0.404 * vo2max + 0.634 * hr)
    else:
        kj = -59.3954 + (0.274 * age_y + 0.103 * weight_kg + 0.380 * vo2max + 0.450 * hr)
    return np.asarray(np.maximum(kj / KJ_PER_KCAL, 0.0))


class CaloriesState(msgspec.Struct, kw_only=True):
    carry: Carry = msgspec.field(default_factory=Carry)
    distance_m: float | None = None
    """Cumulative distance at the carried sample."""
    had_fix: bool = False
    """The carried sample had a GPS fix."""
    calories_kcal: float = 0.0
    keytel_s: float = 0.0
    keytel_vo2max_s: float = 0.0
    met_s: float = 0.0


class Calories(msgspec.Struct, frozen=True, kw_only=True):
    calories_kcal: float
    method: Method


def initial() -> CaloriesState:
    return CaloriesState()


def update(state: CaloriesState, batch: Batch, profile: AthleteProfile, sport: Sport,
           distance_m: FloatArray | None = None, counting: bool = True,
           timing: heart_rate.Timing | None = None) -> CaloriesState:
    """Fold a batch in. `distance_m[i]` is the cumulative distance at sample i (as
    distance.update releases it); without it every stretch uses the sport's typical MET."""
    if batch.size == 0:
        return state
    iv, carry = timing or heart_rate.intervals(state.carry, batch)
    if batch.size == 1 and state.carry.t_ms is not None and iv.dt_s.size == 1 and distance_m is not None:
        return _update_one(state, batch, profile, sport, float(distance_m[0]), counting, iv, carry)
    fix = ~(np.isnan(batch.lat) | np.isnan(batch.lon))
    dist = np.full(batch.size, np.nan) if distance_m is None else np.asarray(distance_m, dtype=np.float64)
    last_m = None if np.isnan(dist[-1]) else float(dist[-1])
    new = msgspec.structs.replace(state, carry=carry, distance_m=last_m, had_fix=bool(fix[-1]))
    if state.carry.t_ms is not None:
        fix = np.concatenate(([state.had_fix], fix))
        dist = np.concatenate(([np.nan if state.distance_m is None else state.distance_m], dist))
    if not counting:
        return new
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.where(fix[:-1] & fix[1:] & (iv.raw_s > 0), np.diff(dist) / iv.raw_s, np.nan)
    met = np.where(speed < SPORT_LIMITS[sport].stop_speed_mps, 0.0, met_for(sport, speed))
    met_kcal = met * profile.weight() * iv.dt_s / 3600.0
    keytel = _keytel_mask(profile, iv.hr_bpm)
    keytel_kcal = np.zeros_like(met_kcal)
    if keytel.any():
        assert profile.sex is not None and profile.weight_kg is not None and profile.age_y is not None
        keytel_kcal[keytel] = keytel_kcal_per_min(iv.hr_bpm[keytel], profile.sex, profile.weight_kg,
                                                  profile.age_y, profile.vo2max) * iv.dt_s[keytel] / 60.0
    by_met = ~keytel & (met_kcal > 0)
    new.calories_kcal += float(keytel_kcal.sum() + met_kcal[by_met].sum())
    keytel_s = float(iv.dt_s[keytel].sum())
    if profile.vo2max is None:
        new.keytel_s += keytel_s
    else:
        new.keytel_vo2max_s += keytel_s
    new.met_s += float(iv.dt_s[by_met].sum())
    return new


def _update_one(state: CaloriesState, batch: Batch, profile: AthleteProfile, sport: Sport,
                distance_m: float, counting: bool, iv: heart_rate.Intervals, carry: Carry) -> CaloriesState:
    """`update` for one sample closing one interval (the live case), in scalars: the same
    float operations as the array code (a one-element numpy sum is 0.0 + x, and x ≥ 0 here)."""
    fix = not (math.isnan(batch.lat[0]) or math.isnan(batch.lon[0]))
    new = msgspec.structs.replace(state, carry=carry, had_fix=fix,
                                  distance_m=None if math.isnan(distance_m) else distance_m)
    if not counting:
        return new
    raw_s, dt_s, hr_bpm = float(iv.raw_s[0]), float(iv.dt_s[0]), float(iv.hr_bpm[0])
    speed = math.nan
    if state.had_fix and fix and raw_s > 0:
        speed = (distance_m - (math.nan if state.distance_m is None else state.distance_m)) / raw_s
    met = 0.0 if speed < SPORT_LIMITS[sport].stop_speed_mps else _met_one(sport, speed)
    met_kcal = met * profile.weight() * dt_s / 3600.0
    keytel = profile.sex is not None and profile.weight_kg is not None and profile.age_y is not None \
        and hr_bpm >= KEYTEL_MIN_HR_BPM  # as _keytel_mask
    keytel_kcal = 0.0
    if keytel:
        assert profile.sex is not None and profile.weight_kg is not None and profile.age_y is not None
        keytel_kcal = float(keytel_kcal_per_min(hr_bpm, profile.sex, profile.weight_kg, profile.age_y,
                                                profile.vo2max)) * dt_s / 60.0
    by_met = not keytel and met_kcal > 0
    new.calories_kcal += keytel_kcal + (met_kcal if by_met else 0.0)
    if profile.vo2max is None:
        new.keytel_s += dt_s if keytel else 0.0
    else:
        new.keytel_vo2max_s += dt_s if keytel else 0.0
    new.met_s += dt_s if by_met else 0.0
    return new


def _met_one(sport: Sport, speed_mps: float) -> float:
    """`met_for` for one speed."""
    table = _MET_TABLES.get(sport)
    if table is None or math.isnan(speed_mps):
        return MET_TYPICAL[sport]
    edges, values = table
    return values[max(bisect_right(edges, speed_mps / MPS_PER_MPH) - 1, 0)]


def _keytel_mask(profile: AthleteProfile, hr_bpm: FloatArray) -> np.ndarray:
    if profile.sex is None or profile.weight_kg is None or profile.age_y is None:
        return np.zeros(hr_bpm.shape, dtype=bool)
    return hr_bpm >= KEYTEL_MIN_HR_BPM  # False for NaN


def result(state: CaloriesState) -> Calories:
    seconds: tuple[tuple[Method, float], ...] = (
        ("keytel", state.keytel_s), ("keytel_vo2max", state.keytel_vo2max_s), ("met", state.met_s))
    used = [m for m, s in seconds if s > 0]
    method: Method = used[0] if len(used) == 1 else "mixed" if used else "met"
    return Calories(calories_kcal=state.calories_kcal, method=method)
