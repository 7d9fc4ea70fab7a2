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
    power_w]) into columns."""
    if not samples:
        empty = np.empty(0)
        return Batch(np.empty(0, dtype=np.int64), *([empty] * (WIDTH - 1)))
    if all(len(s) == 6 for s in samples):
        table = np.array(samples, dtype=object)
    else:
        table = np.array([(*s, *((None,) * (WIDTH - len(s)))) for s in samples], dtype=object)
    values = table[:, 1:]  # a view of our own table: safe to fill in place
    values[np.equal(values, None)] = np.nan  # type: ignore[call-overload]
    # One conversion for all float columns; order="C" keeps each column contiguous.
    columns = list(values.T.astype(np.float64, order="C"))
    missing = [np.full(len(samples), np.nan)] * (WIDTH - 1 - len(columns))
    return Batch(table[:, 0].astype(np.int64), *columns, *missing)
