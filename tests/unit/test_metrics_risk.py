"""Risk: ACWR vectors (EWMA and rolling), the live signals, and how they combine into flags."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import numpy as np
import pytest
from odometer import Odometer

from actors.batch import batch_from_samples
from actors.metrics import risk, spo2
from actors.metrics.risk import Risk
from actors.profile import AthleteProfile
from streams.events import Sample

pytestmark = pytest.mark.unit

N = None
MAX_190 = AthleteProfile(hr_max_bpm=190)
TODAY = dt.date(2026, 3, 1)


# -- ACWR ---------------------------------------------------------------------------------------


def test_ewma_vector() -> None:
    acute, chronic, ratio = risk.acwr_ewma([100.0] * 28 + [200.0] * 7)
    assert acute == pytest.approx(186.6516, abs=5e-5)
    assert chronic == pytest.approx(139.3598, abs=5e-5)
    assert ratio == pytest.approx(1.3394, abs=5e-5)


@pytest.mark.parametrize(("loads", "expected"), [
    pytest.param([], (0.0, 0.0, None), id="no days"),
    pytest.param([80.0], (80.0, 80.0, 1.0), id="seeded with the first day"),
    pytest.param([0.0, 0.0], (0.0, 0.0, None), id="no load at all"),
    pytest.param([100.0, 0.0], (75.0, 100.0 * 27 / 29, 75.0 / (100.0 * 27 / 29)), id="a rest day"),
])
def test_ewma_small_cases(loads: list[float], expected: tuple[float, float, float | None]) -> None:
    assert risk.acwr_ewma(loads) == pytest.approx(expected)


def days_before(n: int, load: float) -> list[tuple[dt.date, float]]:
    return [(TODAY - dt.timedelta(days=k), load) for k in range(n, 0, -1)]


def test_acwr_for_today_adds_this_workout_to_the_history() -> None:
    got = risk.acwr_for_today(days_before(28, 100.0), TODAY, 200.0)
    assert got == risk.acwr_ewma([100.0] * 28 + [200.0])[2]


def test_missing_days_are_rest_and_one_day_may_hold_several_workouts() -> None:
    history = [(TODAY - dt.timedelta(days=30), 100.0), (TODAY - dt.timedelta(days=2), 60.0),
               (TODAY - dt.timedelta(days=2), 40.0), (TODAY + dt.timedelta(days=1), 999.0)]
    expected = risk.acwr_ewma([100.0] + [0.0] * 27 + [100.0, 0.0, 50.0])[2]
    assert risk.acwr_for_today(history, TODAY, 50.0) == pytest.approx(expected)


@pytest.mark.parametrize("history", [[], days_before(27, 100.0)])
def test_no_ratio_without_four_weeks_of_history(history: list[tuple[dt.date, float]]) -> None:
    assert risk.acwr_for_today(history, TODAY, 100.0) is None


# -- combining flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(("acwr", "level", "reasons"), [
    (None, "low", []),
    (1.0, "low", []),
    (1.3, "low", []),
    (0.8, "low", []),
    (1.62, "high", ["acute:chronic load 1.62 ≥ 1.5"]),
    (1.5, "high", ["acute:chronic load 1.50 ≥ 1.5"]),
    (1.42, "moderate", ["acute:chronic load 1.42 above 1.3"]),
    (0.65, "moderate", ["acute:chronic load 0.65 below 0.8"]),
])
def test_acwr_flags(acwr: float | None, level: str, reasons: list[str]) -> None:
    assert risk.result(risk.initial(), acwr=acwr) == Risk(level=level, reasons=reasons,  # type: ignore[arg-type]
                                                          acwr=acwr, hr_drift_pct=None)


def hr_run(hrs: list[float | None], t0_ms: int = 0) -> list[Sample]:
    return [(t0_ms + i * 1000, None, None, None, hr, None) for i, hr in enumerate(hrs)]


def fold(batches: list[list[Sample]], profile: AthleteProfile = MAX_190,
         with_distance: bool = True) -> risk.RiskState:
    state, odometer = risk.initial(), Odometer()
    for b in batches:
        batch = batch_from_samples(b)
        dist = odometer(batch)
        state = risk.update(state, batch, profile, dist if with_distance else None)
    return state


@pytest.mark.parametrize(("seconds", "reason"), [
    (50, None), (61, "heart rate ≥ 95 % of max for 60 s"), (100, "heart rate ≥ 95 % of max for 99 s"),
    (131, "heart rate ≥ 95 % of max for 2 min"),
])
def test_sustained_near_max_heart_rate(seconds: int, reason: str | None) -> None:
    got = risk.result(fold([hr_run([150] * 10 + [185] * seconds)]))
    assert got.reasons == ([reason] if reason else [])
    assert got.level == ("moderate" if reason else "low")


def test_near_max_heart_rate_flag_clears_when_it_drops() -> None:
    assert risk.result(fold([hr_run([185] * 100 + [170] * 5)])).reasons == []


def test_a_live_signal_raises_the_load_level() -> None:
    state = fold([hr_run([185] * 70)])
    assert risk.result(state, acwr=1.42).level == "high"
    assert risk.result(state, acwr=1.0).level == "moderate"


def low_spo2(values: list[float]) -> spo2.SpO2:
    samples = [(i * 1000, None, None, None, None, v) for i, v in enumerate(values)]
    return spo2.result(spo2.update(spo2.initial(), batch_from_samples(samples)))


def test_low_spo2_raises_the_level() -> None:
    got = risk.result(risk.initial(), spo2=low_spo2([89.0] * 46))
    assert got == Risk(level="moderate", reasons=["SpO2 below 90 % for 45 s"], acwr=None, hr_drift_pct=None)


def test_severe_spo2_is_high() -> None:
    got = risk.result(risk.initial(), spo2=low_spo2([85.0] * 40))
    assert got.level == "high"
    assert got.reasons == ["SpO2 below 90 % for 39 s", "SpO2 below 88 % for 30 s or more"]


# -- cardiac drift --------------------------------------------------------------------------------


def steady_run(tracks: Any, hr: np.ndarray, speed_mps: np.ndarray | float = 3.0) -> list[Sample]:
    speeds = np.broadcast_to(np.asarray(speed_mps, dtype=np.float64), hr.shape)
    samples, lat, lon = [], 45.0, 7.0
    for i in range(hr.size):
        samples.append((i * 1000, lat, lon, None, float(hr[i]), None))
        lat, lon = tracks.destination(lat, lon, 0.0, float(speeds[i]))
    return samples


def test_heart_rate_rising_at_a_steady_pace_is_drift(tracks: Any, split: Any) -> None:
    hr = np.concatenate((np.full(600, 150.0), np.linspace(150, 165, 1801)))  # 40 min
    samples = steady_run(tracks, hr)
    state = fold(split(samples, np.random.default_rng(1)))
    got = risk.result(state)
    # the last complete window is minutes 30-35, mean HR 161.25 (minutes 35-40 are still open)
    assert got.hr_drift_pct == pytest.approx((161.25 / 150 - 1) * 100, abs=0.05)
    assert got.reasons == ["heart rate drifted 7 % at a steady pace (min 5-10 vs 30-35)"]
    assert got.level == "moderate"


def test_steady_heart_rate_at_a_steady_pace_is_no_drift(tracks: Any) -> None:
    got = risk.result(fold([steady_run(tracks, np.full(2401, 150.0))]))
    assert got.hr_drift_pct == pytest.approx(0.0, abs=1e-6)
    assert got.reasons == []


def test_faster_running_is_not_compared(tracks: Any) -> None:
    hr = np.concatenate((np.full(1200, 150.0), np.full(1201, 170.0)))
    speed = np.concatenate((np.full(1200, 3.0), np.full(1201, 3.6)))
    got = risk.result(fold([steady_run(tracks, hr, speed)]))
    assert got.hr_drift_pct == pytest.approx(0.0, abs=1e-6)  # only minutes 5-20 compare


def test_no_drift_without_distance(tracks: Any) -> None:
    hr = np.concatenate((np.full(600, 150.0), np.linspace(150, 165, 1801)))
    assert risk.result(fold([steady_run(tracks, hr)], with_distance=False)).hr_drift_pct is None


# -- edge cases ----------------------------------------------------------------------------------------

LOW = Risk(level="low", reasons=[], acwr=None, hr_drift_pct=None)


@pytest.mark.parametrize("batches", [
    pytest.param([], id="empty workout"),
    pytest.param([[]], id="empty batch"),
    pytest.param([hr_run([185])], id="one sample"),
    pytest.param([hr_run([N] * 100)], id="all sensors null"),
    pytest.param([hr_run([150] * 600)], id="heart rate only"),
    pytest.param([[(i * 1000, 45.0, 7.0, 100.0, 150.0, 98.0) for i in range(900)]], id="stationary device"),
])
def test_nothing_to_flag(batches: list[list[Sample]]) -> None:
    assert risk.result(fold(batches)) == LOW


def test_state_survives_a_msgpack_snapshot(tracks: Any) -> None:
    state = fold([steady_run(tracks, np.full(700, 150.0))])
    assert state.baseline is not None
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=risk.RiskState) == state
