"""Kilometre splits and pace, and the per-sample cumulative distance they are built on."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from odometer import Odometer

from actors.batch import batch_from_samples
from actors.metrics import splits
from actors.metrics.distance import SPORT_LIMITS
from actors.metrics.splits import Split, Splits
from streams.events import Sample

pytestmark = pytest.mark.unit

N = None
RUN = SPORT_LIMITS["run"]


def fold(batches: list[list[Sample]], paused: set[int] | None = None) -> Splits:
    """Feed batches through distance → cumulative distance → splits, as the workout would."""
    state, odometer = splits.initial(), Odometer()
    for k, b in enumerate(batches):
        counting = k not in (paused or set())
        batch = batch_from_samples(b)
        state = splits.update(state, batch, odometer(batch, counting), counting)
    return splits.result(state)


def in_batches(samples: list[Sample], size: int = 50) -> list[list[Sample]]:
    return [samples[i:i + size] for i in range(0, len(samples), size)]


def with_hr(samples: list[Sample], hr: list[float]) -> list[Sample]:
    return [(t, la, lo, a, h, s) for (t, la, lo, a, _, s), h in zip(samples, hr, strict=True)]


# -- per-sample cumulative distance -----------------------------------------------------------------


# -- splits ---------------------------------------------------------------------------------------


def test_steady_4_m_s_gives_250_s_kilometres(tracks: Any) -> None:
    samples = tracks.straight(2601, 4.0, hr_bpm=150)
    got = fold(in_batches(samples))
    assert [s.km for s in got.splits] == list(range(1, 11))
    assert [s.time_s for s in got.splits] == pytest.approx([250.0] * 10, abs=1e-3)
    assert all(s.avg_hr_bpm == pytest.approx(150) for s in got.splits)
    assert got.pace_s_per_km == pytest.approx(250.0, abs=0.01)
    assert got.avg_pace_s_per_km == pytest.approx(250.0, abs=0.01)


def test_the_crossing_is_interpolated(tracks: Any) -> None:
    got = fold([tracks.straight(400, 3.0)])
    assert got.splits[0].time_s == pytest.approx(1000 / 3, abs=1e-3)


def test_each_split_has_its_own_heart_rate(tracks: Any) -> None:
    samples = tracks.straight(601, 4.0)
    samples = with_hr(samples, [140.0 if i < 250 else 160.0 for i in range(601)])
    got = fold(in_batches(samples, 7))
    assert [s.avg_hr_bpm for s in got.splits] == pytest.approx([140.0, 160.0])


def test_a_gps_gap_counts_in_full(tracks: Any) -> None:
    samples = tracks.straight(300, 4.0)
    del samples[100:160]  # a minute without fixes; the athlete kept running
    assert fold([samples]).splits[0].time_s == pytest.approx(250.0, abs=1e-3)


def test_a_pause_stops_the_clock(tracks: Any) -> None:
    samples = tracks.straight(400, 4.0)
    # 100 s standing still while paused, then the run goes on from the same place
    still = [(t, samples[99][1], samples[99][2], N, N, N) for t in range(100_000, 200_000, 1000)]
    after = [(t + 100_000, la, lo, a, h, s) for t, la, lo, a, h, s in samples[100:]]
    got = fold([samples[:100], still, after], paused={1})
    assert got.splits[0].time_s == pytest.approx(250.0, abs=1.01)


def test_standing_still_has_no_current_pace(tracks: Any) -> None:
    samples = tracks.straight(300, 4.0)
    last = samples[-1]
    samples += [(last[0] + i * 1000, last[1], last[2], N, N, N) for i in range(1, 40)]
    got = fold([samples])
    assert got.pace_s_per_km is None
    assert got.avg_pace_s_per_km is not None


NOTHING = Splits(splits=[], pace_s_per_km=None, avg_pace_s_per_km=None)


@pytest.mark.parametrize("batches", [
    pytest.param([], id="empty workout"),
    pytest.param([[]], id="empty batch"),
    pytest.param([[(0, 45.0, 7.0, N, N, N)]], id="one sample"),
    pytest.param([[(i * 1000, N, N, N, N, N) for i in range(100)]], id="all sensors null"),
    pytest.param([[(i * 1000, N, N, N, 150.0, 97.0) for i in range(100)]], id="heart rate only"),
    pytest.param([[(i * 1000, 45.0, 7.0, 100.0, 150.0, N) for i in range(100)]], id="stationary device"),
])
def test_no_distance_no_splits(batches: list[list[Sample]]) -> None:
    assert fold(batches) == NOTHING


def test_state_survives_a_msgpack_snapshot(tracks: Any) -> None:
    samples = tracks.straight(300, 4.0, hr_bpm=140)
    batch = batch_from_samples(samples)
    cumulative = Odometer()(batch)
    state = splits.update(splits.initial(), batch, cumulative)
    assert state.splits == [Split(km=1, time_s=pytest.approx(250.0), avg_hr_bpm=140.0)]  # type: ignore[arg-type]
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=splits.SplitsState) == state
