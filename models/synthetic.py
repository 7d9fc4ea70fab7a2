"""Synthetic training data for the risk and recommendation models, and every assumption in it.

No labelled public data links these features to injuries or to workout choices, so the labels
below are *made up to encode published heuristics*; a model trained on them can at best learn
those heuristics back. Metrics on this data say that training works, not that the model
predicts real injuries. Everything is drawn from `np.random.default_rng(seed)`, so a seed fixes
the data exactly.

The features are made from the draws by the serving code path (models.features.risk_features,
recommend_input, risk_matrix, recommend_matrix: `risk_rows` and `recommend_rows` below), and
each optional input is missing at a documented rate, as in real profiles and devices; the
label is drawn from the true value, so the model learns what a missing value implies.

Risk (`risk_dataset`)
---------------------
Athletes: HISTORY_DAYS (56) days of daily Banister TRIMP (oldest first, the last day is today,
including the workout just finished), from which models.features.load_features computes the
EWMA loads, ACWR, monotony, strain and 7-day TRIMP.
- habitual load B ~ LogNormal(ln 60, 0.45) AU/day; sessions per week s uniform on 3..7, each day a
  session with probability s/7; a session's load is B·7/s × Gamma(mean 1, CV c), c ~ U(0.1, 0.8)
  per athlete (low c with daily sessions gives high monotony);
- the last 7 days are scaled by m ~ LogNormal(0, 0.35): spikes (m > 1) and tapers (m < 1), which
  spreads the ACWR over roughly 0.6-2.0;
- age ~ U(18, 70) years;
- cardiac drift % = 2 + 4·(ACWR − 1) + 0.05·(age − 35) + N(0, 3), clipped to [−5, 30]
  (fatigue and age raise drift; Friel's 5 % decoupling threshold sits inside the spread);
- minimum SpO2 %: with probability 0.12 exercise-induced hypoxaemia, N(90.5, 2.5), else
  N(96, 1.0); clipped to [80, 100] (REFERENCE.md "SpO2" ranges).
Missing (RISK_MISSING): age 25 % (no birth date), cardiac drift 30 % (a short workout, or no
heart rate or GPS), minimum SpO2 60 % (most devices have no oximeter).
Label: injury (or overload) within the coming week ~ Bernoulli(sigmoid(logit)), where
logit = RISK_INTERCEPT plus these effects (log-odds):
- ACWR above 1.3:      +3.0 per unit of ACWR above 1.3 (Gabbett 2016: spikes raise risk;
                       1.3-1.5 mild, ≥ 1.5 a flag). ACWR 1.8 → +1.5, odds × 4.5;
- ACWR below 0.8:      +2.0 per unit below 0.8 (under-loading, Gabbett 2016's U shape);
- monotony above 2.0:  +0.6 per unit above 2.0 (Foster 1998: monotony > 2 with high load
                       preceded illness);
- strain above 1500:   +0.5 per 1000 AU above 1500 (Foster 1998);
- chronic load:        −0.6 per 30 AU above 60 AU/day (+0.6 per 30 below): fitness protects
                       (Gabbett 2016, the "training-injury prevention paradox");
- cardiac drift:       +0.12 per % above 5 %;
- minimum SpO2:        +0.45 per % below 93 % (moderate EIH and worse);
- age:                 +0.03 per year above 35;
- acute load and 7-day TRIMP: no direct effect (they act through the ACWR and strain).
The intercept puts the base rate near 15 %.

Recommendation (`recommend_dataset`)
------------------------------------
Athletes: age ~ U(18, 70); sex male/female 50/50; weight ~ N(70, 9) kg women, N(82, 11) kg men,
clipped to [45, 140]; goal and inventory uniform over their three values; chronic load
~ LogNormal(ln 60, 0.45), ACWR ~ LogNormal(0, 0.3), acute = chronic × ACWR; risk probability
= sigmoid(−1.2 + 3·max(0, ACWR − 1.3) + N(0, 1)) (about 15 % end at ≥ 0.5).
Missing (RECOMMEND_MISSING): age 25 %, sex 15 %, weight 30 %, goal 30 %.
Each athlete picks the allowed template (models.recommend.allowed_mask: equipment at hand, no
hard session at risk ≥ 0.5) of highest utility + Gumbel noise (scale 1.0), with utility
(models.recommend.utility, which also ranks by rule when no model is deployed):
- goal: −0.8 per zone away from the goal's zone (endurance 2, weight loss 3, speed 4.5) and
  −1 per 25 min away from its duration (endurance 80, weight loss 50, speed 35 min);
- equipment: +0.8 for a template using equipment the athlete has (they own it to use it);
- load: −1.5·(ACWR − 1.3) per intensity level (easy 0, moderate 1, hard 2) above ACWR 1.3;
  +0.5 for moderate sessions below ACWR 0.8 (rebuilding);
- risk: −3·risk probability per intensity level;
- age: −0.02 per year above 35 per intensity level, +0.02 per year above 35 for walks/swims;
- weight: +0.5 per 20 kg above 80 kg for low-impact sports (ride, swim, walk, row), and the
  same amount subtracted for runs;
- sex: no effect.
All of these use the athlete's true values, missing or not.
The chosen template is the one relevant item when measuring hit rate and NDCG.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from models.features import (
    GOALS,
    HISTORY_DAYS,
    INVENTORIES,
    RECOMMEND_FEATURES,
    RISK_FEATURES,
    Goal,
    Inventory,
    RecommendInput,
    Sex,
    load_features,
    recommend_input,
    recommend_matrix,
    risk_features,
    risk_matrix,
)
from models.recommend import CATALOGUE, allowed_mask, utility

RISK_MISSING = {"age": 0.25, "cardiac_drift_pct": 0.30, "min_spo2": 0.60}
RECOMMEND_MISSING = {"age": 0.25, "sex": 0.15, "weight_kg": 0.30, "goal": 0.30}
RISK_INTERCEPT = -3.1


class RiskData(msgspec.Struct, frozen=True, kw_only=True):
    x: np.ndarray
    """(n, len(RISK_FEATURES)) float32, columns in RISK_FEATURES order."""
    y: np.ndarray
    """(n,) float32 labels 0/1."""
    p_true: np.ndarray
    """(n,) the generating probability, for checking calibration against the truth."""


class RecommendData(msgspec.Struct, frozen=True, kw_only=True):
    inputs: list[RecommendInput]
    """The requests as observed (gaps included), the rows' source."""
    x: np.ndarray
    """(n, len(RECOMMEND_FEATURES)) float32."""
    allowed: np.ndarray
    """(n, len(CATALOGUE)) bool: the hard rules."""
    chosen: np.ndarray
    """(n,) int64: index into CATALOGUE of the template picked."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.maximum(x, 0.0))


def daily_loads(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, HISTORY_DAYS) daily TRIMP histories, oldest first."""
    base = rng.lognormal(np.log(60.0), 0.45, size=(n, 1))
    sessions = rng.integers(3, 8, size=(n, 1))
    cv = rng.uniform(0.1, 0.8, size=(n, 1))
    trains = rng.random((n, HISTORY_DAYS)) < sessions / 7.0
    shape = 1.0 / cv**2
    size = rng.gamma(np.broadcast_to(shape, (n, HISTORY_DAYS)), 1.0) / shape
    loads = np.where(trains, base * 7.0 / sessions * size, 0.0)
    loads[:, -7:] *= rng.lognormal(0.0, 0.35, size=(n, 1))
    return np.asarray(loads, dtype=np.float64)


def risk_logit(f: dict[str, np.ndarray]) -> np.ndarray:
    """The generating log-odds; the effects are listed in the module docstring."""
    return np.asarray(RISK_INTERCEPT
                      + 3.0 * _relu(f["acwr"] - 1.3) + 2.0 * _relu(0.8 - f["acwr"])
                      + 0.6 * _relu(f["monotony"] - 2.0) + 0.5 * _relu(f["strain"] - 1500.0) / 1000.0
                      - 0.6 * (f["chronic_load"] - 60.0) / 30.0
                      + 0.12 * _relu(f["cardiac_drift_pct"] - 5.0) + 0.45 * _relu(93.0 - f["min_spo2"])
                      + 0.03 * (f["age"] - 35.0))


def risk_rows(daily_loads: np.ndarray, *, age: Sequence[float | None] | np.ndarray,
              cardiac_drift_pct: Sequence[float | None] | np.ndarray,
              min_spo2: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """The training path from raw data to the risk model's rows (None or NaN: missing)."""
    return risk_matrix(risk_features(daily_loads, age=age, cardiac_drift_pct=cardiac_drift_pct,
                                     min_spo2=min_spo2))


def recommend_rows(*, age: Sequence[float | None], sex: Sequence[Sex | None],
                   weight_kg: Sequence[float | None], goal: Sequence[Goal | None],
                   inventory: Sequence[Inventory | None], acute_load: Sequence[float],
                   chronic_load: Sequence[float], acwr: Sequence[float],
                   risk_probability: Sequence[float]) -> np.ndarray:
    """The training path from raw data to the recommendation model's rows (None: missing)."""
    return recommend_matrix(_recommend_inputs(
        age=age, sex=sex, weight_kg=weight_kg, goal=goal, inventory=inventory,
        acute_load=acute_load, chronic_load=chronic_load, acwr=acwr,
        risk_probability=risk_probability))


def _recommend_inputs(**columns: Sequence[Any]) -> list[RecommendInput]:
    names = list(columns)
    return [recommend_input(**dict(zip(names, row, strict=True)))
            for row in zip(*columns.values(), strict=True)]


def _hide(rng: np.random.Generator, values: np.ndarray, rate: float) -> list[object]:
    """The values as observed: each missing (None) with probability `rate`."""
    gone = rng.random(len(values)) < rate
    return [None if g else v.item() for v, g in zip(values, gone, strict=True)]


def risk_dataset(n: int, seed: int) -> RiskData:
    rng = np.random.default_rng(seed)
    loads = daily_loads(rng, n)
    f = load_features(loads)
    f["age"] = rng.uniform(18.0, 70.0, size=n)
    f["cardiac_drift_pct"] = np.clip(2.0 + 4.0 * (f["acwr"] - 1.0) + 0.05 * (f["age"] - 35.0)
                                     + rng.normal(0.0, 3.0, size=n), -5.0, 30.0)
    eih = rng.random(n) < 0.12
    f["min_spo2"] = np.clip(np.where(eih, rng.normal(90.5, 2.5, size=n), rng.normal(96.0, 1.0, size=n)),
                            80.0, 100.0)
    p = _sigmoid(risk_logit(f))
    y = (rng.random(n) < p).astype(np.float32)
    seen = {name: _hide(rng, f[name], rate) for name, rate in RISK_MISSING.items()}
    x = risk_rows(loads, **seen)  # type: ignore[arg-type]
    assert x.shape[1] == len(RISK_FEATURES)
    return RiskData(x=x, y=y, p_true=p)


def _athletes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    male = rng.random(n) < 0.5
    chronic = rng.lognormal(np.log(60.0), 0.45, size=n)
    acwr = rng.lognormal(0.0, 0.3, size=n)
    weight_kg = np.where(male, rng.normal(82.0, 11.0, n), rng.normal(70.0, 9.0, n))
    return {
        "age": rng.uniform(18.0, 70.0, size=n), "male": male.astype(np.float64),
        "weight_kg": np.clip(weight_kg, 45.0, 140.0),
        "goal": np.array(GOALS)[rng.integers(0, 3, size=n)],
        "inventory": np.array(INVENTORIES)[rng.integers(0, 3, size=n)],
        "acute_load": chronic * acwr, "chronic_load": chronic, "acwr": acwr,
        "risk_probability": _sigmoid(-1.2 + 3.0 * _relu(acwr - 1.3) + rng.normal(0.0, 1.0, size=n)),
    }


def recommend_dataset(n: int, seed: int) -> RecommendData:
    rng = np.random.default_rng(seed)
    a = _athletes(rng, n)
    allowed = allowed_mask(a["inventory"], a["risk_probability"])
    noisy = utility(a) + rng.gumbel(0.0, 1.0, size=(n, len(CATALOGUE)))
    chosen = np.where(allowed, noisy, -np.inf).argmax(axis=1)
    sex = np.where(a["male"] > 0.5, "male", "female")
    seen = {"age": _hide(rng, a["age"], RECOMMEND_MISSING["age"]),
            "sex": _hide(rng, sex, RECOMMEND_MISSING["sex"]),
            "weight_kg": _hide(rng, a["weight_kg"], RECOMMEND_MISSING["weight_kg"]),
            "goal": _hide(rng, a["goal"], RECOMMEND_MISSING["goal"])}
    inputs = _recommend_inputs(**seen, inventory=a["inventory"].tolist(),
                               **{k: a[k].tolist() for k in ("acute_load", "chronic_load", "acwr",
                                                             "risk_probability")})
    x = recommend_matrix(inputs)
    assert x.shape[1] == len(RECOMMEND_FEATURES)
    return RecommendData(inputs=inputs, x=x, allowed=allowed, chosen=chosen.astype(np.int64))
