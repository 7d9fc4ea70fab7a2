"""SpO2: current and minimum, the sustained-low alert, and exercise-induced hypoxaemia."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from actors.batch import batch_from_samples
from actors.metrics import spo2
from actors.metrics.spo2 import SpO2, SustainedRun
from streams.events import Sample

pytestmark = pytest.mark.unit

N = None


def readings(values: list[float | None], dt_ms: int = 1000, t0_ms: int = 0) -> list[Sample]:
    return [(t0_ms + i * dt_ms, None, None, None, None, v) for i, v in enumerate(values)]


def fold(batches: list[list[Sample]], threshold: float = 90.0) -> SpO2:
    state = spo2.initial()
    for b in batches:
        state = spo2.update(state, batch_from_samples(b), threshold)
    return spo2.result(state)


# -- the sustained-low alert -------------------------------------------------------------------


@pytest.mark.parametrize(("values", "alert"), [
    pytest.param([97] * 5 + [88] * 31, True, id="31 readings over 30 s"),
    pytest.param([97] * 5 + [88] * 30, False, id="30 readings span only 29 s"),
    pytest.param([97] * 5 + [80] + [97] * 40, False, id="one low sample"),
    pytest.param([88] * 20 + [91] + [88] * 20, False, id="a normal reading breaks the run"),
    pytest.param([88] * 20 + [90] + [88] * 20, False, id="90 is not below 90"),
    pytest.param([88] * 20 + [N] * 9 + [88] * 5, True, id="9 s without readings does not break it"),
    pytest.param([88] * 20 + [N] * 11 + [88] * 25, False, id="a silence over 10 s breaks it"),
])
def test_alert_needs_30_s_of_low_readings(values: list[float | None], alert: bool) -> None:
    assert fold([readings(values)]).low_alert is alert


def test_alert_reports_when_the_run_began_and_how_long_it_lasted() -> None:
    got = fold([readings([97] * 5 + [87] * 45, t0_ms=1_000_000)])
    assert got.low_since_ms == 1_005_000
    assert got.low_for_s == 44.0
    assert got.low_episodes == 1


def test_a_run_spans_batches() -> None:
    samples = readings([97] * 3 + [86] * 40)
    got = fold([samples[i:i + 1] for i in range(len(samples))])
    assert got.low_alert and got.low_since_ms == 3000


def test_the_alert_clears_on_recovery_and_episodes_are_counted() -> None:
    got = fold([readings([86] * 35 + [96] * 5 + [86] * 35 + [96] * 2)])
    assert not got.low_alert and got.low_since_ms is None
    assert got.low_episodes == 2


def test_a_custom_threshold() -> None:
    assert fold([readings([91] * 40)], threshold=92).low_alert
    assert not fold([readings([91] * 40)]).low_alert


def test_readings_outside_0_100_are_glitches() -> None:
    got = fold([readings([0, 97, 120, 95])])
    assert (got.spo2_pct, got.min_spo2_pct) == (95, 95)


# -- exercise-induced hypoxaemia --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "eih"), [
    (98, "none"), (95, "none"), (94.5, "mild"), (93, "mild"), (92.9, "moderate"), (88, "moderate"),
    (87.9, "severe"), (80, "severe"),
])
def test_eih_class_of_a_sustained_value(value: float, eih: str) -> None:
    assert fold([readings([value] * 31)]).eih == eih


def test_eih_needs_the_value_sustained() -> None:
    assert fold([readings([97] * 10 + [85] * 10 + [97] * 20)]).eih == "none"


def test_worst_eih_outlives_recovery() -> None:
    got = fold([readings([92] * 40 + [97] * 10)])
    assert (got.eih, got.worst_eih) == ("none", "moderate")


# -- edge cases ---------------------------------------------------------------------------------------

NOTHING = SpO2(spo2_pct=None, min_spo2_pct=None, low_threshold_pct=90.0, low_alert=False, low_since_ms=None,
               low_for_s=0.0, low_episodes=0, eih="none", worst_eih="none")


@pytest.mark.parametrize("batches", [
    pytest.param([], id="empty workout"),
    pytest.param([[]], id="empty batch"),
    pytest.param([readings([N] * 50)], id="all sensors null"),
    pytest.param([[(i * 1000, None, None, None, 150.0, None) for i in range(50)]], id="heart rate only"),
])
def test_no_readings(batches: list[list[Sample]]) -> None:
    assert fold(batches) == NOTHING


def test_one_low_sample() -> None:
    got = fold([readings([85])])
    assert (got.spo2_pct, got.min_spo2_pct, got.low_alert, got.low_for_s) == (85, 85, False, 0.0)


def test_state_survives_a_msgpack_snapshot() -> None:
    state = spo2.update(spo2.initial(), batch_from_samples(readings([85] * 40)))
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=spo2.SpO2State) == state


# -- the run tracker itself -----------------------------------------------------------------------------


def test_advance_run_longest_and_duration() -> None:
    t = np.arange(0, 100_000, 1000, dtype=np.int64)
    hit = np.ones(t.size, dtype=bool)
    hit[50] = False
    run = spo2.advance_run(SustainedRun(), t, hit, min_ms=30_000)
    assert run.episodes == 2
    assert run.longest_ms == 49_000
    assert run.duration_ms() == 48_000 and run.sustained
