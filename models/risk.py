"""Injury-risk model: a one-hidden-layer MLP on standardized RiskFeatures → probability.

Trained on synthetic data (models/synthetic.py), so the probability restates the heuristics
encoded there; like actors.metrics.risk it is a flag with reasons, never a diagnosis.

Contributions: gradient × input on the log-odds, in standardized units (Shrikumar et al. 2017,
"gradient*input"): for feature i, ∂logit/∂z_i · z_i with z = (x − training mean)/training SD, so
a feature at the training mean contributes 0. Positive values raise the risk. `top_features`
holds the TOP_K largest by absolute value, sign kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import torch
from torch import nn

from models.features import FEATURE_SCHEMA, RISK_FEATURES, RiskFeatures, risk_matrix

TOP_K = 3


class RiskPrediction(msgspec.Struct, frozen=True, kw_only=True):
    probability: float
    """Probability of injury or overload in the coming week, 0..1 (synthetic-data model)."""
    top_features: list[tuple[str, float]]
    """(feature name, contribution to the log-odds), the TOP_K largest |contribution| first."""


class RiskNet(nn.Module):
    def __init__(self, n_features: int = len(RISK_FEATURES), hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Log-odds, shape (n,)."""
        return torch.as_tensor(self.net(z)).squeeze(-1)


class RiskPredictor:
    def __init__(self, net: RiskNet, mean: np.ndarray, std: np.ndarray) -> None:
        self.net, self.mean, self.std = net.eval(), mean.astype(np.float32), std.astype(np.float32)

    @classmethod
    def load(cls, path: Path) -> RiskPredictor:
        """From an artifact directory written by models.train.train_risk."""
        meta = json.loads((Path(path) / "meta.json").read_text())
        if meta["type"] != "risk":
            raise ValueError(f"{path} is not a risk artifact")
        if meta.get("feature_schema") != FEATURE_SCHEMA or tuple(meta["features"]) != RISK_FEATURES:
            raise ValueError(f"{path} was trained on feature schema {meta.get('feature_schema', 1)},"
                             f" this code builds {FEATURE_SCHEMA}: train it again")
        net = RiskNet(hidden=int(meta["hidden"]))
        net.load_state_dict(torch.load(Path(path) / "model.pt", weights_only=True))
        return cls(net, np.array(meta["mean"]), np.array(meta["std"]))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for raw feature rows (RISK_FEATURES order)."""
        with torch.no_grad():
            logits = self.net(torch.from_numpy((x.astype(np.float32) - self.mean) / self.std))
        return np.asarray(torch.sigmoid(logits).numpy(), dtype=np.float64)

    def predict(self, batch: list[RiskFeatures]) -> list[RiskPrediction]:
        if not batch:
            return []
        z = torch.from_numpy((risk_matrix(batch) - self.mean) / self.std).requires_grad_(True)
        logits = self.net(z)
        (grad,) = torch.autograd.grad(logits.sum(), z)  # rows are independent: d(sum)/dz_i = dlogit_i/dz_i
        contrib = (grad * z).detach().numpy()
        probs = torch.sigmoid(logits).detach().numpy()
        out = []
        for p, row in zip(probs, contrib, strict=True):
            top = np.argsort(-np.abs(row), kind="stable")[:TOP_K]
            out.append(RiskPrediction(probability=float(p),
                                      top_features=[(RISK_FEATURES[i], float(row[i])) for i in top]))
        return out
