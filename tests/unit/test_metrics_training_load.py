"""Training load: Banister and Edwards TRIMP vectors, summed per sample."""

from __future__ import annotations

import msgspec
import pytest

from actors.batch import batch_from_samples
from actors.metrics import training_load
from actors.metrics.training_load import TrainingLoad
from actors.profile import AthleteProfile, Sex
from streams.events import Sample

pytestmark = pytest.mark.unit

N = None


def hr_samples(hrs: list[float | None], dt_ms: int = 1000, t0_ms: int = 0) -> list[Sample]:
    return [(t0_ms + i * dt_ms, None, None, None, hr, None) for i, hr in enumerate(hrs)]


def steady(minutes: float, hr: float, t0_ms: int = 0) -> list[Sample]:
    """`minutes` of closed 1-second samples at `hr` (one more sample closes the last)."""
    return hr_samples([hr] * int(minutes * 60), t0_ms=t0_ms)


def fold(batches: list[list[Sample]], profile: AthleteProfile) -> TrainingLoad:
    state = training_load.initial()
    for b in batches:
        state = training_load.update(state, batch_from_samples(b), profile)
    return training_load.result(state)


# -- REFERENCE.md vectors ---------------------------------------------------------------


@pytest.mark.parametrize(("sex", "trimp"), [("male", 117.94), ("female", 131.69)])
def test_banister_an_hour_at_155(sex: Sex, trimp: float) -> None:
    once = float(training_load.banister_trimp(60.0, 155.0, 55.0, 190.0, sex))
    assert once == pytest.approx(trimp, abs=0.005)
    profile = AthleteProfile(sex=sex, hr_rest_bpm=55, hr_max_bpm=190)
    got = fold([hr_samples([155] * 3601)], profile)
    assert got.trimp_banister == pytest.approx(trimp, abs=0.005)


def test_banister_summed_per_sample_in_any_batches() -> None:
    profile = AthleteProfile(sex="male", hr_rest_bpm=55, hr_max_bpm=190)
    samples = hr_samples([155] * 3601)
    got = fold([samples[i:i + 97] for i in range(0, 3601, 97)], profile)
    assert got.trimp_banister == pytest.approx(117.94, abs=0.005)


def test_edwards_160_from_heart_rates() -> None:
    # HRmax 200: 110 bpm is zone 1 (55 %), 130 zone 2, 150 zone 3, 170 zone 4, 190 zone 5
    samples: list[Sample] = []
    for minutes, hr in [(10, 110), (20, 130), (15, 150), (10, 170), (5, 190)]:
        samples += steady(minutes, hr, t0_ms=len(samples) * 1000)
    samples.append((len(samples) * 1000, N, N, N, 100, N))
    got = fold([samples], AthleteProfile(hr_max_bpm=200, hr_rest_bpm=50))  # Edwards ignores HRrest
    assert got.trimp_edwards == pytest.approx(160.0)


# -- clipping and defaults ----------------------------------------------------------------------


@pytest.mark.parametrize(("hr", "reserve"), [(40, 0.0), (55, 0.0), (190, 1.0), (230, 1.0)])
def test_reserve_is_clipped_to_0_1(hr: float, reserve: float) -> None:
    expected = 60.0 * reserve * 0.64 * 2.718281828459045 ** (1.92 * reserve)
    assert float(training_load.banister_trimp(60.0, hr, 55.0, 190.0, "male")) == pytest.approx(expected)


def test_unknown_rest_and_sex_use_the_documented_defaults() -> None:
    unknown = fold([hr_samples([150] * 601)], AthleteProfile(hr_max_bpm=190))
    explicit = fold([hr_samples([150] * 601)], AthleteProfile(hr_max_bpm=190, hr_rest_bpm=60, sex="male"))
    assert unknown == explicit


def test_a_paused_stretch_adds_no_load() -> None:
    profile = AthleteProfile(hr_max_bpm=190)
    state = training_load.update(training_load.initial(), batch_from_samples(steady(1, 150)), profile)
    paused = batch_from_samples(steady(5, 150, t0_ms=60_000))
    state = training_load.update(state, paused, profile, counting=False)
    # the last active sample's second ends in the paused batch, so it is not counted either
    active = float(training_load.banister_trimp(59 / 60, 150, 60, 190, "male"))
    assert training_load.result(state).trimp_banister == pytest.approx(active)


ZERO = TrainingLoad(trimp_banister=0.0, trimp_edwards=0.0)


@pytest.mark.parametrize("batches", [
    pytest.param([], id="empty workout"),
    pytest.param([[]], id="empty batch"),
    pytest.param([hr_samples([150])], id="one sample"),
    pytest.param([hr_samples([N] * 100)], id="all sensors null"),
    pytest.param([[(i * 1000, 45.0, 7.0, 100.0, N, 98.0) for i in range(100)]], id="no heart-rate sensor"),
])
def test_nothing_measurable_is_zero(batches: list[list[Sample]]) -> None:
    assert fold(batches, AthleteProfile()) == ZERO


def test_state_survives_a_msgpack_snapshot() -> None:
    batch = batch_from_samples(steady(1, 150))
    state = training_load.update(training_load.initial(), batch, AthleteProfile())
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=training_load.TrainingLoadState)
    assert decoded == state
