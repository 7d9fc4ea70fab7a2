"""Elevation gain and loss that altitude noise cannot inflate.

Raw GPS altitude wanders by metres from fix to fix; summing every rise would turn a flat run
into a hill climb. Two steps, in this order:

1. a running median of the last SMOOTH_WINDOW (9) readings: causal, so no look-ahead is
   needed and the last SMOOTH_WINDOW − 1 raw readings, carried in the state, are all a new
   batch needs; a median rather than a mean so a single wild fix moves nothing. Being
   causal, it trails the terrain by half a window (4 readings);
2. hysteresis with a dead band of DEAD_BAND_M (3 m) on the smoothed series: the altitude is
   followed in legs (climbing or descending), each leg's extreme is tracked, and a leg ends
   only when the altitude comes back DEAD_BAND_M from that extreme. A finished climb adds
   (peak − trough). Wobbles narrower than the band add nothing; a real climb counts whole,
   and the climb under way is included in `result`, so the live gain never jumps back.

Measured on synthetic tracks (tests/unit/test_metrics_elevation.py): uniform ±2 m noise on a
flat hour adds 0 m; a 100 m climb under that noise reads 100-103 m. Gaussian noise of σ ≥ 1.5 m
(poor GPS altitude) still leaks gain; a barometric altimeter, or a wider band, is the remedy.
Altitude readings are taken in order, whatever their timing; missing ones are skipped.
"""

from __future__ import annotations

import msgspec
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from actors.batch import Batch, FloatArray

SMOOTH_WINDOW = 9
DEAD_BAND_M = 3.0
ALT_VALID_M = (-500.0, 9_000.0)
"""Altitudes outside this range are sensor glitches and treated as missing."""


class ElevationState(msgspec.Struct, kw_only=True):
    tail_alt_m: list[float] = msgspec.field(default_factory=list)
    """The newest raw readings, up to SMOOTH_WINDOW − 1 of them."""
    alt_m: float | None = None
    """The newest smoothed altitude."""
    anchor_alt_m: float | None = None
    """Smoothed altitude where the current leg began (the last confirmed turn)."""
    extreme_alt_m: float | None = None
    """Highest (climbing) or lowest (descending) smoothed altitude of the current leg."""
    direction: int = 0
    """+1 climbing, −1 descending, 0 not yet known."""
    gain_m: float = 0.0
    """Gain of the finished legs; the current climb is added by `result`."""
    loss_m: float = 0.0


class Elevation(msgspec.Struct, frozen=True, kw_only=True):
    alt_m: float | None
    gain_m: float
    loss_m: float


def initial() -> ElevationState:
    return ElevationState()


def smooth(tail_alt_m: list[float], alt_m: FloatArray) -> FloatArray:
    """Running medians for the new readings that complete a full window."""
    raw = np.concatenate((np.asarray(tail_alt_m, dtype=np.float64), alt_m))
    if raw.size < SMOOTH_WINDOW:
        return np.empty(0)
    # np.median's result, bit for bit, without its overhead: the middle of each sorted window
    # plus 0.0 (median takes the mean of that one element), NaN if the window holds one.
    ordered = np.sort(sliding_window_view(raw, SMOOTH_WINDOW), axis=1)
    return np.where(np.isnan(ordered[:, -1]), np.nan, ordered[:, SMOOTH_WINDOW // 2] + 0.0)


def update(state: ElevationState, batch: Batch, counting: bool = True) -> ElevationState:
    """Fold a batch in; `counting=False` (paused) follows the terrain without adding to it."""
    low, high = ALT_VALID_M
    alt = batch.alt_m[(batch.alt_m >= low) & (batch.alt_m <= high)]
    if alt.size == 0:
        return state
    raw = [*state.tail_alt_m, *alt.tolist()]
    new = msgspec.structs.replace(state, tail_alt_m=raw[1 - SMOOTH_WINDOW:])
    if len(raw) == SMOOTH_WINDOW:  # one window (the live case): as `smooth`, without arrays
        smoothed = np.array((sorted(raw)[SMOOTH_WINDOW // 2] + 0.0,))
    else:
        smoothed = smooth(state.tail_alt_m, alt)
    if smoothed.size == 0:
        return new
    if new.anchor_alt_m is None:
        new.anchor_alt_m = new.extreme_alt_m = float(smoothed[0])
    if not counting:
        _bank_current_leg(new)
    gain, loss = _follow(new, smoothed)
    new.alt_m = float(smoothed[-1])
    if counting:
        new.gain_m += gain
        new.loss_m += loss
    else:
        new.anchor_alt_m = new.extreme_alt_m  # what was climbed while paused never counts
    return new


def _bank_current_leg(state: ElevationState) -> None:
    """Count the current leg so far and start it afresh from here."""
    if state.anchor_alt_m is None or state.extreme_alt_m is None:
        return
    if state.direction > 0:
        state.gain_m += state.extreme_alt_m - state.anchor_alt_m
    elif state.direction < 0:
        state.loss_m += state.anchor_alt_m - state.extreme_alt_m
    state.anchor_alt_m = state.extreme_alt_m


def _follow(state: ElevationState, alt_m: FloatArray) -> tuple[float, float]:
    """Advance the legs over the series; returns the gain and loss of legs finished in it.

    A leg turns when the altitude comes back DEAD_BAND_M from the leg's extreme. Each round
    finds the next turn with numpy (a running max/min and argmax), so rounds happen per turn,
    not per reading.
    """
    assert state.anchor_alt_m is not None and state.extreme_alt_m is not None
    if alt_m.size == 1:
        return _follow_one(state, float(alt_m[0]))
    gain = loss = 0.0
    seg = alt_m
    while seg.size:
        if state.direction == 0:
            away = np.abs(seg - state.anchor_alt_m) >= DEAD_BAND_M
            if not away.any():
                return gain, loss
            k = int(np.argmax(away))
            state.direction = 1 if seg[k] > state.anchor_alt_m else -1
            state.extreme_alt_m, seg = float(seg[k]), seg[k + 1:]
            continue
        up = state.direction > 0
        acc = np.maximum.accumulate if up else np.minimum.accumulate
        extreme = acc(np.concatenate(([state.extreme_alt_m], seg)))[1:]
        back = (extreme - seg if up else seg - extreme) >= DEAD_BAND_M
        if not back.any():
            state.extreme_alt_m = float(extreme[-1])
            return gain, loss
        k = int(np.argmax(back))
        if up:
            gain += float(extreme[k]) - state.anchor_alt_m
        else:
            loss += state.anchor_alt_m - float(extreme[k])
        state.anchor_alt_m, state.extreme_alt_m = float(extreme[k]), float(seg[k])
        state.direction, seg = -state.direction, seg[k + 1:]
    return gain, loss


def _follow_one(state: ElevationState, alt_m: float) -> tuple[float, float]:
    """`_follow` for a single altitude, in scalars (the live case; same result)."""
    assert state.anchor_alt_m is not None and state.extreme_alt_m is not None
    gain = loss = 0.0
    if state.direction == 0:
        if abs(alt_m - state.anchor_alt_m) >= DEAD_BAND_M:
            state.direction = 1 if alt_m > state.anchor_alt_m else -1
            state.extreme_alt_m = alt_m
        return gain, loss
    up = state.direction > 0
    extreme = max(alt_m, state.extreme_alt_m) if up else min(alt_m, state.extreme_alt_m)  # as numpy's
    if not (extreme - alt_m if up else alt_m - extreme) >= DEAD_BAND_M:
        state.extreme_alt_m = extreme
        return gain, loss
    if up:
        gain += extreme - state.anchor_alt_m
    else:
        loss += state.anchor_alt_m - extreme
    state.anchor_alt_m, state.extreme_alt_m, state.direction = extreme, alt_m, -state.direction
    return gain, loss


def result(state: ElevationState) -> Elevation:
    gain, loss = state.gain_m, state.loss_m
    if state.anchor_alt_m is not None and state.extreme_alt_m is not None:
        if state.direction > 0:
            gain += state.extreme_alt_m - state.anchor_alt_m
        elif state.direction < 0:
            loss += state.anchor_alt_m - state.extreme_alt_m
    return Elevation(alt_m=state.alt_m, gain_m=gain, loss_m=loss)
