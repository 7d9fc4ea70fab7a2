"""The athlete's profile, and the defaults Stride assumes where it is silent.

Every field is optional. Metrics that need a missing value use a documented default, and
`defaults_used()` names those defaults so the workout summary can say what was assumed.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Sex = Literal["male", "female"]

DEFAULT_AGE_Y = 35.0
"""Assumed age when none is given (a mid-range adult); it feeds the HRmax estimate."""
DEFAULT_WEIGHT_KG = 70.0
"""Assumed body mass when none is given (the conventional reference adult) for MET calories."""
DEFAULT_HR_REST_BPM = 60.0
"""Assumed resting heart rate for Banister TRIMP when none is given (a typical adult at rest)."""
DEFAULT_SEX: Sex = "male"
"""Assumed sex for Banister TRIMP: Banister's original weighting was fitted on men."""


class AthleteProfile(msgspec.Struct, frozen=True, kw_only=True):
    age_y: float | None = None
    sex: Sex | None = None
    weight_kg: float | None = None
    hr_rest_bpm: float | None = None
    hr_max_bpm: float | None = None
    vo2max: float | None = None
    """Maximal oxygen uptake, mL/kg/min."""

    def __post_init__(self) -> None:
        for name in ("age_y", "weight_kg", "hr_rest_bpm", "hr_max_bpm", "vo2max"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.hr_rest_bpm is not None and self.hr_rest_bpm >= self.hr_max():
            raise ValueError(f"hr_rest_bpm {self.hr_rest_bpm} must be below HRmax {self.hr_max():g}")

    def age(self) -> float:
        """Age in years, or DEFAULT_AGE_Y."""
        return self.age_y if self.age_y is not None else DEFAULT_AGE_Y

    def weight(self) -> float:
        """Body mass in kg, or DEFAULT_WEIGHT_KG."""
        return self.weight_kg if self.weight_kg is not None else DEFAULT_WEIGHT_KG

    def hr_max(self) -> float:
        """Maximum heart rate in bpm: the athlete's own, else Tanaka et al. 2001, 208 − 0.7·age."""
        if self.hr_max_bpm is not None:
            return self.hr_max_bpm
        return 208.0 - 0.7 * self.age()

    def hr_rest(self) -> float:
        """Resting heart rate in bpm, or DEFAULT_HR_REST_BPM."""
        return self.hr_rest_bpm if self.hr_rest_bpm is not None else DEFAULT_HR_REST_BPM

    def sex_or_default(self) -> Sex:
        return self.sex if self.sex is not None else DEFAULT_SEX

    def defaults_used(self) -> list[str]:
        """What Stride assumed for the fields the athlete left out, e.g. ["age 35 y (default)"]."""
        used: list[str] = []
        if self.age_y is None:
            used.append(f"age {DEFAULT_AGE_Y:g} y (default)")
        if self.weight_kg is None:
            used.append(f"weight {DEFAULT_WEIGHT_KG:g} kg (default)")
        if self.hr_max_bpm is None:
            used.append(f"max heart rate {self.hr_max():g} bpm (Tanaka estimate from age)")
        if self.hr_rest_bpm is None:
            used.append(f"resting heart rate {DEFAULT_HR_REST_BPM:g} bpm (default)")
        if self.sex is None:
            used.append(f"sex {DEFAULT_SEX} (default, for training load)")
        return used
