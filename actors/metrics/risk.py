"""Injury and overload risk flags: the athlete's load history plus live signals.

Flags with reasons, never a diagnosis: the ACWR thresholds and their link to injury are
disputed (Impellizzeri et al. 2020), and the live signals are screening heuristics.

Load: the acute:chronic workload ratio on daily load (TRIMP), by EWMA (Williams et al. 2017):
EWMA_t = λ·load_t + (1 − λ)·EWMA_{t−1}, λ = 2/(N + 1), N = 7 (acute) and 28 (chronic), seeded
with the first day. ≥ 1.5 flags high; above 1.3 or below 0.8 (outside the usual 0.8-1.3
"sweet spot") flags moderate.

Live signals, each raising the level one step (severe SpO2 raises it to high):
- heart rate ≥ 95 % of HRmax held for HR_HIGH_MS (readings missing < 10 s do not break it);
- cardiac drift: mean HR per unit speed in a later 5-minute window against the first
  qualifying one, where a window qualifies after the warm-up (the first window is skipped)
  with ≥ 4 min of moving time with heart rate, and "later" means at a speed within 10 % of
  the baseline's, so the pace is comparable. Drift ≥ 5 % flags it (the 5 % aerobic
  decoupling rule of thumb, Friel 2009);
- SpO2 low for 30 s, from the spo2 metric.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray
from actors.metrics import heart_rate
from actors.metrics.heart_rate import Carry
from actors.metrics.spo2 import EIH_BELOW_PCT, SpO2, SustainedRun, advance_run, advance_run_one
from actors.profile import AthleteProfile

ACUTE_DAYS, CHRONIC_DAYS = 7, 28
MIN_HISTORY_DAYS = 28
"""Below this much history the chronic load is not established and no ratio is given."""
HISTORY_DAYS = 56
"""Days of load history read for the ACWR (live and in the models): enough for the 28-day
chronic EWMA to settle (Williams et al. 2017)."""
HR_HIGH_FRACTION = 0.95
HR_HIGH_MS = 60_000
DRIFT_WINDOW_MS = 300_000
DRIFT_WARMUP_WINDOWS = 1
DRIFT_MIN_MOVING_S = 240.0
DRIFT_SPEED_TOLERANCE = 0.10
DRIFT_FLAG_PCT = 5.0

Level = Literal["low", "moderate", "high"]
_LEVELS: tuple[Level, ...] = ("low", "moderate", "high")


def _ewma(loads: FloatArray, n_days: int) -> float:
    lam = 2.0 / (n_days + 1)
    age = np.arange(loads.size - 1, -1, -1)  # days before the last
    weights = lam * (1.0 - lam) ** age
    weights[0] = (1.0 - lam) ** age[0]  # the seed keeps the weight the rest did not take
    return float(np.dot(weights, loads))


def acwr_ewma(daily_loads: Sequence[float]) -> tuple[float, float, float | None]:
    """(acute, chronic, ratio) EWMA loads over consecutive days; ratio None if chronic is 0."""
    loads = np.asarray(daily_loads, dtype=np.float64)
    if loads.size == 0:
        return 0.0, 0.0, None
    acute, chronic = _ewma(loads, ACUTE_DAYS), _ewma(loads, CHRONIC_DAYS)
    return acute, chronic, acute / chronic if chronic > 0 else None


def acwr_for_today(history: Sequence[tuple[dt.date, float]], today: dt.date,
                   today_load: float) -> float | None:
    """EWMA ACWR with today's load so far (this workout's TRIMP) added to the daily history.

    `history` holds (day, load) pairs before today; days without a workout count as 0 and
    several pairs on one day add up. None until MIN_HISTORY_DAYS of history exist.
    """
    days = [day for day, _ in history if day <= today]
    if not days or (today - min(days)).days < MIN_HISTORY_DAYS:
        return None
    first = min(days)
    loads = np.zeros((today - first).days + 1)
    for day, load in history:
        if day <= today:
            loads[(day - first).days] += load
    loads[-1] += today_load
    return acwr_ewma(loads.tolist())[2]


class DriftWindow(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    """Window number: minutes 5·index to 5·(index + 1) of the workout."""
    hr_bpm: float
    speed_mps: float


class RiskState(msgspec.Struct, kw_only=True):
    carry: Carry = msgspec.field(default_factory=Carry)
    distance_m: float | None = None
    had_fix: bool = False
    hr_high: SustainedRun = msgspec.field(default_factory=SustainedRun)
    t0_ms: int | None = None
    window: int = 0
    window_sums: list[float] = msgspec.field(default_factory=lambda: [0.0] * 4)
    """Open window: Σ hr·dt (bpm·s), Σ dt (s), distance (m), uncapped time (s)."""
    baseline: DriftWindow | None = None
    latest: DriftWindow | None = None


class Risk(msgspec.Struct, frozen=True, kw_only=True):
    level: Level
    reasons: list[str]
    acwr: float | None
    hr_drift_pct: float | None


def initial() -> RiskState:
    return RiskState()


def update(state: RiskState, batch: Batch, profile: AthleteProfile,
           distance_m: FloatArray | None = None,
           timing: heart_rate.Timing | None = None) -> RiskState:
    """Fold a batch in; without `distance_m` (cumulative, per sample) drift is not assessed."""
    if batch.size == 0:
        return state
    timing = timing or heart_rate.intervals(state.carry, batch)
    if batch.size == 1 and state.carry.t_ms is not None and timing[0].dt_s.size == 1 \
            and distance_m is not None:
        return _update_one(state, batch, profile, float(distance_m[0]), timing)
    hr = heart_rate.valid_hr(batch.hr_bpm)
    ok = ~np.isnan(hr)
    high = hr[ok] >= HR_HIGH_FRACTION * profile.hr_max()
    new = msgspec.structs.replace(
        state, hr_high=advance_run(state.hr_high, batch.t_ms[ok], high, HR_HIGH_MS),
        t0_ms=state.t0_ms if state.t0_ms is not None else int(batch.t_ms[0]),
        window_sums=list(state.window_sums))
    iv, new.carry = timing
    if distance_m is None:
        new.distance_m, new.had_fix = None, False
        return new
    fix = ~(np.isnan(batch.lat) | np.isnan(batch.lon))
    dist = np.asarray(distance_m, dtype=np.float64)
    new.distance_m, new.had_fix = float(dist[-1]), bool(fix[-1])
    if state.carry.t_ms is not None and state.distance_m is not None:
        fix = np.concatenate(([state.had_fix], fix))
        dist = np.concatenate(([state.distance_m], dist))
    elif state.carry.t_ms is not None:
        fix, dist = np.concatenate(([False], fix)), np.concatenate(([0.0], dist))
    step = np.diff(dist)
    use = fix[:-1] & fix[1:] & (step > 0) & ~np.isnan(iv.hr_bpm)
    window = (iv.start_ms - int(new.t0_ms or 0)) // DRIFT_WINDOW_MS
    _fold_windows(new, window[use], np.stack((iv.hr_bpm[use] * iv.dt_s[use], iv.dt_s[use],
                                              step[use], iv.raw_s[use])))
    return new


def _update_one(state: RiskState, batch: Batch, profile: AthleteProfile, distance_m: float,
                timing: heart_rate.Timing) -> RiskState:
    """`update` for one sample closing one interval (the live case), in scalars; arrays only
    when a drift window closes. The same float operations as the array code (a one-element
    numpy sum is 0.0 + x, and x ≥ 0 here)."""
    iv, carry = timing
    t_ms, reading_bpm = int(batch.t_ms[0]), float(batch.hr_bpm[0])
    low, high = heart_rate.HR_VALID_BPM
    hr_high = state.hr_high
    if low <= reading_bpm <= high:
        hr_high = advance_run_one(hr_high, t_ms, reading_bpm >= HR_HIGH_FRACTION * profile.hr_max(),
                                  HR_HIGH_MS)
    fix = not (math.isnan(batch.lat[0]) or math.isnan(batch.lon[0]))
    new = msgspec.structs.replace(
        state, carry=carry, hr_high=hr_high, t0_ms=state.t0_ms if state.t0_ms is not None else t_ms,
        window_sums=list(state.window_sums), distance_m=distance_m, had_fix=fix)
    was_fix, was_m = (state.had_fix, state.distance_m) if state.distance_m is not None else (False, 0.0)
    step_m = distance_m - was_m
    hr_bpm, dt_s = float(iv.hr_bpm[0]), float(iv.dt_s[0])
    if not (was_fix and fix and step_m > 0 and not math.isnan(hr_bpm)):
        return new
    window = (int(iv.start_ms[0]) - int(new.t0_ms or 0)) // DRIFT_WINDOW_MS
    sums = (hr_bpm * dt_s, dt_s, step_m, float(iv.raw_s[0]))
    if window == new.window:  # the open window goes on
        new.window_sums = [x + total for x, total in zip(sums, new.window_sums, strict=True)]
    else:
        _fold_windows(new, np.array((window,)), np.array(sums).reshape(4, 1))
    return new


def _fold_windows(state: RiskState, window: np.ndarray, sums: FloatArray) -> None:
    """Add per-interval sums to their windows; judge each window that is now complete."""
    if window.size == 0:
        return
    rel = window - state.window
    size = int(rel.max()) + 1
    totals = np.stack([np.bincount(rel, weights=row, minlength=size) for row in sums]).astype(np.float64)
    totals[:, 0] += np.asarray(state.window_sums)
    for b in range(totals.shape[1] - 1):
        _judge_window(state, state.window + b, totals[:, b])
    state.window += totals.shape[1] - 1
    state.window_sums = [float(x) for x in totals[:, -1]]


def _judge_window(state: RiskState, index: int, sums: FloatArray) -> None:
    hr_sum, hr_s, dist_m, raw_s = (float(x) for x in sums)
    if index < DRIFT_WARMUP_WINDOWS or hr_s < DRIFT_MIN_MOVING_S:
        return
    window = DriftWindow(index=index, hr_bpm=hr_sum / hr_s, speed_mps=dist_m / raw_s)
    if state.baseline is None:
        state.baseline = window
    elif abs(window.speed_mps / state.baseline.speed_mps - 1.0) <= DRIFT_SPEED_TOLERANCE:
        state.latest = window


def drift_pct(state: RiskState) -> float | None:
    """Rise of HR per unit speed from the baseline window to the latest comparable one, %."""
    base, late = state.baseline, state.latest
    if base is None or late is None:
        return None
    return ((late.hr_bpm / late.speed_mps) / (base.hr_bpm / base.speed_mps) - 1.0) * 100.0


def _for(duration_ms: int) -> str:
    seconds = duration_ms / 1000.0
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds // 60:.0f} min"


def result(state: RiskState, *, acwr: float | None = None, spo2: SpO2 | None = None) -> Risk:
    """Combine the load ratio (see `acwr_for_today`), the live signals and the SpO2 metric."""
    level, reasons = 0, []
    if acwr is not None:
        if acwr >= 1.5:
            level = 2
            reasons.append(f"acute:chronic load {acwr:.2f} ≥ 1.5")
        elif acwr > 1.3 or acwr < 0.8:
            level = 1
            side = "above 1.3" if acwr > 1.3 else "below 0.8"
            reasons.append(f"acute:chronic load {acwr:.2f} {side}")
    live: list[str] = []
    if state.hr_high.sustained:
        held = _for(state.hr_high.duration_ms())
        live.append(f"heart rate ≥ {HR_HIGH_FRACTION * 100:.0f} % of max for {held}")
    drift = drift_pct(state)
    if drift is not None and drift >= DRIFT_FLAG_PCT and state.baseline and state.latest:
        live.append(f"heart rate drifted {drift:.0f} % at a steady pace "
                    f"(min {5 * state.baseline.index}-{5 * state.baseline.index + 5} vs "
                    f"{5 * state.latest.index}-{5 * state.latest.index + 5})")
    if spo2 is not None and spo2.low_alert:
        live.append(f"SpO2 below {spo2.low_threshold_pct:g} % for {_for(int(spo2.low_for_s * 1000))}")
    level = min(2, level + len(live))
    if spo2 is not None and spo2.eih == "severe":
        level = 2
        live.append(f"SpO2 below {EIH_BELOW_PCT['severe']:g} % for 30 s or more")
    return Risk(level=_LEVELS[level], reasons=reasons + live, acwr=acwr, hr_drift_pct=drift)
