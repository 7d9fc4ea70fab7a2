"""The inputs of the models, as the Serve deployments receive them.

Load quantities are on daily Banister TRIMP (actors/metrics/training_load.py), the daily load
that /work/shared/REFERENCE.md ("Training load", "Injury risk") uses for the ACWR. Units: TRIMP
(arbitrary units, "AU"), %, years, kg.

Monotony and strain are not in REFERENCE.md; they follow Foster 1998 (Med Sci Sports Exerc
30:1164): over the last 7 days (rest days count as 0), monotony = mean daily load / standard
deviation of daily load (population SD), strain = weekly load × monotony. A week of identical
days has SD 0, so monotony is capped at MONOTONY_CAP.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import numpy as np

from actors.metrics.risk import ACUTE_DAYS, CHRONIC_DAYS

Goal = Literal["endurance", "weight_loss", "speed"]
Inventory = Literal["bike", "treadmill", "none"]
Sex = Literal["male", "female"]

GOALS: tuple[Goal, ...] = ("endurance", "weight_loss", "speed")
INVENTORIES: tuple[Inventory, ...] = ("bike", "treadmill", "none")
MONOTONY_CAP = 10.0
"""Foster's monotony is unbounded when every day of the week carries the same load."""


class RiskFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """One athlete at one moment of a workout: load history up to and including today's load so far,
    and the live signals of the workout in progress."""

    acute_load: float
    """EWMA of daily TRIMP, N = 7 days (Williams et al. 2017; REFERENCE.md "Injury risk"), AU."""
    chronic_load: float
    """EWMA of daily TRIMP, N = 28 days, seeded with the first day's load, AU."""
    acwr: float
    """acute_load / chronic_load (dimensionless); 0.8-1.3 "sweet spot", ≥ 1.5 a flag."""
    monotony: float
    """Foster 1998: mean / SD of the last 7 daily loads, capped at MONOTONY_CAP (dimensionless)."""
    strain: float
    """Foster 1998: 7-day load sum × monotony, AU."""
    trimp_7d: float
    """Sum of daily Banister TRIMP over the last 7 days (today included), AU."""
    cardiac_drift_pct: float
    """Rise of HR per unit speed at a steady pace in this workout, % (actors.metrics.risk.drift_pct);
    0 when not yet assessed."""
    min_spo2: float
    """Lowest sustained SpO2 in this workout, % (normal 95-100, < 90 low; REFERENCE.md "SpO2")."""
    age: float
    """Age in years."""


RISK_FEATURES: tuple[str, ...] = tuple(RiskFeatures.__struct_fields__)


def risk_matrix(batch: list[RiskFeatures]) -> np.ndarray:
    """Rows of RISK_FEATURES values, float32, in field order."""
    return np.array([[getattr(f, name) for name in RISK_FEATURES] for f in batch],
                    dtype=np.float32).reshape(len(batch), len(RISK_FEATURES))


class RecommendInput(msgspec.Struct, frozen=True, kw_only=True):
    age: float
    """Years."""
    sex: Sex
    weight_kg: float
    goal: Goal
    inventory: Inventory
    """Equipment at hand: a bike, a treadmill, or neither (outdoor and bodyweight sessions only)."""
    acute_load: float
    """As RiskFeatures.acute_load, AU."""
    chronic_load: float
    """As RiskFeatures.chronic_load, AU."""
    acwr: float
    risk_probability: float
    """Injury-risk probability from the risk model, 0..1."""


RECOMMEND_FEATURES: tuple[str, ...] = (
    "age", "male", "weight_kg", *(f"goal_{g}" for g in GOALS), *(f"inventory_{i}" for i in INVENTORIES),
    "acute_load", "chronic_load", "acwr", "risk_probability")


def recommend_matrix(batch: list[RecommendInput]) -> np.ndarray:
    """Rows of RECOMMEND_FEATURES values (sex, goal and inventory one-hot), float32."""
    rows = [[x.age, float(x.sex == "male"), x.weight_kg,
             *(float(x.goal == g) for g in GOALS), *(float(x.inventory == i) for i in INVENTORIES),
             x.acute_load, x.chronic_load, x.acwr, x.risk_probability] for x in batch]
    return np.array(rows, dtype=np.float32).reshape(len(batch), len(RECOMMEND_FEATURES))


def ewma_loads(daily_loads: np.ndarray, n_days: int) -> np.ndarray:
    """EWMA of each row of daily loads (oldest first) at its last day, seeded with the first day:
    the same weights as actors.metrics.risk.acwr_ewma, for many athletes at once."""
    lam = 2.0 / (n_days + 1)
    age = np.arange(daily_loads.shape[-1] - 1, -1, -1)
    weights = lam * (1.0 - lam) ** age
    weights[0] = (1.0 - lam) ** age[0]
    return np.asarray(daily_loads @ weights)


def load_features(daily_loads: np.ndarray) -> dict[str, np.ndarray]:
    """acute_load, chronic_load, acwr, monotony, strain and trimp_7d of each row of daily TRIMP
    (≥ 7 days, oldest first, today last)."""
    loads = np.atleast_2d(np.asarray(daily_loads, dtype=np.float64))
    acute, chronic = ewma_loads(loads, ACUTE_DAYS), ewma_loads(loads, CHRONIC_DAYS)
    week = loads[:, -7:]
    total, mean, sd = week.sum(axis=1), week.mean(axis=1), week.std(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        monotony = np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), np.where(mean > 0, MONOTONY_CAP, 0.0))
        acwr = np.where(chronic > 0, acute / np.where(chronic > 0, chronic, 1.0), 0.0)
    monotony = np.minimum(monotony, MONOTONY_CAP)
    return {"acute_load": acute, "chronic_load": chronic, "acwr": acwr, "monotony": monotony,
            "strain": total * monotony, "trimp_7d": total}
