"""Elevation gain and loss: noise adds nothing, real climbs count whole."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from actors.batch import batch_from_samples
from actors.metrics import elevation
from actors.metrics.elevation import Elevation
from streams.events import Sample

pytestmark = pytest.mark.unit

N = None


def altitudes(values: list[float | None] | np.ndarray) -> list[Sample]:
    return [(i * 1000, None, None, None if v is None or np.isnan(v) else float(v), None, None)
            for i, v in enumerate(values)]


def fold(batches: list[list[Sample]]) -> Elevation:
    state = elevation.initial()
    for b in batches:
        state = elevation.update(state, batch_from_samples(b))
    return elevation.result(state)


def in_batches(samples: list[Sample], size: int = 37) -> list[list[Sample]]:
    return [samples[i:i + size] for i in range(0, len(samples), size)]


def climb(rng: np.random.Generator, noise_m: float) -> np.ndarray:
    """Two minutes level at 100 m, a 30-minute climb to 200 m, two minutes level; 1 Hz."""
    profile = np.concatenate((np.full(120, 100.0), np.linspace(100, 200, 1800), np.full(120, 200.0)))
    return profile + rng.uniform(-noise_m, noise_m, profile.size)


@pytest.mark.parametrize("seed", range(5))
def test_a_flat_hour_with_2_m_noise_gains_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    got = fold(in_batches(altitudes(100 + rng.uniform(-2, 2, 3600))))
    assert got.gain_m == pytest.approx(0.0, abs=1.0)
    assert got.loss_m == pytest.approx(0.0, abs=1.0)


@pytest.mark.parametrize("seed", range(5))
def test_a_100_m_climb_with_2_m_noise_gains_100_within_3(seed: int) -> None:
    got = fold(in_batches(altitudes(climb(np.random.default_rng(seed), 2.0))))
    assert got.gain_m == pytest.approx(100.0, abs=3.0)
    assert got.loss_m == pytest.approx(0.0, abs=3.0)


def test_up_and_down_counts_both_ways() -> None:
    series = np.concatenate((np.linspace(50, 80, 300), np.linspace(80, 60, 200), np.linspace(60, 90, 300)))
    got = fold(in_batches(altitudes(series)))
    # the running median trails by half its window (4 readings, 0.4 m here) at each end
    assert got.gain_m == pytest.approx(60.0, abs=1.5)
    assert got.loss_m == pytest.approx(20.0, abs=0.5)
    assert got.alt_m == pytest.approx(90.0, abs=0.5)


def test_a_wild_fix_adds_nothing() -> None:
    series = [100.0] * 50
    series[25] = 160.0
    series[30] = 20.0
    assert fold([altitudes(series)]).gain_m == 0.0


def test_steps_inside_the_dead_band_add_nothing() -> None:
    series = [100.0] * 30 + [102.5] * 30 + [100.0] * 30 + [102.5] * 30
    got = fold([altitudes(series)])
    assert (got.gain_m, got.loss_m) == (0.0, 0.0)


def test_the_live_gain_never_goes_back() -> None:
    rng = np.random.default_rng(3)
    state, seen = elevation.initial(), []
    for b in in_batches(altitudes(climb(rng, 2.0)), size=5):
        state = elevation.update(state, batch_from_samples(b))
        seen.append(elevation.result(state).gain_m)
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))


def test_a_climb_while_paused_is_not_counted() -> None:
    state = elevation.initial()
    series = np.linspace(100, 200, 1000)
    state = elevation.update(state, batch_from_samples(altitudes(series[:500])))
    paused = batch_from_samples(altitudes(series[500:])[:])
    state = elevation.update(state, paused, counting=False)
    got = elevation.result(state)
    assert got.gain_m == pytest.approx(50.0, abs=1.0)
    assert got.alt_m == pytest.approx(200.0, abs=1.0)


NOTHING = Elevation(alt_m=None, gain_m=0.0, loss_m=0.0)


@pytest.mark.parametrize("batches", [
    pytest.param([], id="empty workout"),
    pytest.param([[]], id="empty batch"),
    pytest.param([altitudes([123.0])], id="one sample"),
    pytest.param([altitudes([N] * 100)], id="all sensors null"),
    pytest.param([[(i * 1000, None, None, None, 140.0, None) for i in range(100)]], id="heart rate only"),
    pytest.param([altitudes([99_999.0] * 20)], id="impossible altitudes"),
])
def test_no_elevation(batches: list[list[Sample]]) -> None:
    assert fold(batches) == NOTHING


def test_a_stationary_device() -> None:
    got = fold([altitudes([250.0] * 600)])
    assert got == Elevation(alt_m=250.0, gain_m=0.0, loss_m=0.0)


def test_state_survives_a_msgpack_snapshot() -> None:
    state = elevation.update(elevation.initial(), batch_from_samples(altitudes(np.linspace(0, 50, 40))))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=elevation.ElevationState) == state
