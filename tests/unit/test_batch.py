"""Device tuples to numpy columns: missing readings become NaN, times stay exact integers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from actors.batch import Batch, batch_from_samples

pytestmark = pytest.mark.unit

COLUMNS = ["lat", "lon", "alt_m", "hr_bpm", "spo2_pct"]


def test_columns_hold_the_samples_in_order() -> None:
    batch = batch_from_samples([
        (1_700_000_000_001, 45.5, 7.25, 300.0, 142.0, 97.0),
        (1_700_000_000_999, 45.6, 7.5, 301, 143, 98),
    ])
    assert batch.size == 2
    assert batch.t_ms.tolist() == [1_700_000_000_001, 1_700_000_000_999]
    assert batch.lat.tolist() == [45.5, 45.6]
    assert batch.lon.tolist() == [7.25, 7.5]
    assert batch.alt_m.tolist() == [300.0, 301.0]
    assert batch.hr_bpm.tolist() == [142.0, 143.0]
    assert batch.spo2_pct.tolist() == [97.0, 98.0]


def test_dtypes_are_int64_times_and_float64_readings() -> None:
    batch = batch_from_samples([(5, 1, 2, 3, 4, 5)])
    assert batch.t_ms.dtype == np.int64
    for name in COLUMNS:
        assert getattr(batch, name).dtype == np.float64, name


@pytest.mark.parametrize("missing", range(1, 6))
def test_none_becomes_nan_in_its_column_only(missing: int) -> None:
    row = [1000, 45.0, 7.0, 250.0, 150.0, 96.0]
    row[missing] = None
    batch = batch_from_samples([tuple(row), (2000, 45.1, 7.1, 251.0, 151.0, 97.0)])
    for k, name in enumerate(COLUMNS, start=1):
        first = getattr(batch, name)[0]
        assert math.isnan(first) == (k == missing), name
        assert not math.isnan(getattr(batch, name)[1]), name


def test_a_sample_with_no_readings_at_all() -> None:
    batch = batch_from_samples([(7, None, None, None, None, None)])
    assert batch.t_ms.tolist() == [7]
    assert all(np.isnan(getattr(batch, name)).all() for name in COLUMNS)


def test_empty_list_gives_empty_typed_columns() -> None:
    batch = batch_from_samples([])
    assert batch.size == 0
    assert batch.t_ms.dtype == np.int64
    for name in COLUMNS:
        column = getattr(batch, name)
        assert column.shape == (0,) and column.dtype == np.float64, name


def test_millisecond_times_beyond_float32_stay_exact() -> None:
    t = 2**53 - 1
    assert batch_from_samples([(t, None, None, None, None, None)]).t_ms[0] == t


def test_size_counts_samples_while_len_counts_columns() -> None:
    batch = batch_from_samples([(i, float(i), None, None, 100.0 + i, None) for i in range(9)])
    assert batch.size == 9
    assert len(batch) == len(Batch._fields) == 9
