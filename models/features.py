"""The inputs of the models, built by one code path for training and for serving.

Training (models/synthetic.py) and serving (streams/agents/recommender.py, then the Serve
deployments) both go from the athlete's raw data — daily loads, profile, the workout just
finished — through `risk_features` / `recommend_input` to the request structs, and from
those through `risk_matrix` / `recommend_matrix` to the model's rows. Nothing else makes
a feature, so the model sees in serving what it saw in training
(tests/integration/test_feature_parity.py builds one workout's rows both ways).

Missing values are explicit: an input the athlete (or the device) did not give is None in
the request, and in the rows its column holds a neutral FILL value next to a `…_missing`
flag of 1. The training data has such gaps at documented rates, so the model learned what a
missing value means; no athlete silently becomes "35 years old, male, 70 kg" to the models.
(The workout metrics keep REFERENCE.md's documented defaults and list them under
`assumptions`; that is the metrics' contract, not the models'.)

FEATURE_SCHEMA names this encoding. A trained artifact records it (meta.json, then
`ai_models.feature_schema`), and a deploy refuses a model built for another schema.

Load quantities are on daily Banister TRIMP (actors/metrics/training_load.py), the daily load
that /work/shared/REFERENCE.md ("Training load", "Injury risk") uses for the ACWR, over the
last HISTORY_DAYS days (zeros for days without a finished workout; today includes the
workout just finished). Units: TRIMP (arbitrary units, "AU"), %, years, kg.

Monotony and strain are not in REFERENCE.md; they follow Foster 1998 (Med Sci Sports Exerc
30:1164): over the last 7 days (rest days count as 0), monotony = mean daily load / standard
deviation of daily load (population SD), strain = weekly load × monotony. A week of identical
days has SD 0, so monotony is capped at MONOTONY_CAP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from actors.metrics.risk import ACUTE_DAYS, CHRONIC_DAYS, HISTORY_DAYS

Goal = Literal["endurance", "weight_loss", "speed"]
Inventory = Literal["bike", "treadmill", "none"]
Sex = Literal["male", "female"]

GOALS: tuple[Goal, ...] = ("endurance", "weight_loss", "speed")
INVENTORIES: tuple[Inventory, ...] = ("bike", "treadmill", "none")
MONOTONY_CAP = 10.0
"""Foster's monotony is unbounded when every day of the week carries the same load."""
FEATURE_SCHEMA = 2
"""The encoding below. 1: no missing-value flags, drift 0 and SpO2 98 % when unknown, 28 or
42 days of history. 2: value + flag for every optional input, HISTORY_DAYS of history."""
FILL = {"age": 45.0, "weight_kg": 75.0, "cardiac_drift_pct": 0.0, "min_spo2": 97.0}
"""The neutral value a missing input's column holds (its flag says it is missing): about
the middle of the training population, so standardization is not skewed by the gaps."""


class RiskFeatures(msgspec.Struct, frozen=True, kw_only=True):
    """One athlete after a workout (or a profile change): load history up to and including
    today, and the signals of the workout just finished. The `risk` application's request."""

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
    cardiac_drift_pct: float | None
    """Rise of HR per unit speed at a steady pace in the workout, % (WorkoutSummary's, from
    actors.metrics.risk.drift_pct); None when not assessed (short, no HR or no GPS, or no
    workout triggered this)."""
    min_spo2: float | None
    """Lowest sustained SpO2 in the workout, % (REFERENCE.md "SpO2"); None without an oximeter."""
    age: float | None
    """Age in years; None when the athlete gave no birth date."""


RISK_FEATURES: tuple[str, ...] = (
    "acute_load", "chronic_load", "acwr", "monotony", "strain", "trimp_7d",
    "cardiac_drift_pct", "cardiac_drift_pct_missing", "min_spo2", "min_spo2_missing",
    "age", "age_missing")
"""The risk model's columns, in order."""


class RecommendInput(msgspec.Struct, frozen=True, kw_only=True):
    """The `recommend` application's request."""

    age: float | None
    """Years; None when unknown."""
    sex: Sex | None
    weight_kg: float | None
    goal: Goal | None
    """None: the athlete has not said."""
    inventory: Inventory
    """Equipment at hand: a bike, a treadmill, or neither (outdoor and bodyweight sessions
    only). Not saying counts as "none": a session needing kit one may not own is the worse
    mistake."""
    acute_load: float
    """As RiskFeatures.acute_load, AU."""
    chronic_load: float
    """As RiskFeatures.chronic_load, AU."""
    acwr: float
    risk_probability: float
    """Injury-risk probability from the risk model (or the workout's rule level), 0..1."""


RECOMMEND_FEATURES: tuple[str, ...] = (
    "age", "age_missing", "male", "sex_missing", "weight_kg", "weight_kg_missing",
    *(f"goal_{g}" for g in GOALS), "goal_missing", *(f"inventory_{i}" for i in INVENTORIES),
    "acute_load", "chronic_load", "acwr", "risk_probability")
"""The recommendation model's columns, in order (sex, goal, inventory one-hot)."""


def _value_and_flag(value: float | None, name: str) -> tuple[float, float]:
    return (FILL[name], 1.0) if value is None else (float(value), 0.0)


def risk_matrix(batch: Sequence[RiskFeatures]) -> np.ndarray:
    """Rows of RISK_FEATURES values, float32."""
    rows = [[x.acute_load, x.chronic_load, x.acwr, x.monotony, x.strain, x.trimp_7d,
             *_value_and_flag(x.cardiac_drift_pct, "cardiac_drift_pct"),
             *_value_and_flag(x.min_spo2, "min_spo2"), *_value_and_flag(x.age, "age")]
            for x in batch]
    return np.array(rows, dtype=np.float32).reshape(len(batch), len(RISK_FEATURES))


def recommend_matrix(batch: Sequence[RecommendInput]) -> np.ndarray:
    """Rows of RECOMMEND_FEATURES values, float32."""
    rows = [[*_value_and_flag(x.age, "age"), float(x.sex == "male"), float(x.sex is None),
             *_value_and_flag(x.weight_kg, "weight_kg"),
             *(float(x.goal == g) for g in GOALS), float(x.goal is None),
             *(float(x.inventory == i) for i in INVENTORIES),
             x.acute_load, x.chronic_load, x.acwr, x.risk_probability] for x in batch]
    return np.array(rows, dtype=np.float32).reshape(len(batch), len(RECOMMEND_FEATURES))


def _optional(values: Sequence[float | None] | np.ndarray, n: int) -> list[float | None]:
    """None for a missing value (None or NaN), else the float; one per athlete."""
    listed = values.tolist() if isinstance(values, np.ndarray) else values
    out = [None if v is None or v != v else float(v) for v in listed]
    if len(out) != n:
        raise ValueError(f"{len(out)} values for {n} athletes")
    return out


def risk_features(daily_loads: np.ndarray, *, age: Sequence[float | None] | np.ndarray,
                  cardiac_drift_pct: Sequence[float | None] | np.ndarray,
                  min_spo2: Sequence[float | None] | np.ndarray) -> list[RiskFeatures]:
    """The risk requests of athletes from their raw data: `daily_loads` (n, HISTORY_DAYS),
    oldest first, today (with the finished workout) last; a missing value is None or NaN."""
    loads = _history(daily_loads)
    f = load_features(loads)
    n = len(loads)
    columns = zip(*(f[name].tolist() for name in ("acute_load", "chronic_load", "acwr",
                                                   "monotony", "strain", "trimp_7d")),
                  _optional(cardiac_drift_pct, n), _optional(min_spo2, n), _optional(age, n),
                  strict=True)
    return [RiskFeatures(acute_load=a, chronic_load=c, acwr=r, monotony=m, strain=s, trimp_7d=t,
                         cardiac_drift_pct=d, min_spo2=o, age=y)
            for a, c, r, m, s, t, d, o, y in columns]


def recommend_input(*, age: float | None, sex: Sex | None, weight_kg: float | None,
                    goal: Goal | None, inventory: Inventory | None, acute_load: float,
                    chronic_load: float, acwr: float, risk_probability: float) -> RecommendInput:
    """The recommendation request from the athlete's raw data (None: missing)."""
    return RecommendInput(age=None if age is None else float(age), sex=sex,
                          weight_kg=None if weight_kg is None else float(weight_kg), goal=goal,
                          inventory=inventory or "none", acute_load=float(acute_load),
                          chronic_load=float(chronic_load), acwr=float(acwr),
                          risk_probability=float(risk_probability))


def _history(daily_loads: np.ndarray) -> np.ndarray:
    loads = np.atleast_2d(np.asarray(daily_loads, dtype=np.float64))
    if loads.shape[1] != HISTORY_DAYS:
        raise ValueError(f"the features take {HISTORY_DAYS} days of load, got {loads.shape[1]}")
    return loads


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
