"""Property: every metric gives the same result whatever batches the samples come in.

A workout is generated from a seed (sensor dropouts, gaps of up to 30 s, GPS jumps, hills,
SpO2 dips), cut at hypothesis-chosen points, and folded whole and in pieces. Integers and
flags must match exactly, floating-point sums to 1e-9 relative. Timestamps are multiples of
250 ms, so durations add up exactly in binary and a threshold on time cannot flip on
rounding. Duplicates and out-of-order samples are the caller's concern and not generated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from odometer import Odometer

from actors.batch import Batch, FloatArray
from actors.metrics import (
    calories,
    distance,
    elevation,
    heart_rate,
    risk,
    splits,
    spo2,
    training_load,
)
from actors.metrics.distance import SPORT_LIMITS
from actors.profile import AthleteProfile
from streams.events import Sample

pytestmark = pytest.mark.unit

PROFILES = [
    AthleteProfile(),
    AthleteProfile(sex="female", weight_kg=58, age_y=41, hr_rest_bpm=52),
    AthleteProfile(sex="male", weight_kg=80, age_y=29, hr_max_bpm=195, vo2max=55),
]
M_PER_DEG = 111_195.0


def workout(seed: int, n: int, steady: bool = False) -> Batch:
    """A generated workout; `steady` is a 1 Hz run at an even pace with heart rate climbing."""
    rng = np.random.default_rng(seed)
    gaps = [1000] * 20 + [250, 2000, 12_000]
    if not steady:
        gaps = [250, 1000, 1000, 1000, 1000, 2000, 5000, 12_000, 30_000]
    t = np.cumsum(rng.choice(gaps, n)).astype(np.int64)

    def dropout(values: FloatArray) -> FloatArray:
        gone = rng.random(n) < rng.choice([0.0, 0.02] if steady else [0.0, 0.1, 0.5, 1.0])
        return np.where(gone, np.nan, values)

    climb = np.linspace(0, rng.uniform(0, 60), n) if steady else 0.0
    hr = np.clip(140 + climb + np.cumsum(rng.normal(0, 2, n)) + rng.normal(0, 3, n), 40, 230)
    sat = np.clip(96 + np.cumsum(rng.normal(0, 0.4, n)), 75, 100)
    alt = 200 + np.cumsum(rng.normal(0, 0.5, n)) + rng.uniform(-2, 2, n)
    speed = rng.uniform(2.9, 3.1, n) if steady else rng.choice([0.0, 1.5, 3.0, 3.0, 4.5], n)
    north = np.cumsum(speed * np.diff(t, prepend=0) / 1000.0)
    north = north + np.where(rng.random(n) < 0.02, 500.0, 0.0)  # GPS jumps
    lat, lon = 45.0 + north / M_PER_DEG, 7.0 + rng.normal(0, 1.5, n) / M_PER_DEG
    none = np.full(n, np.nan)
    return Batch(t, dropout(lat), dropout(lon), dropout(alt), dropout(hr), dropout(sat),
                 none, none, none)


def rows(batch: Batch) -> list[Sample]:
    """The device samples a batch's columns came from."""
    return [(int(batch.t_ms[i]), *(None if math.isnan(float(c[i])) else float(c[i])
                                   for c in batch[1:6])) for i in range(batch.size)]


def released_distance(batch: Batch, pieces: list[slice]) -> tuple[distance.DistanceState, FloatArray]:
    """The distance metric over the pieces and the finish: its state and every sample's
    released cumulative distance, in order."""
    state, out = distance.initial(), []
    for s in pieces:
        piece = part(batch, s)
        state, released = distance.update(state, piece, rows(piece), SPORT_LIMITS["run"])
        out.append(released.cumulative_m)
    state, released = distance.flush(state, SPORT_LIMITS["run"])
    return state, np.concatenate([np.empty(0), *out, released.cumulative_m])


def cut(batch: Batch, fractions: Sequence[float]) -> list[slice]:
    points = sorted({int(f * batch.size) for f in fractions} | {0, batch.size})
    return [slice(a, b) for a, b in zip(points, points[1:], strict=False)]


def part(batch: Batch, s: slice) -> Batch:
    return Batch(*(column[s] for column in batch))


def assert_same(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), path
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{k}]")
    else:
        assert a == b, path


Folder = Callable[[Any, Batch, FloatArray, AthleteProfile], Any]

AGGREGATORS: dict[str, tuple[Callable[[], Any], Folder, Callable[[Any], Any]]] = {
    "heart_rate": (heart_rate.initial, lambda s, b, d, p: heart_rate.update(s, b, p), heart_rate.result),
    "training_load": (training_load.initial, lambda s, b, d, p: training_load.update(s, b, p),
                      training_load.result),
    "calories": (calories.initial, lambda s, b, d, p: calories.update(s, b, p, "run", d), calories.result),
    "spo2": (spo2.initial, lambda s, b, d, p: spo2.update(s, b), spo2.result),
    "elevation": (elevation.initial, lambda s, b, d, p: elevation.update(s, b), elevation.result),
    "splits": (splits.initial, lambda s, b, d, p: splits.update(s, b, d), splits.result),
    "risk": (risk.initial, lambda s, b, d, p: risk.update(s, b, p, d), risk.result),
}


def fold(name: str, batch: Batch, dist: FloatArray, profile: AthleteProfile, pieces: list[slice]) -> Any:
    initial, update, result = AGGREGATORS[name]
    state = initial()
    for s in pieces:
        state = update(state, part(batch, s), dist[s], profile)
        # the state is snapshotted between batches: it must survive msgpack exactly
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=type(state))
    # not only the result: the whole state (what is snapshotted) must not depend on the split
    return msgspec.to_builtins({"result": result(state), "state": state})


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300),
       fractions=st.lists(st.floats(0, 1), max_size=12), profile=st.sampled_from(PROFILES))
def test_any_batch_split_gives_the_same_result(name: str, seed: int, n: int, fractions: list[float],
                                               profile: AthleteProfile) -> None:
    batch = workout(seed, n)
    dist = Odometer()(batch)
    whole = fold(name, batch, dist, profile, [slice(0, n)])
    assert_same(fold(name, batch, dist, profile, cut(batch, fractions)), whole)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fractions=st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_long_workouts_split_anywhere_agree(seed: int, fractions: list[float]) -> None:
    """Forty minutes, long enough for drift windows, several kilometres and EIH episodes."""
    batch = workout(seed, 2400, steady=True)
    dist = Odometer()(batch)
    for name in AGGREGATORS:
        whole = fold(name, batch, dist, PROFILES[1], [slice(0, batch.size)])
        assert_same(fold(name, batch, dist, PROFILES[1], cut(batch, fractions)), whole, name)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300),
       fractions=st.lists(st.floats(0, 1), max_size=12))
def test_the_distance_metric_releases_the_same_whatever_the_batches(
        seed: int, n: int, fractions: list[float]) -> None:
    batch = workout(seed, n)
    whole_state, whole = released_distance(batch, [slice(0, n)])
    state, pieces = released_distance(batch, cut(batch, fractions))
    assert pieces.size == n and np.all(np.diff(pieces) >= 0)
    np.testing.assert_allclose(pieces, whole, rtol=1e-9, atol=1e-9)
    assert_same(msgspec.to_builtins(state), msgspec.to_builtins(whole_state), "distance")
    if n:
        assert pieces[-1] == pytest.approx(state.distance_m)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), steady=st.booleans(),
       profile=st.sampled_from(PROFILES))
def test_one_sample_at_a_time_agrees_with_the_whole(seed: int, n: int, steady: bool,
                                                    profile: AthleteProfile) -> None:
    """The live case (a sample a second) takes each aggregator's scalar path: it must fold
    to the same state as the array path over the whole workout."""
    batch = workout(seed, n, steady=steady)
    singles = [slice(k, k + 1) for k in range(n)]
    whole_state, whole = released_distance(batch, [slice(0, n)])
    state, one_by_one = released_distance(batch, singles)
    assert_same(msgspec.to_builtins(state), msgspec.to_builtins(whole_state), "distance")
    np.testing.assert_allclose(one_by_one, whole, rtol=1e-9, atol=1e-9)
    dist = Odometer()(batch)
    for name in AGGREGATORS:
        assert_same(fold(name, batch, dist, profile, singles),
                    fold(name, batch, dist, profile, [slice(0, n)]), name)
