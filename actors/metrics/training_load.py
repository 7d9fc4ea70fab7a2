"""Training load of a workout: Banister TRIMP and Edwards TRIMP, summed per sample.

Banister 1991: TRIMP = D_min · ΔHR · 0.64·e^(1.92·ΔHR) for men, 0.86·e^(1.67·ΔHR) for women,
with ΔHR = (HR − HRrest)/(HRmax − HRrest) clipped to [0, 1]. Summing it sample by sample (each
sample weighted by its duration, see heart_rate.intervals) handles uneven efforts, where the
workout-average form underestimates hard intervals. Without a resting HR the profile default
(60 bpm) is used, without a sex the men's weighting (profile.DEFAULT_SEX).

Edwards 1993: minutes in the five %HRmax zones (50-60 … 90-100 %) weighted 1…5; always by
%HRmax, even when resting HR is known, as Edwards defined it.
"""

from __future__ import annotations

import functools
import math

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray
from actors.metrics import heart_rate
from actors.metrics.heart_rate import ZONE_FRACTIONS, Carry
from actors.profile import AthleteProfile, Sex

BANISTER_WEIGHTING: dict[Sex, tuple[float, float]] = {"male": (0.64, 1.92), "female": (0.86, 1.67)}


class TrainingLoadState(msgspec.Struct, kw_only=True):
    carry: Carry = msgspec.field(default_factory=Carry)
    trimp_banister: float = 0.0
    trimp_edwards: float = 0.0


class TrainingLoad(msgspec.Struct, frozen=True, kw_only=True):
    trimp_banister: float
    trimp_edwards: float


def banister_trimp(duration_min: FloatArray | float, hr_bpm: FloatArray | float, hr_rest_bpm: float,
                   hr_max_bpm: float, sex: Sex) -> FloatArray:
    """Banister TRIMP for each (duration, heart rate) pair."""
    a, b = BANISTER_WEIGHTING[sex]
    reserve = np.clip((np.asarray(hr_bpm, dtype=np.float64) - hr_rest_bpm) / (hr_max_bpm - hr_rest_bpm),
                      0.0, 1.0)
    return np.asarray(np.asarray(duration_min) * reserve * a * np.exp(b * reserve))


def initial() -> TrainingLoadState:
    return TrainingLoadState()


def update(state: TrainingLoadState, batch: Batch, profile: AthleteProfile,
           counting: bool = True, timing: heart_rate.Timing | None = None) -> TrainingLoadState:
    iv, carry = timing or heart_rate.intervals(state.carry, batch)
    if not counting:
        return msgspec.structs.replace(state, carry=carry)
    if iv.dt_s.size == 1:
        return _update_one(state, float(iv.hr_bpm[0]), float(iv.dt_s[0]), carry, profile)
    known = ~np.isnan(iv.hr_bpm)
    hr, minutes = iv.hr_bpm[known], iv.dt_s[known] / 60.0
    banister = banister_trimp(minutes, hr, profile.hr_rest(), profile.hr_max(), profile.sex_or_default())
    zone = heart_rate.zone_index(hr, np.array(_edwards_bounds(profile.hr_max())))
    edwards = np.where(zone >= 0, zone + 1, 0) * minutes
    return TrainingLoadState(carry=carry,
                             trimp_banister=state.trimp_banister + float(banister.sum()),
                             trimp_edwards=state.trimp_edwards + float(edwards.sum()))


def _update_one(state: TrainingLoadState, hr_bpm: float, dt_s: float, carry: Carry,
                profile: AthleteProfile) -> TrainingLoadState:
    """`update` for one closed interval (the live case), in scalars: the same float operations
    as the array code, with numpy's exp (math.exp may differ in the last bit)."""
    if math.isnan(hr_bpm):
        return TrainingLoadState(carry=carry, trimp_banister=state.trimp_banister + 0.0,
                                 trimp_edwards=state.trimp_edwards + 0.0)
    minutes = dt_s / 60.0
    hr_rest, hr_max = profile.hr_rest(), profile.hr_max()
    a, b = BANISTER_WEIGHTING[profile.sex_or_default()]
    reserve = min(max((hr_bpm - hr_rest) / (hr_max - hr_rest), 0.0), 1.0)  # np.clip
    banister = minutes * reserve * a * float(np.exp(b * reserve))
    zone = heart_rate.zone_of(hr_bpm, _edwards_bounds(hr_max))
    return TrainingLoadState(carry=carry, trimp_banister=state.trimp_banister + banister,
                             trimp_edwards=state.trimp_edwards + (zone + 1 if zone >= 0 else 0) * minutes)


@functools.lru_cache(maxsize=256)
def _edwards_bounds(hr_max_bpm: float) -> tuple[float, ...]:
    """Edwards' zone boundaries in bpm (%HRmax), once per HRmax."""
    return tuple((hr_max_bpm * np.array(ZONE_FRACTIONS)).tolist())


def result(state: TrainingLoadState) -> TrainingLoad:
    return TrainingLoad(trimp_banister=state.trimp_banister, trimp_edwards=state.trimp_edwards)
