"""Running heart-rate and SpO2 statistics: current, average, maximum / minimum."""

from __future__ import annotations

import msgspec
import numpy as np

from actors.batch import Batch


class VitalsState(msgspec.Struct, kw_only=True):
    hr_sum: float = 0.0
    hr_count: int = 0
    hr_max: float | None = None
    hr_last: float | None = None
    spo2_min: float | None = None
    spo2_last: float | None = None


class Vitals(msgspec.Struct, frozen=True, kw_only=True):
    hr_bpm: float | None
    avg_hr: float | None
    max_hr: float | None
    spo2_pct: float | None
    min_spo2: float | None


def initial() -> VitalsState:
    return VitalsState()


def update(state: VitalsState, batch: Batch) -> VitalsState:
    hr = batch.hr_bpm[~np.isnan(batch.hr_bpm)]
    spo2 = batch.spo2_pct[~np.isnan(batch.spo2_pct)]
    new = msgspec.structs.replace(state)
    if hr.size:
        new.hr_sum += float(hr.sum())
        new.hr_count += int(hr.size)
        top = float(hr.max())
        new.hr_max = top if state.hr_max is None else max(state.hr_max, top)
        new.hr_last = float(hr[-1])
    if spo2.size:
        low = float(spo2.min())
        new.spo2_min = low if state.spo2_min is None else min(state.spo2_min, low)
        new.spo2_last = float(spo2[-1])
    return new


def result(state: VitalsState) -> Vitals:
    return Vitals(
        hr_bpm=state.hr_last,
        avg_hr=state.hr_sum / state.hr_count if state.hr_count else None,
        max_hr=state.hr_max,
        spo2_pct=state.spo2_last,
        min_spo2=state.spo2_min,
    )
