"""Workout recommendation: a catalogue of templates, ranked for one athlete by a small scorer.

Without a deployed model (or with Ray away) `rule_recommend` ranks by `utility`, the
heuristics the synthetic training data encodes (models/synthetic.py lists them), without its
noise; such an answer names the version RULES ("rules").

The scorer is a one-hidden-layer MLP from the athlete's standardized RecommendInput to one logit
per catalogue template, trained with softmax cross-entropy on which template synthetic athletes
chose (models/synthetic.py). Two hard rules are applied after scoring, so no weight can break
them:
- a template that needs equipment the athlete does not have is never recommended;
- at risk_probability ≥ HIGH_RISK_PROBABILITY (0.5) no `hard` template is ever recommended.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np
import torch
from torch import nn

from models.features import FEATURE_SCHEMA, RECOMMEND_FEATURES, Inventory, RecommendInput, recommend_matrix
from streams.events import Sport

Intensity = Literal["easy", "moderate", "hard"]
HIGH_RISK_PROBABILITY = 0.5
"""At or above this injury-risk probability hard sessions are withheld (a policy, not a finding)."""
INTENSITY_LEVEL: dict[Intensity, int] = {"easy": 0, "moderate": 1, "hard": 2}
RULES = "rules"
"""The version an answer names when the rules, not a trained model, made it."""
GOAL_ZONE = {"endurance": 2.0, "weight_loss": 3.0, "speed": 4.5}
GOAL_MINUTES = {"endurance": 80.0, "weight_loss": 50.0, "speed": 35.0}
LOW_IMPACT = ("ride", "swim", "walk", "row")


class WorkoutTemplate(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    sport: Sport
    duration_min: int
    target_zone: int
    """Heart-rate zone 1..5 (%HRmax bands, REFERENCE.md "Heart rate")."""
    intensity: Intensity
    needs: Inventory
    """Equipment the session needs: "bike", "treadmill", or "none"."""
    title: str


def _t(id_: str, sport: Sport, minutes: int, zone: int, intensity: Intensity, needs: Inventory,
       title: str) -> WorkoutTemplate:
    return WorkoutTemplate(id=id_, sport=sport, duration_min=minutes, target_zone=zone, intensity=intensity,
                           needs=needs, title=title)


CATALOGUE: tuple[WorkoutTemplate, ...] = (
    _t("walk-brisk-45", "walk", 45, 2, "easy", "none", "Brisk walk"),
    _t("walk-long-90", "walk", 90, 1, "easy", "none", "Long walk"),
    _t("hike-120", "hike", 120, 2, "moderate", "none", "Hill hike"),
    _t("run-recovery-30", "run", 30, 1, "easy", "none", "Recovery run"),
    _t("run-easy-45", "run", 45, 2, "easy", "none", "Easy run"),
    _t("run-long-90", "run", 90, 2, "moderate", "none", "Long run"),
    _t("run-tempo-40", "run", 40, 4, "hard", "none", "Tempo run"),
    _t("run-intervals-35", "run", 35, 5, "hard", "none", "Track intervals 6x800 m"),
    _t("run-fartlek-45", "run", 45, 3, "moderate", "none", "Fartlek"),
    _t("treadmill-easy-30", "run", 30, 2, "easy", "treadmill", "Treadmill easy run"),
    _t("treadmill-hills-40", "run", 40, 4, "hard", "treadmill", "Treadmill hill repeats"),
    _t("treadmill-walk-incline-45", "walk", 45, 3, "moderate", "treadmill", "Incline treadmill walk"),
    _t("ride-endurance-90", "ride", 90, 2, "moderate", "bike", "Endurance ride"),
    _t("ride-recovery-40", "ride", 40, 1, "easy", "bike", "Recovery spin"),
    _t("ride-sweetspot-60", "ride", 60, 3, "moderate", "bike", "Sweet-spot ride"),
    _t("ride-vo2-45", "ride", 45, 5, "hard", "bike", "VO2max intervals 5x3 min"),
    _t("ride-long-150", "ride", 150, 2, "moderate", "bike", "Long ride"),
    _t("swim-technique-30", "swim", 30, 2, "easy", "none", "Technique swim"),
    _t("swim-intervals-40", "swim", 40, 4, "hard", "none", "Swim intervals"),
    _t("row-steady-30", "row", 30, 3, "moderate", "none", "Steady row"),
)
TEMPLATE_IDS: tuple[str, ...] = tuple(t.id for t in CATALOGUE)


class Recommendation(msgspec.Struct, frozen=True, kw_only=True):
    template_id: str
    sport: Sport
    duration_min: int
    target_zone: int
    intensity: Intensity
    needs: Inventory
    title: str
    score: float
    """Model probability that the athlete picks this template among those allowed, 0..1."""


def allowed_mask(inventory: np.ndarray, risk_probability: np.ndarray) -> np.ndarray:
    """(n, len(CATALOGUE)) booleans: the templates the hard rules allow for each athlete.
    `inventory` holds Inventory strings, `risk_probability` probabilities."""
    needs = np.array([t.needs for t in CATALOGUE])
    hard = np.array([t.intensity == "hard" for t in CATALOGUE])
    inv = np.asarray(inventory).reshape(-1, 1)
    has_kit = (needs == "none") | (needs == inv)
    risky = (np.asarray(risk_probability, dtype=np.float64) >= HIGH_RISK_PROBABILITY).reshape(-1, 1)
    return np.asarray(has_kit & ~(risky & hard))


def utility(a: dict[str, np.ndarray]) -> np.ndarray:
    """(n, len(CATALOGUE)) noiseless utilities from columns `age`, `weight_kg`, `goal`,
    `inventory`, `acwr`, `risk_probability` (the terms: models/synthetic.py). A missing age or
    weight (NaN) or goal (None) drops the terms that need it."""
    zone = np.array([t.target_zone for t in CATALOGUE], dtype=np.float64)
    minutes = np.array([t.duration_min for t in CATALOGUE], dtype=np.float64)
    level = np.array([INTENSITY_LEVEL[t.intensity] for t in CATALOGUE], dtype=np.float64)
    needs = np.array([t.needs for t in CATALOGUE])
    sport = np.array([t.sport for t in CATALOGUE])
    col = {k: np.asarray(v).reshape(-1, 1) for k, v in a.items()}
    goal_zone = np.array([[GOAL_ZONE.get(g, np.nan)] for g in col["goal"][:, 0]])
    goal_min = np.array([[GOAL_MINUTES.get(g, np.nan)] for g in col["goal"][:, 0]])
    u = np.nan_to_num(-0.8 * np.abs(zone - goal_zone) - np.abs(minutes - goal_min) / 25.0)
    u = u + 0.8 * ((needs != "none") & (needs == col["inventory"]))
    acwr = col["acwr"].astype(np.float64)
    u = u - 1.5 * _relu(acwr - 1.3) * level + 0.5 * (acwr < 0.8) * (level == 1)
    u = u - 3.0 * col["risk_probability"].astype(np.float64) * level
    older = np.nan_to_num(col["age"].astype(np.float64) - 35.0)
    u = u - 0.02 * _relu(older) * level + 0.02 * _relu(older) * np.isin(sport, ("walk", "swim"))
    heavy = np.nan_to_num(0.5 * _relu(col["weight_kg"].astype(np.float64) - 80.0) / 20.0)
    u = u + heavy * np.isin(sport, LOW_IMPACT) - heavy * (sport == "run")
    return np.asarray(u)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.maximum(x, 0.0))


def rule_recommend(batch: list[RecommendInput], k: int = 5) -> list[list[Recommendation]]:
    """The k best allowed templates by `utility`, best first; `score` is the softmax of the
    utility over the allowed templates (the choice probability the heuristics imply)."""
    if not batch:
        return []
    return _best(*rule_scores(batch), k)


def rule_scores(batch: list[RecommendInput]) -> tuple[np.ndarray, np.ndarray]:
    """(scores, allowed) by the rules, like Recommender.scores."""
    nan = float("nan")
    u = utility({
        "age": np.array([nan if x.age is None else x.age for x in batch]),
        "weight_kg": np.array([nan if x.weight_kg is None else x.weight_kg for x in batch]),
        "goal": np.array([x.goal for x in batch], dtype=object),
        "inventory": np.array([x.inventory for x in batch]),
        "acwr": np.array([x.acwr for x in batch]),
        "risk_probability": np.array([x.risk_probability for x in batch])})
    allowed = allowed_mask(np.array([x.inventory for x in batch]),
                           np.array([x.risk_probability for x in batch]))
    return _softmax_allowed(u, allowed), allowed


def _softmax_allowed(u: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    masked = np.where(allowed, u, -np.inf)
    e = np.exp(masked - masked.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _best(scores: np.ndarray, allowed: np.ndarray, k: int) -> list[list[Recommendation]]:
    out = []
    for row, ok in zip(scores, allowed, strict=True):
        order = [int(j) for j in np.argsort(-row, kind="stable") if ok[j]][:k]
        out.append([_recommendation(CATALOGUE[j], float(row[j])) for j in order])
    return out


class RecommendNet(nn.Module):
    def __init__(self, n_features: int = len(RECOMMEND_FEATURES), hidden: int = 64,
                 n_templates: int = len(CATALOGUE)) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_templates))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.net(z))


def masked_scores(logits: torch.Tensor, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the allowed templates only; disallowed ones score exactly 0."""
    masked = logits.masked_fill(~torch.from_numpy(allowed), float("-inf"))
    return np.asarray(torch.softmax(masked, dim=1).detach().numpy(), dtype=np.float64)


class Recommender:
    def __init__(self, net: RecommendNet, mean: np.ndarray, std: np.ndarray) -> None:
        self.net, self.mean, self.std = net.eval(), mean.astype(np.float32), std.astype(np.float32)

    @classmethod
    def load(cls, path: Path) -> Recommender:
        """From an artifact directory written by models.train.train_recommender."""
        meta = json.loads((Path(path) / "meta.json").read_text())
        if meta["type"] != "recommend":
            raise ValueError(f"{path} is not a recommender artifact")
        if meta.get("feature_schema") != FEATURE_SCHEMA or tuple(meta["features"]) != RECOMMEND_FEATURES:
            raise ValueError(f"{path} was trained on feature schema {meta.get('feature_schema', 1)},"
                             f" this code builds {FEATURE_SCHEMA}: train it again")
        if tuple(meta["templates"]) != TEMPLATE_IDS:
            raise ValueError(f"{path} was trained on another workout catalogue")
        net = RecommendNet(hidden=int(meta["hidden"]))
        net.load_state_dict(torch.load(Path(path) / "model.pt", weights_only=True))
        return cls(net, np.array(meta["mean"]), np.array(meta["std"]))

    def scores(self, batch: list[RecommendInput]) -> tuple[np.ndarray, np.ndarray]:
        """(scores, allowed), each (len(batch), len(CATALOGUE)): scores after the hard rules."""
        z = (recommend_matrix(batch) - self.mean) / self.std
        with torch.no_grad():
            logits = self.net(torch.from_numpy(z))
        allowed = allowed_mask(np.array([x.inventory for x in batch]),
                               np.array([x.risk_probability for x in batch]))
        return masked_scores(logits, allowed), allowed

    def recommend(self, batch: list[RecommendInput], k: int = 5) -> list[list[Recommendation]]:
        """The k best allowed templates for each input, best first (fewer if fewer are allowed)."""
        if not batch:
            return []
        scores, allowed = self.scores(batch)
        return _best(scores, allowed, k)


def _recommendation(t: WorkoutTemplate, score: float) -> Recommendation:
    return Recommendation(template_id=t.id, sport=t.sport, duration_min=t.duration_min,
                          target_zone=t.target_zone, intensity=t.intensity, needs=t.needs, title=t.title,
                          score=score)
