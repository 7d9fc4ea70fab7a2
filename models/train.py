"""Train the risk and recommendation models on synthetic data, on CPU, from a fixed seed.

Each trainer draws its data (models/synthetic.py), holds out HELD_OUT of it, trains, measures
the held-out metrics against a simple baseline, and writes an artifact directory:
`model.pt` (the state_dict) and `meta.json` (type, feature schema and names, standardization,
seed, metrics). The artifact bytes depend only on the seed (timings are returned, not stored), so
`artifact_sha256` identifies a trained model.

Metrics: AUC (Mann-Whitney, ties counted half), Brier score, expected calibration error over
ECE_BINS equal-width bins (Naeini et al. 2015); hit rate@K and NDCG@K with the athlete's one
chosen template as the relevant item (Järvelin & Kekäläinen 2002), against popularity and
against the rules (models.recommend.rule_recommend) the recommender falls back on.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from actors.metrics.risk import DRIFT_FLAG_PCT
from actors.metrics.spo2 import EIH_BELOW_PCT, LOW_THRESHOLD_PCT
from models.features import FEATURE_SCHEMA, RECOMMEND_FEATURES, RISK_FEATURES
from models.recommend import CATALOGUE, TEMPLATE_IDS, RecommendNet, rule_scores
from models.risk import RiskNet
from models.synthetic import recommend_dataset, risk_dataset

HELD_OUT = 0.25
ECE_BINS = 10
K = 5


def auc(score: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score), dtype=np.float64)
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score[np.r_[False, np.diff(score[order]) == 0]] if len(score) else []):
        ranks[score == value] = ranks[score == value].mean()  # ties: average rank
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def ece(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Σ over bins of (share of rows) × |mean prediction − observed rate|."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.mean() * abs(float(p[sel].mean()) - float(y[sel].mean()))
    return total


def ranking_metrics(scores: np.ndarray, allowed: np.ndarray, chosen: np.ndarray,
                    k: int = K) -> dict[str, float]:
    """hit rate@k and NDCG@k of the chosen template, ranking only allowed templates."""
    masked = np.where(allowed, scores, -np.inf)
    rank = (masked > masked[np.arange(len(chosen)), chosen][:, None]).sum(axis=1)  # 0 = first
    hit = rank < k
    gain = np.where(hit, 1.0 / np.log2(rank + 2), 0.0)
    return {f"hit_rate@{k}": float(hit.mean()), f"ndcg@{k}": float(gain.mean())}


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed + 1).permutation(n)
    cut = int(n * (1 - HELD_OUT))
    return perm[:cut], perm[cut:]


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = x.mean(axis=0), x.std(axis=0)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def _fit(net: nn.Module, z: np.ndarray, target: torch.Tensor, loss_fn: Any, seed: int, epochs: int,
         batch: int, lr: float, mask: np.ndarray | None = None) -> None:
    """Adam with shuffled minibatches; `mask` (bool, like the logits) sets disallowed logits to −∞."""
    torch.manual_seed(seed)
    zt = torch.from_numpy(z)
    mt = torch.from_numpy(mask) if mask is not None else None
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.split(torch.randperm(len(zt), generator=gen), batch):
            out = net(zt[idx])
            if mt is not None:
                out = out.masked_fill(~mt[idx], float("-inf"))
            opt.zero_grad()
            loss_fn(out, target[idx]).backward()
            opt.step()
    net.eval()


def _save(out_dir: Path, net: nn.Module, meta: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out_dir / "model.pt")
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def rule_score(x: np.ndarray) -> np.ndarray:
    """The live actor's rule (actors.metrics.risk.result) on features: ACWR level 0/1/2, one step
    more each for drift ≥ 5 % and SpO2 below the low threshold, capped at 2; severe SpO2 → 2."""
    col = {name: x[:, i] for i, name in enumerate(RISK_FEATURES)}
    acwr = col["acwr"]
    level = np.where(acwr >= 1.5, 2, np.where((acwr > 1.3) | (acwr < 0.8), 1, 0))
    level = level + (col["cardiac_drift_pct"] >= DRIFT_FLAG_PCT) + (col["min_spo2"] < LOW_THRESHOLD_PCT)
    level = np.minimum(level, 2)
    return np.asarray(np.where(col["min_spo2"] < EIH_BELOW_PCT["severe"], 2, level), dtype=np.float64)


def _acwr_logistic(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int) -> np.ndarray:
    """Baseline: logistic regression on the ACWR alone."""
    i = RISK_FEATURES.index("acwr")
    mean, std = _standardize(x_tr[:, i:i + 1])
    torch.manual_seed(seed)
    net = nn.Linear(1, 1)
    _fit(net, (x_tr[:, i:i + 1] - mean) / std, torch.from_numpy(y_tr).unsqueeze(1), nn.BCEWithLogitsLoss(),
         seed, epochs=5, batch=256, lr=0.05)
    with torch.no_grad():
        return np.asarray(torch.sigmoid(net(torch.from_numpy((x_te[:, i:i + 1] - mean) / std))).squeeze(1))


def train_risk(seed: int, out_dir: Path, n: int = 20_000, hidden: int = 16,
               epochs: int = 30) -> dict[str, Any]:
    """Train the risk MLP; returns held-out metrics (model and baselines) and train_seconds."""
    start = time.perf_counter()
    data = risk_dataset(n, seed)
    tr, te = _split(n, seed)
    mean, std = _standardize(data.x[tr])
    torch.manual_seed(seed)  # the initial weights
    net = RiskNet(hidden=hidden)
    _fit(net, (data.x[tr] - mean) / std, torch.from_numpy(data.y[tr]), nn.BCEWithLogitsLoss(), seed,
         epochs=epochs, batch=256, lr=0.01)
    with torch.no_grad():
        p = torch.sigmoid(net(torch.from_numpy((data.x[te] - mean) / std))).numpy().astype(np.float64)
    y = data.y[te].astype(np.float64)
    p_acwr = _acwr_logistic(data.x[tr], data.y[tr], data.x[te], seed).astype(np.float64)
    metrics = {
        "auc": auc(p, y), "brier": brier(p, y), "ece": ece(p, y),
        "baseline_rule_auc": auc(rule_score(data.x[te]), y),
        "baseline_acwr_logistic_auc": auc(p_acwr, y), "baseline_acwr_logistic_brier": brier(p_acwr, y),
        "baseline_acwr_logistic_ece": ece(p_acwr, y),
        "oracle_auc": auc(data.p_true[te], y), "prevalence": float(y.mean()),
        "n_train": len(tr), "n_held_out": len(te),
    }
    _save(out_dir, net, {"type": "risk", "feature_schema": FEATURE_SCHEMA, "features": list(RISK_FEATURES),
                         "mean": mean.tolist(), "std": std.tolist(), "hidden": hidden, "seed": seed,
                         "metrics": metrics})
    return metrics | {"train_seconds": time.perf_counter() - start}


def train_recommender(seed: int, out_dir: Path, n: int = 20_000, hidden: int = 64,
                      epochs: int = 12) -> dict[str, Any]:
    """Train the template scorer; returns held-out hit rate/NDCG@K (model and popularity)."""
    start = time.perf_counter()
    data = recommend_dataset(n, seed)
    tr, te = _split(n, seed)
    mean, std = _standardize(data.x[tr])
    torch.manual_seed(seed)
    net = RecommendNet(hidden=hidden)
    _fit(net, (data.x[tr] - mean) / std, torch.from_numpy(data.chosen[tr]), nn.CrossEntropyLoss(), seed,
         epochs=epochs, batch=256, lr=0.005, mask=data.allowed[tr])
    with torch.no_grad():
        logits = net(torch.from_numpy((data.x[te] - mean) / std)).numpy()
    # Popularity: how often each template was chosen in training (ties broken by catalogue order),
    # under the same hard rules as the model.
    counts = np.bincount(data.chosen[tr], minlength=len(CATALOGUE)) - np.arange(len(CATALOGUE)) * 1e-6
    model = ranking_metrics(logits, data.allowed[te], data.chosen[te])
    popular = ranking_metrics(np.broadcast_to(counts, logits.shape), data.allowed[te], data.chosen[te])
    # The rules the data was generated from (without their noise), on the same gappy inputs:
    # what the recommender answers with when no model is deployed.
    rules = ranking_metrics(rule_scores([data.inputs[i] for i in te])[0], data.allowed[te],
                            data.chosen[te])
    metrics = model | {f"baseline_popularity_{k}": v for k, v in popular.items()} | {
        f"baseline_rules_{k}": v for k, v in rules.items()} | {
        "n_train": len(tr), "n_held_out": len(te)}
    _save(out_dir, net, {"type": "recommend", "feature_schema": FEATURE_SCHEMA,
                         "features": list(RECOMMEND_FEATURES), "mean": mean.tolist(),
                         "std": std.tolist(), "hidden": hidden, "seed": seed, "templates": list(TEMPLATE_IDS),
                         "metrics": metrics})
    return metrics | {"train_seconds": time.perf_counter() - start}


def artifact_sha256(out_dir: Path) -> str:
    """sha256 over every file under out_dir: relative path, NUL, length, NUL, bytes, in path order."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(out_dir).rglob("*") if p.is_file()):
        data = f.read_bytes()
        h.update(f.relative_to(out_dir).as_posix().encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()
