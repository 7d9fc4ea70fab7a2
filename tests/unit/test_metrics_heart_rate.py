"""Heart rate: Tanaka and Karvonen vectors, zones, time weighting, the athlete profile."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from actors.batch import batch_from_samples
from actors.metrics import heart_rate
from actors.metrics.heart_rate import HeartRate
from actors.profile import DEFAULT_AGE_Y, DEFAULT_WEIGHT_KG, AthleteProfile
from streams.events import Sample

pytestmark = pytest.mark.unit

N = None
MAX_180 = AthleteProfile(hr_max_bpm=180)


def hr_samples(hrs: list[float | None], dt_ms: int = 1000, t0_ms: int = 0) -> list[Sample]:
    return [(t0_ms + i * dt_ms, None, None, None, hr, None) for i, hr in enumerate(hrs)]


def fold(batches: list[list[Sample]], profile: AthleteProfile = MAX_180) -> HeartRate:
    state = heart_rate.initial()
    for b in batches:
        state = heart_rate.update(state, batch_from_samples(b), profile)
    return heart_rate.result(state)


# -- REFERENCE.md vectors ---------------------------------------------------------------


@pytest.mark.parametrize(("age_y", "hr_max_bpm"), [(30, 187), (40, 180), (50, 173)])
def test_tanaka_hr_max(age_y: float, hr_max_bpm: float) -> None:
    assert AthleteProfile(age_y=age_y).hr_max() == pytest.approx(hr_max_bpm)


def test_given_hr_max_wins_over_tanaka() -> None:
    assert AthleteProfile(age_y=30, hr_max_bpm=200).hr_max() == 200


def test_karvonen_75_percent_of_reserve_is_150() -> None:
    profile = AthleteProfile(hr_max_bpm=180, hr_rest_bpm=60)
    assert heart_rate.zone_bounds_bpm(profile, (0.75,)).tolist() == pytest.approx([150.0])


@pytest.mark.parametrize(("profile", "bounds"), [
    pytest.param(MAX_180, [90, 108, 126, 144, 162, 180], id="%HRmax"),
    pytest.param(AthleteProfile(hr_max_bpm=180, hr_rest_bpm=60), [120, 132, 144, 156, 168, 180],
                 id="Karvonen"),
    pytest.param(AthleteProfile(), [91.75, 110.1, 128.45, 146.8, 165.15, 183.5], id="defaults"),
])
def test_zone_bounds(profile: AthleteProfile, bounds: list[float]) -> None:
    assert heart_rate.zone_bounds_bpm(profile).tolist() == pytest.approx(bounds)


# -- zones and time weighting ---------------------------------------------------------------


@pytest.mark.parametrize(("hr", "zone"), [
    (80, None), (89.9, None), (90, 0), (107, 0), (108, 1), (130, 2), (150, 3), (170, 4), (180, 4), (200, 4),
])
def test_time_lands_in_its_zone(hr: float, zone: int | None) -> None:
    got = fold([hr_samples([hr] * 61)])
    expected = [0.0] * 5
    if zone is not None:
        expected[zone] = 60.0
    assert got.hr_zone_s == expected


def test_each_sample_lasts_until_the_next_and_the_last_is_still_open() -> None:
    # 100 bpm for 2 s, 150 for 4 s, then 170 whose duration is not known yet
    got = fold([[(0, N, N, N, 100, N), (2000, N, N, N, 150, N), (6000, N, N, N, 170, N)]])
    assert got.hr_zone_s == [2.0, 0.0, 0.0, 4.0, 0.0]
    assert got.avg_hr_bpm == pytest.approx((100 * 2 + 150 * 4) / 6)
    assert got.hr_bpm == 170
    assert got.max_hr_bpm == 170


def test_a_gap_counts_at_most_ten_seconds() -> None:
    got = fold([[(0, N, N, N, 120, N), (60_000, N, N, N, 120, N)]])
    assert sum(got.hr_zone_s) == pytest.approx(heart_rate.MAX_INTERVAL_S)


def test_a_reading_holds_over_samples_without_one_for_ten_seconds() -> None:
    samples = [(i * 1000, 45.0, 7.0, None, 130.0 if i == 0 else None, None) for i in range(30)]
    got = fold([samples])
    assert got.hr_zone_s[2] == pytest.approx(11.0)  # the reading's own second plus 10 held
    assert got.avg_hr_bpm == 130


def test_glitch_readings_are_ignored() -> None:
    got = fold([hr_samples([120, 0, 400, 120, 120])])
    assert got.max_hr_bpm == 120
    assert got.avg_hr_bpm == 120


def test_a_paused_stretch_adds_no_zone_time() -> None:
    state = heart_rate.initial()
    state = heart_rate.update(state, batch_from_samples(hr_samples([150] * 11)), MAX_180)
    paused = batch_from_samples(hr_samples([150] * 10, t0_ms=11_000))
    state = heart_rate.update(state, paused, MAX_180, counting=False)
    assert heart_rate.result(state).hr_zone_s[3] == pytest.approx(10.0)


# -- edge cases -----------------------------------------------------------------------------------

NOTHING = HeartRate(hr_bpm=None, avg_hr_bpm=None, max_hr_bpm=None, hr_zone_s=[0.0] * 5)


@pytest.mark.parametrize(("batches", "expected"), [
    pytest.param([], NOTHING, id="empty workout"),
    pytest.param([[]], NOTHING, id="empty batch"),
    pytest.param([hr_samples([N, N, N])], NOTHING, id="all sensors null"),
    pytest.param([[(0, 45.0, 7.0, 300.0, N, 97.0)] * 1], NOTHING, id="no heart-rate sensor"),
    pytest.param([hr_samples([140])],
                 HeartRate(hr_bpm=140, avg_hr_bpm=140, max_hr_bpm=140, hr_zone_s=[0.0] * 5), id="one sample"),
    pytest.param([hr_samples([140, 160])],
                 HeartRate(hr_bpm=160, avg_hr_bpm=140, max_hr_bpm=160, hr_zone_s=[0, 0, 1.0, 0, 0]),
                 id="heart rate only, two samples"),
])
def test_edge_cases(batches: list[list[Sample]], expected: HeartRate) -> None:
    assert fold(batches) == expected


def test_state_survives_a_msgpack_snapshot() -> None:
    state = heart_rate.update(heart_rate.initial(), batch_from_samples(hr_samples([120, 130])), MAX_180)
    data = msgspec.msgpack.encode(state)
    assert msgspec.msgpack.decode(data, type=heart_rate.HeartRateState) == state


def test_batches_give_the_same_result_as_one() -> None:
    rng = np.random.default_rng(7)
    hrs = [float(x) if rng.random() > 0.1 else None for x in rng.uniform(60, 200, 500)]
    samples = hr_samples(hrs, dt_ms=1500)
    whole = fold([samples])
    cuts = sorted(set(rng.integers(0, 500, 40).tolist()))
    parts = [samples[a:b] for a, b in zip([0, *cuts], [*cuts, 500], strict=True)]
    split = fold(parts)
    assert split.hr_zone_s == pytest.approx(whole.hr_zone_s, rel=1e-9)
    assert split.avg_hr_bpm == pytest.approx(whole.avg_hr_bpm, rel=1e-9)
    assert (split.hr_bpm, split.max_hr_bpm) == (whole.hr_bpm, whole.max_hr_bpm)


# -- the athlete profile ----------------------------------------------------------------------------


def test_defaults_are_documented_values_and_named() -> None:
    profile = AthleteProfile()
    assert (DEFAULT_AGE_Y, DEFAULT_WEIGHT_KG) == (35, 70)
    assert profile.age() == 35 and profile.weight() == 70
    used = profile.defaults_used()
    assert "age 35 y (default)" in used
    assert "weight 70 kg (default)" in used
    assert any("183.5 bpm" in u for u in used)


def test_a_full_profile_assumes_nothing() -> None:
    profile = AthleteProfile(age_y=30, sex="female", weight_kg=60, hr_rest_bpm=50, hr_max_bpm=190, vo2max=48)
    assert profile.defaults_used() == []


@pytest.mark.parametrize("fields", [
    {"weight_kg": 0}, {"age_y": -1}, {"hr_rest_bpm": 190, "hr_max_bpm": 180}, {"hr_rest_bpm": 200},
])
def test_impossible_profiles_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AthleteProfile(**fields)  # type: ignore[arg-type]


def test_profile_decodes_from_msgpack() -> None:
    profile = AthleteProfile(age_y=40, sex="male")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(profile), type=AthleteProfile) == profile
