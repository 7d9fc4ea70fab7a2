"""Columnar view of a batch of device samples, built once per batch for the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from streams.events import SAMPLE_FIELDS, Sample

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Batch(NamedTuple):
    """Samples as columns; a missing reading is NaN."""

    t_ms: IntArray
    lat: FloatArray
    lon: FloatArray
    alt_m: FloatArray
    hr_bpm: FloatArray
    spo2_pct: FloatArray
    speed_mps: FloatArray
    """The device's Doppler speed, m/s."""
    accuracy_m: FloatArray
    """The device's horizontal accuracy: the radius of 68 % confidence, m."""
    power_w: FloatArray

    @property
    def size(self) -> int:
        """Number of samples (len() of the tuple itself is its columns)."""
        return int(self.t_ms.shape[0])


WIDTH = len(SAMPLE_FIELDS)


def batch_from_samples(samples: Sequence[Sample]) -> Batch:
    """Turn device tuples (t_ms, lat, lon, alt_m, hr_bpm, spo2_pct[, speed_mps, accuracy_m,
    power_w]) into columns. Plain Python transposes the rows (a live batch is a sample or a
    few, where numpy's object arrays cost more than the work), numpy takes each column once."""
    n = len(samples)
    if not n:
        empty = np.empty(0)
        return Batch(np.empty(0, dtype=np.int64), *([empty] * (WIDTH - 1)))
    columns = list(zip(*(s if len(s) == WIDTH else (*s, *((None,) * (WIDTH - len(s)))) for s in samples),
                       strict=True))
    nan = float("nan")
    # One C-ordered (WIDTH - 1) × n array: each of its rows, a column, is contiguous.
    values = np.array([[nan if v is None else v for v in column] for column in columns[1:]],
                      dtype=np.float64)
    return Batch(np.fromiter(columns[0], dtype=np.int64, count=n), *values)
