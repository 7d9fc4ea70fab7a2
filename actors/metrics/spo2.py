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

from collections.abc import Sequence
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
    if t_ms.size == 1:
        return advance_run_one(run, int(t_ms[0]), bool(hit[0]), min_ms, max_gap_ms)
    return advance_runs([run], t_ms, hit[np.newaxis], min_ms, max_gap_ms)[0]


def advance_runs(runs: Sequence[SustainedRun], t_ms: IntArray, hits: np.ndarray, min_ms: int,
                 max_gap_ms: int = MAX_GAP_MS) -> list[SustainedRun]:
    """`advance_run` for several runs over the same readings (row i of `hits` for run i),
    in one set of array operations."""
    if t_ms.size == 0:
        return list(runs)
    t = t_ms.astype(np.int64)
    broken = np.empty(hits.shape, dtype=bool)
    broken[:, 1:] = t[1:] - t[:-1] > max_gap_ms
    broken[:, 0] = [r.last_t_ms is None or int(t[0]) - r.last_t_ms > max_gap_ms for r in runs]
    prev_hit = np.concatenate(([[r.start_ms is not None] for r in runs], hits[:, :-1]), axis=1)
    starts = hits & (~prev_hit | broken)
    first = np.maximum.accumulate(np.where(starts, np.arange(t.size), -1), axis=1)
    carried = np.array([[r.start_ms if r.start_ms is not None else 0] for r in runs], dtype=np.int64)
    run_start = np.where(first >= 0, t[first], carried)
    lasted = t - run_start
    sustained = hits & (lasted >= min_ms)
    longest = np.where(sustained, lasted, 0).max(axis=1).tolist()
    out = []
    for k, (run, hit_now, start_now, sustained_now) in enumerate(zip(
            runs, hits[:, -1].tolist(), run_start[:, -1].tolist(), sustained[:, -1].tolist(), strict=True)):
        new_runs = set(run_start[k, sustained[k]].tolist())  # distinct runs (np.unique costs more)
        episodes = len(new_runs)
        if run.sustained and run.start_ms is not None and run.start_ms in new_runs:
            episodes -= 1  # the carried run was counted when it first reached the minimum
        out.append(SustainedRun(
            last_t_ms=int(t[-1]),
            start_ms=start_now if hit_now else None,
            sustained=sustained_now,
            episodes=run.episodes + episodes,
            longest_ms=max(run.longest_ms, longest[k]),
        ))
    return out


def advance_run_one(run: SustainedRun, t_ms: int, hit: bool, min_ms: int,
                    max_gap_ms: int = MAX_GAP_MS) -> SustainedRun:
    """`advance_run` for a single reading, in scalars (the live case; same result)."""
    if run.start_ms is not None and run.last_t_ms is not None and t_ms - run.last_t_ms <= max_gap_ms:
        start = run.start_ms  # the run goes on
    else:
        start = t_ms if hit else (run.start_ms if run.start_ms is not None else 0)
    sustained = hit and t_ms - start >= min_ms
    # counted once, when the run first reaches the minimum
    new_episode = sustained and not (run.sustained and run.start_ms == start)
    return SustainedRun(
        last_t_ms=t_ms,
        start_ms=start if hit else None,
        sustained=sustained,
        episodes=run.episodes + new_episode,
        longest_ms=max(run.longest_ms, t_ms - start if sustained else 0),
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
    if batch.size == 1:
        return _update_one(state, int(batch.t_ms[0]), float(batch.spo2_pct[0]), low_threshold_pct)
    ok = (batch.spo2_pct >= low_pct) & (batch.spo2_pct <= high_pct)
    if not ok.any():
        return state
    t, spo2 = batch.t_ms[ok], batch.spo2_pct[ok]
    least = float(spo2.min())
    below = (low_threshold_pct, EIH_BELOW_PCT["mild"], EIH_BELOW_PCT["moderate"], EIH_BELOW_PCT["severe"])
    low, mild, moderate, severe = advance_runs(  # the four runs share the readings: one pass
        (state.low, state.mild, state.moderate, state.severe), t,
        spo2 < np.array(below)[:, np.newaxis], SUSTAIN_MS)
    return SpO2State(
        low_threshold_pct=low_threshold_pct,
        spo2_pct=float(spo2[-1]),
        min_spo2_pct=least if state.min_spo2_pct is None else min(state.min_spo2_pct, least),
        low=low, mild=mild, moderate=moderate, severe=severe,
    )


def _update_one(state: SpO2State, t_ms: int, spo2_pct: float, low_threshold_pct: float) -> SpO2State:
    """`update` for a single reading, in scalars (the live case; same result)."""
    low_pct, high_pct = SPO2_VALID_PCT
    if not low_pct <= spo2_pct <= high_pct:
        return state
    least = state.min_spo2_pct
    return SpO2State(
        low_threshold_pct=low_threshold_pct,
        spo2_pct=spo2_pct,
        min_spo2_pct=spo2_pct if least is None else min(least, spo2_pct),
        low=advance_run_one(state.low, t_ms, spo2_pct < low_threshold_pct, SUSTAIN_MS),
        mild=advance_run_one(state.mild, t_ms, spo2_pct < EIH_BELOW_PCT["mild"], SUSTAIN_MS),
        moderate=advance_run_one(state.moderate, t_ms, spo2_pct < EIH_BELOW_PCT["moderate"], SUSTAIN_MS),
        severe=advance_run_one(state.severe, t_ms, spo2_pct < EIH_BELOW_PCT["severe"], SUSTAIN_MS),
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
