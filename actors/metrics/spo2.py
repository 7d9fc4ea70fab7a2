"""Blood-oxygen saturation: current, minimum, a sustained-low alert and hypoxaemia class.

A wrist reading of 90 % may truly be 86-94 %, so one low sample alerts nobody: SpO2 must
stay below the threshold (default 90 %) for SUSTAIN_MS of time. Readings missing for up to
MAX_GAP_MS do not break a run; a longer silence, or any reading at or above the threshold,
does. Runs are found with numpy over the batch and carried across batches in
`SustainedRun`, so a run may span any number of batches.

Exercise-induced hypoxaemia (EIH) is classed on the sustained value, by the same rule:
SpO2 below 95 % for 30 s is mild (93-95 %), below 93 % moderate (88-93 %), below 88 %
severe (Dempsey & Wagner 1999). The "3-4 % fall from rest" criterion needs a resting
reading Stride does not have, so it is not used.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import numpy as np

from actors.batch import Batch, IntArray

SUSTAIN_MS = 30_000
MAX_GAP_MS = 10_000
LOW_THRESHOLD_PCT = 90.0
SPO2_VALID_PCT = (50.0, 100.0)
"""Readings outside this range are sensor glitches and treated as missing."""

EihClass = Literal["none", "mild", "moderate", "severe"]
EIH_BELOW_PCT: dict[EihClass, float] = {"mild": 95.0, "moderate": 93.0, "severe": 88.0}


class SustainedRun(msgspec.Struct, kw_only=True):
    """Tracks a condition that must hold, reading after reading, for a minimum time."""

    last_t_ms: int | None = None
    """Newest reading judged (whatever its value)."""
    start_ms: int | None = None
    """First reading of the current run; None when the condition does not hold now."""
    sustained: bool = False
    """The current run has lasted the minimum time."""
    episodes: int = 0
    """Runs that reached the minimum time."""
    longest_ms: int = 0

    def duration_ms(self) -> int:
        if self.start_ms is None or self.last_t_ms is None:
            return 0
        return self.last_t_ms - self.start_ms


def advance_run(run: SustainedRun, t_ms: IntArray, hit: np.ndarray, min_ms: int,
                max_gap_ms: int = MAX_GAP_MS) -> SustainedRun:
    """Fold readings at `t_ms` (valid ones only) where the condition is `hit` into the run."""
    if t_ms.size == 0:
        return run
    t = t_ms.astype(np.int64)
    prev_t = np.concatenate(([run.last_t_ms if run.last_t_ms is not None else t[0]], t[:-1]))
    broken = t - prev_t > max_gap_ms
    if run.last_t_ms is None:
        broken[0] = True
    prev_hit = np.concatenate(([run.start_ms is not None], hit[:-1]))
    starts = hit & (~prev_hit | broken)
    first = np.maximum.accumulate(np.where(starts, np.arange(t.size), -1))
    carried = run.start_ms if run.start_ms is not None else 0
    run_start = np.where(first >= 0, t[first], carried)
    sustained = hit & (t - run_start >= min_ms)
    new_runs = np.unique(run_start[sustained])
    episodes = int(new_runs.size)
    if run.sustained and run.start_ms is not None and run.start_ms in new_runs:
        episodes -= 1  # the carried run was counted when it first reached the minimum
    longest = int((t - run_start)[sustained].max()) if sustained.any() else 0
    return SustainedRun(
        last_t_ms=int(t[-1]),
        start_ms=int(run_start[-1]) if hit[-1] else None,
        sustained=bool(sustained[-1]),
        episodes=run.episodes + episodes,
        longest_ms=max(run.longest_ms, longest),
    )


class SpO2State(msgspec.Struct, kw_only=True):
    low_threshold_pct: float = LOW_THRESHOLD_PCT
    spo2_pct: float | None = None
    min_spo2_pct: float | None = None
    low: SustainedRun = msgspec.field(default_factory=SustainedRun)
    mild: SustainedRun = msgspec.field(default_factory=SustainedRun)
    moderate: SustainedRun = msgspec.field(default_factory=SustainedRun)
    severe: SustainedRun = msgspec.field(default_factory=SustainedRun)


class SpO2(msgspec.Struct, frozen=True, kw_only=True):
    spo2_pct: float | None
    min_spo2_pct: float | None
    low_threshold_pct: float
    low_alert: bool
    """SpO2 has been below the threshold for at least 30 s, and still is."""
    low_since_ms: int | None
    low_for_s: float
    """How long the current low run has lasted (0 when SpO2 is not low)."""
    low_episodes: int
    eih: EihClass
    """Exercise-induced hypoxaemia now, on the sustained value."""
    worst_eih: EihClass


def initial() -> SpO2State:
    return SpO2State()


def update(state: SpO2State, batch: Batch, low_threshold_pct: float = LOW_THRESHOLD_PCT) -> SpO2State:
    low_pct, high_pct = SPO2_VALID_PCT
    ok = (batch.spo2_pct >= low_pct) & (batch.spo2_pct <= high_pct)
    if not ok.any():
        return state
    t, spo2 = batch.t_ms[ok], batch.spo2_pct[ok]
    least = float(spo2.min())
    return SpO2State(
        low_threshold_pct=low_threshold_pct,
        spo2_pct=float(spo2[-1]),
        min_spo2_pct=least if state.min_spo2_pct is None else min(state.min_spo2_pct, least),
        low=advance_run(state.low, t, spo2 < low_threshold_pct, SUSTAIN_MS),
        mild=advance_run(state.mild, t, spo2 < EIH_BELOW_PCT["mild"], SUSTAIN_MS),
        moderate=advance_run(state.moderate, t, spo2 < EIH_BELOW_PCT["moderate"], SUSTAIN_MS),
        severe=advance_run(state.severe, t, spo2 < EIH_BELOW_PCT["severe"], SUSTAIN_MS),
    )


def _eih(state: SpO2State, now: bool) -> EihClass:
    ranked: tuple[tuple[EihClass, SustainedRun], ...] = (
        ("severe", state.severe), ("moderate", state.moderate), ("mild", state.mild))
    for name, run in ranked:
        if run.sustained if now else run.episodes > 0:
            return name
    return "none"


def result(state: SpO2State) -> SpO2:
    low = state.low
    return SpO2(
        spo2_pct=state.spo2_pct,
        min_spo2_pct=state.min_spo2_pct,
        low_threshold_pct=state.low_threshold_pct,
        low_alert=low.sustained,
        low_since_ms=low.start_ms if low.sustained else None,
        low_for_s=low.duration_ms() / 1000.0,
        low_episodes=low.episodes,
        eih=_eih(state, now=True),
        worst_eih=_eih(state, now=False),
    )
