"""Calories: Keytel et al. 2005 and 2011 Compendium MET vectors, and which method applies."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np
import pytest
from odometer import Odometer

from actors.batch import batch_from_samples
from actors.metrics import calories
from actors.metrics.calories import Calories
from actors.profile import AthleteProfile
from streams.events import Sample, Sport

pytestmark = pytest.mark.unit

N = None
MPH = 0.44704
MALE_75 = AthleteProfile(sex="male", weight_kg=75, age_y=30)
FEMALE_60 = AthleteProfile(sex="female", weight_kg=60, age_y=30)


def hr_samples(hrs: list[float | None], t0_ms: int = 0) -> list[Sample]:
    return [(t0_ms + i * 1000, None, None, None, hr, None) for i, hr in enumerate(hrs)]


def fold(batches: list[list[Sample]], profile: AthleteProfile, sport: Sport = "run",
         with_distance: bool = True) -> Calories:
    state, odometer = calories.initial(), Odometer()
    for b in batches:
        batch = batch_from_samples(b)
        dist = odometer(batch)
        state = calories.update(state, batch, profile, sport, dist if with_distance else None)
    return calories.result(state)


# -- Keytel et al. 2005 ---------------------------------------------------------------------


def test_keytel_male_vector() -> None:
    kcal_min = float(calories.keytel_kcal_per_min(np.array([135.0]), "male", 75, 30)[0])
    assert kcal_min * 4.184 == pytest.approx(51.0356, abs=1e-4)
    assert kcal_min == pytest.approx(12.1978, abs=1e-4)


def test_keytel_female_vector() -> None:
    kcal_min = float(calories.keytel_kcal_per_min(np.array([140.0]), "female", 60, 30)[0])
    assert kcal_min == pytest.approx(8.8068, abs=1e-4)


def test_male_45_minutes_at_135_is_548_90_kcal() -> None:
    got = fold([hr_samples([135] * (45 * 60 + 1))], MALE_75)
    assert got.calories_kcal == pytest.approx(548.90, abs=0.005)
    assert got.method == "keytel"


def test_female_one_minute_at_140() -> None:
    got = fold([hr_samples([140] * 61)], FEMALE_60)
    assert got.calories_kcal == pytest.approx(8.8068, abs=1e-4)


@pytest.mark.parametrize(("sex", "expected_kj"), [
    ("male", -59.3954 - 36.3781 + 0.271 * 30 + 0.394 * 75 + 0.404 * 50 + 0.634 * 135),
    ("female", -59.3954 + 0.274 * 30 + 0.103 * 75 + 0.380 * 50 + 0.450 * 135),
])
def test_keytel_vo2max_variant(sex: Any, expected_kj: float) -> None:
    profile = AthleteProfile(sex=sex, weight_kg=75, age_y=30, vo2max=50)
    got = fold([hr_samples([135] * 61)], profile)
    assert got.calories_kcal == pytest.approx(expected_kj / 4.184, abs=1e-6)
    assert got.method == "keytel_vo2max"


def test_keytel_is_clamped_at_zero() -> None:
    assert float(calories.keytel_kcal_per_min(np.array([90.0]), "female", 200, 18)[0]) == 0.0


# -- METs (Compendium 2011) -------------------------------------------------------------------------


@pytest.mark.parametrize(("sport", "mph", "met"), [
    ("walk", 3.5, 4.3), ("run", 6.0, 9.8), ("run", 7.0, 11.0), ("ride", 12.0, 8.0), ("ride", 13.9, 8.0),
    ("walk", 1.0, 2.0), ("run", 2.0, 2.8), ("run", 10.0, 14.5), ("ride", 25.0, 15.8),
    ("swim", 1.5, 5.8), ("hike", 2.5, 6.0), ("row", 5.0, 7.0), ("ski", 9.0, 7.0), ("other", 3.0, 5.0),
    ("run", math.nan, 7.0), ("walk", math.nan, 3.5), ("ride", math.nan, 7.5),
])
def test_met_by_sport_and_speed(sport: Sport, mph: float, met: float) -> None:
    assert float(calories.met_for(sport, np.array([mph * MPH]))[0]) == met


def test_70_kg_30_minutes_running_6_mph_is_343_kcal(tracks: Any) -> None:
    track = tracks.straight(30 * 60 + 1, 6 * MPH)
    got = fold([track[i:i + 50] for i in range(0, len(track), 50)], AthleteProfile(weight_kg=70))
    # 9.8 MET × 70 kg × 0.5 h; the first ~3 s count as standing until the track is 10 m out.
    assert got.calories_kcal == pytest.approx(343.0, abs=0.5)
    assert got.method == "met"


def test_no_profile_uses_met_with_the_default_weight(tracks: Any) -> None:
    track = tracks.straight(30 * 60 + 1, 6 * MPH, hr_bpm=150)
    assert fold([track], AthleteProfile()).calories_kcal == pytest.approx(343.0, abs=0.5)


def test_heart_rate_below_90_uses_met(tracks: Any) -> None:
    track = tracks.straight(30 * 60 + 1, 6 * MPH, hr_bpm=85)
    got = fold([track], AthleteProfile(sex="male", weight_kg=70, age_y=30))
    # 9.8 MET × 70 kg × 0.5 h; the first ~3 s count as standing until the track is 10 m out.
    assert got.calories_kcal == pytest.approx(343.0, abs=0.5)
    assert got.method == "met"


def test_without_gps_the_sport_s_typical_met_applies() -> None:
    got = fold([hr_samples([N] * 3601)], AthleteProfile(weight_kg=80), sport="walk", with_distance=False)
    assert got.calories_kcal == pytest.approx(3.5 * 80 * 1.0)


def test_standing_still_with_gps_burns_nothing_by_met() -> None:
    still = [(i * 1000, 45.0, 7.0, 200.0, N, N) for i in range(600)]
    assert fold([still], AthleteProfile()).calories_kcal == 0.0


def test_losing_heart_rate_halfway_is_mixed() -> None:
    samples = hr_samples([135] * 600 + [N] * 601)
    got = fold([samples], MALE_75)
    keytel = 12.1978 * 10 + 10 / 60 * 12.1978  # 10 min plus the 10 s the last reading holds
    met = 7.0 * 75 * (600 - 10) / 3600
    assert got.calories_kcal == pytest.approx(keytel + met, abs=0.01)
    assert got.method == "mixed"


@pytest.mark.parametrize("batches", [
    pytest.param([], id="empty workout"),
    pytest.param([[]], id="empty batch"),
    pytest.param([hr_samples([150])], id="one sample"),
])
def test_nothing_to_count(batches: list[list[Sample]]) -> None:
    assert fold(batches, MALE_75) == Calories(calories_kcal=0.0, method="met")


def test_all_sensors_null_count_the_sport_s_typical_met() -> None:
    got = fold([hr_samples([N] * 61)], AthleteProfile())
    assert got.calories_kcal == pytest.approx(7.0 * 70 / 60)


def test_state_survives_a_msgpack_snapshot() -> None:
    state = calories.update(calories.initial(), batch_from_samples(hr_samples([135, 136])), MALE_75, "run")
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=calories.CaloriesState)
    assert decoded == state
