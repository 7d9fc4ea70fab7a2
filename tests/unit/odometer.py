"""A clean track's cumulative distance, for the tests of the metrics that take one."""

from __future__ import annotations

import math

import numpy as np

from actors.batch import Batch
from actors.metrics.distance import haversine_m


class Odometer:
    """Each sample's cumulative distance along its fixes, haversine from fix to fix, batch by
    batch: what the distance metric releases for a clean track, for the tests of the metrics
    that take it (splits, calories, drift). While paused the way is not counted."""

    def __init__(self) -> None:
        self.metres = 0.0
        self.last: tuple[float, float] | None = None

    def __call__(self, batch: Batch, counting: bool = True) -> np.ndarray:
        out = np.empty(batch.size)
        for i in range(batch.size):
            lat, lon = float(batch.lat[i]), float(batch.lon[i])
            if not (math.isnan(lat) or math.isnan(lon)):
                if self.last is not None and counting:
                    self.metres += haversine_m(self.last[0], self.last[1], lat, lon)
                self.last = (lat, lon)
            out[i] = self.metres
        return out
