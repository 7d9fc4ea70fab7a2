"""Running heart-rate and SpO2 statistics over batches with gaps."""

from __future__ import annotations

import msgspec
import pytest

from actors.batch import batch_from_samples
from actors.metrics import vitals
from actors.metrics.vitals import Vitals

pytestmark = pytest.mark.unit

N = None


def fold(batches: list[list[tuple[float | None, float | None]]]) -> Vitals:
    """Batches of (hr_bpm, spo2_pct) pairs, one sample per second."""
    state, t = vitals.initial(), 0
    for pairs in batches:
        samples = []
        for hr, spo2 in pairs:
            samples.append((t, None, None, None, hr, spo2))
            t += 1000
        state = vitals.update(state, batch_from_samples(samples))
    return vitals.result(state)


NOTHING = Vitals(hr_bpm=None, avg_hr=None, max_hr=None, spo2_pct=None, min_spo2=None)


@pytest.mark.parametrize(("batches", "expected"), [
    pytest.param([], NOTHING, id="no batches"),
    pytest.param([[]], NOTHING, id="one empty batch"),
    pytest.param([[(N, N), (N, N)]], NOTHING, id="only gaps"),
    pytest.param([[(120, 98)]],
                 Vitals(hr_bpm=120, avg_hr=120, max_hr=120, spo2_pct=98, min_spo2=98), id="one"),
    pytest.param([[(100, 97), (N, 95)], [(140, N), (120, 99)]],
                 Vitals(hr_bpm=120, avg_hr=120, max_hr=140, spo2_pct=99, min_spo2=95),
                 id="gaps inside batches"),
    pytest.param([[(150, 92), (160, 90)], [(N, N)], [(N, 96)]],
                 Vitals(hr_bpm=160, avg_hr=155, max_hr=160, spo2_pct=96, min_spo2=90),
                 id="last reading survives batches without one"),
    pytest.param([[(90, N)], [(N, N), (180, N)], [(N, N)], [(120, N), (N, N)]],
                 Vitals(hr_bpm=120, avg_hr=130, max_hr=180, spo2_pct=None, min_spo2=None),
                 id="hr only"),
    pytest.param([[(N, 99), (N, 87.5)], [(N, 93)]],
                 Vitals(hr_bpm=None, avg_hr=None, max_hr=None, spo2_pct=93, min_spo2=87.5),
                 id="spo2 only"),
])
def test_vitals_over_batches(batches, expected: Vitals) -> None:
    assert fold(batches) == expected


def test_average_weights_every_reading_not_every_batch() -> None:
    # 1 reading at 100 and 3 at 200: the mean of readings is 175, the mean of batch means 150.
    assert fold([[(100, N)], [(200, N), (200, N), (200, N)]]).avg_hr == pytest.approx(175.0)


def test_one_batch_or_many_give_the_same_vitals() -> None:
    pairs = [(100 + (i * 37) % 60 if i % 4 else None, 90 + (i * 13) % 10 if i % 3 else None)
             for i in range(97)]
    whole = fold([pairs])
    pieces = fold([pairs[i : i + 7] for i in range(0, len(pairs), 7)])
    assert pieces.avg_hr == pytest.approx(whole.avg_hr, rel=1e-12)
    assert (pieces.max_hr, pieces.min_spo2, pieces.hr_bpm, pieces.spo2_pct) == (
        whole.max_hr, whole.min_spo2, whole.hr_bpm, whole.spo2_pct)


def test_update_leaves_the_given_state_untouched() -> None:
    state = vitals.update(vitals.initial(), batch_from_samples([(0, N, N, N, 120.0, 97.0)]))
    before = msgspec.structs.asdict(state)
    vitals.update(state, batch_from_samples([(1000, N, N, N, 180.0, 85.0)]))
    assert msgspec.structs.asdict(state) == before
