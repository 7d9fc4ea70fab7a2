"""A workout's kilometre splits in full — distance, time, pace, climb and descent, heart
rate — from its recorded samples, by the metrics the live actor runs.

Distance (actors/metrics/distance.py) gives every sample its cumulative distance; the
splits aggregator (actors/metrics/splits.py) closes a split where that distance crosses a
whole kilometre and times it, heart rate included; the elevation aggregator
(actors/metrics/elevation.py) is folded up to each crossing, so a split's climb is what the
workout's climb grew by within it. The last split is the distance left after the last whole
kilometre, so the splits add up to the workout's distance, and the climbs to its climb.

Like actors/replay.py, the samples are taken as one recording without pauses (pause times
are not stored); a live workout's samples so far are decided as if it ended now.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from actors.batch import Batch, batch_from_samples
from actors.metrics import distance, elevation, splits
from streams.events import Sample, Sport


class SplitRow(msgspec.Struct, frozen=True, kw_only=True):
    km: int
    """1 for the first kilometre; the last split may be shorter."""
    distance_m: float
    time_s: float
    """The split's time (paused stretches left out, recording gaps counted: splits.py)."""
    elapsed_s: float
    """Time from the start to the end of this split."""
    pace_s_per_km: float | None
    elevation_gain_m: float
    elevation_loss_m: float
    avg_hr: float | None
    """Time-weighted heart rate over the split, bpm (health data)."""


def split_table(samples: Sequence[Sample], sport: Sport) -> list[SplitRow]:
    """Every split of the recording, in order; no row for a recording without samples."""
    if not samples:
        return []
    limits = distance.SPORT_LIMITS[sport]
    batch = batch_from_samples(samples)
    state, released = distance.update(distance.initial(), batch, samples, limits)
    state, rest = distance.flush(state, limits)
    # Distance releases samples in the order they came, each with its cumulative metres.
    cumulative = np.concatenate((released.cumulative_m, rest.cumulative_m))
    assert cumulative.size == batch.size
    timed = splits.update(splits.update(splits.initial(), released.batch, released.cumulative_m),
                          rest.batch, rest.cumulative_m)
    closed = splits.result(timed).splits
    total_m = distance.result(state)
    ends = [int(np.searchsorted(cumulative, s.km * splits.SPLIT_M, side="left")) for s in closed]
    climbs = _climbs(batch, [*ends, batch.size])
    rows: list[SplitRow] = []
    elapsed = 0.0
    last = splits.under_way(timed)
    lengths = [splits.SPLIT_M] * len(closed) + [max(total_m - len(closed) * splits.SPLIT_M, 0.0)]
    for split, length_m, (gain, loss) in zip([*closed, last], lengths, climbs, strict=True):
        if split is None or (split is last and length_m <= 0 and split.time_s <= 0 and rows):
            continue
        elapsed += split.time_s
        rows.append(SplitRow(
            km=split.km, distance_m=length_m, time_s=split.time_s, elapsed_s=elapsed,
            pace_s_per_km=split.time_s / length_m * splits.SPLIT_M if length_m > 0 else None,
            elevation_gain_m=gain, elevation_loss_m=loss, avg_hr=split.avg_hr_bpm))
    return rows


def _climbs(batch: Batch, ends: list[int]) -> list[tuple[float, float]]:
    """(gain, loss) within each stretch of samples ending before each index of `ends`."""
    state = elevation.initial()
    out: list[tuple[float, float]] = []
    start, gain_before, loss_before = 0, 0.0, 0.0
    for end in ends:
        state = elevation.update(state, Batch._make(column[start:end] for column in batch))
        now = elevation.result(state)
        out.append((now.gain_m - gain_before, now.loss_m - loss_before))
        start, gain_before, loss_before = end, now.gain_m, now.loss_m
    return out
