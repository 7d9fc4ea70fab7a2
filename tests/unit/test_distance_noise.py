"""Distance under GPS noise: spikes, a standing device, relocation, pause, missing and late fixes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actors.batch import batch_from_samples
from actors.metrics import distance
from actors.metrics.distance import REANCHOR_AFTER, SPORT_LIMITS

pytestmark = pytest.mark.unit

RUN = SPORT_LIMITS["run"]


def fold(batches, limits=RUN, counting=True) -> distance.DistanceState:
    state = distance.initial()
    for b in batches:
        state = distance.update(state, batch_from_samples(b), limits, counting=counting)
    return state


def feed(samples, mode: str, rng: np.random.Generator, split) -> distance.DistanceState:
    if mode == "one batch":
        return fold([samples])
    if mode == "one fix per batch":
        return fold([[s] for s in samples])
    return fold(split(samples, rng))


MODES = ["one batch", "one fix per batch", "random batches"]


# -- spikes ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("at", [1, 150, 298, 299])
def test_a_single_spike_adds_no_distance(tracks, split, mode: str, at: int) -> None:
    rng = np.random.default_rng(at)
    samples, length = tracks.wander(rng, 300, stops=False)
    samples[at] = tracks.moved(samples[at], 90.0, 500.0)
    state = feed(samples, mode, rng, split)
    assert state.distance_m == pytest.approx(length, rel=0.01)
    assert state.rejected_total >= 1


def test_a_spiky_track_gives_the_same_result_in_one_batch_or_live(tracks) -> None:
    rng = np.random.default_rng(7)
    samples, _ = tracks.wander(rng, 1800)
    for k in (100, 500, 900, 1300):
        samples[k] = tracks.moved(samples[k], 90.0, 500.0)
    whole, live = fold([samples]), fold([[s] for s in samples])
    assert live.distance_m == pytest.approx(whole.distance_m, rel=1e-6)
    assert live.moving_ms == whole.moving_ms


# -- a device standing still ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_standing_device_adds_no_distance_or_moving_time(tracks, split, mode: str) -> None:
    rng = np.random.default_rng(3)
    centre = (52.52, 13.405)
    samples = []
    for i in range(600):  # 10 min at 1 Hz, each fix within 9 cm of the centre
        lat, lon = tracks.destination(*centre, rng.uniform(0, 360), 0.09 * math.sqrt(rng.random()))
        samples.append((i * 1000, lat, lon, None, None, None))
    state = feed(samples, mode, rng, split)
    assert state.distance_m < 0.5
    assert state.moving_ms < 1000


# -- relocation: the athlete really is elsewhere ------------------------------------------


def relocation_track(tracks):
    """20 fixes going north, then 40 fixes 5 km east, still going north at 3 m/s."""
    before = tracks.straight(20, 3.0)
    far = tracks.destination(before[-1][1], before[-1][2], 90.0, 5000.0)
    after = tracks.straight(40, 3.0, start=far, t0_ms=20_000)
    return before, after


@pytest.mark.parametrize("batch_size", [
    1,
    3,
    10,
    60,
])
def test_relocation_reanchors_without_counting_the_jump(tracks, batch_size: int) -> None:
    before, after = relocation_track(tracks)
    samples = before + after
    state = fold([samples[i : i + batch_size] for i in range(0, len(samples), batch_size)])
    true_paths = 19 * 3.0 + 39 * 3.0
    assert state.distance_m < true_paths + 0.01  # the 5 km jump is not counted
    # Only the steps made while deciding the new place is real (about REANCHOR_AFTER fixes,
    # rounded up to a whole batch) are lost.
    assert state.distance_m > true_paths - (REANCHOR_AFTER + batch_size) * 3.0 - 0.01
    assert (state.last_lat, state.last_lon) == pytest.approx(after[-1][1:3])
    # ... and the track keeps growing along the new path.
    more = tracks.straight(11, 3.0, start=after[-1][1:3], t0_ms=after[-1][0])[1:]
    assert fold_on(state, more).distance_m == pytest.approx(state.distance_m + 30.0, rel=1e-6)


def fold_on(state: distance.DistanceState, samples) -> distance.DistanceState:
    return distance.update(state, batch_from_samples(samples), RUN)


@pytest.mark.parametrize("mode", [
    "one fix per batch",
    "one batch",
])
def test_a_bad_first_fix_adds_no_distance(tracks, split, mode: str) -> None:
    samples = tracks.straight(301, 3.0)
    samples[0] = tracks.moved(samples[0], 90.0, 500.0)
    state = feed(samples, mode, np.random.default_rng(0), split)
    assert state.distance_m <= 900.0 + 0.01
    assert state.distance_m >= 900.0 - (REANCHOR_AFTER + 1) * 3.0


# -- pause: counting=False -------------------------------------------------------------------


def test_not_counting_adds_nothing_but_moves_the_anchor(tracks) -> None:
    samples = tracks.straight(31, 3.0)
    active = fold([samples[:11]])
    paused = distance.update(active, batch_from_samples(samples[11:21]), RUN, counting=False)
    assert (paused.distance_m, paused.moving_ms) == (active.distance_m, active.moving_ms)
    assert (paused.last_lat, paused.last_lon, paused.last_t_ms) == (*samples[20][1:3], 20_000)
    resumed = fold_on(paused, samples[21:])
    assert resumed.distance_m == pytest.approx(60.0, rel=1e-6)  # 10 s before, 10 s after
    assert resumed.moving_ms == 20_000


# -- missing and late fixes --------------------------------------------------------------------


def without_position(sample, which: str):
    t, lat, lon, alt, hr, spo2 = sample
    if which in ("lat", "both"):
        lat = None
    if which in ("lon", "both"):
        lon = None
    return (t, lat, lon, alt, 150.0, spo2)


@pytest.mark.parametrize("which", ["lat", "lon", "both"])
def test_fixes_without_a_position_are_skipped(tracks, which: str) -> None:
    samples = tracks.straight(50, 3.0)
    holes = {0, 7, 8, 30, 49}
    with_holes = [without_position(s, which) if i in holes else s for i, s in enumerate(samples)]
    clean = [s for i, s in enumerate(samples) if i not in holes]
    for batches in ([with_holes], [with_holes[:8], with_holes[8:]]):
        state = fold(batches)
        assert state.distance_m == pytest.approx(fold([clean]).distance_m, rel=1e-9)
        assert state.moving_ms == fold([clean]).moving_ms
        assert state.last_t_ms == 48_000


@pytest.mark.parametrize("where", ["next batch", "same batch", "same time as anchor"])
def test_late_fixes_are_ignored(tracks, where: str) -> None:
    samples = tracks.straight(40, 3.0)
    expected = fold([samples])
    stale = tracks.moved(samples[10], 90.0, 200.0)
    if where == "next batch":
        batches = [samples[:20], [stale, *samples[20:]]]
    elif where == "same batch":
        batches = [samples[:25] + [stale] + samples[25:]]
    else:
        stale = tracks.moved(samples[19], 90.0, 30.0)
        batches = [samples[:20], [stale, *samples[20:]]]
    state = fold(batches)
    assert state.distance_m == pytest.approx(expected.distance_m, rel=1e-9)
    assert state.moving_ms == expected.moving_ms
