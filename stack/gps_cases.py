"""True paths laid out in metres, with seeded GPS noise, as device samples: the cases the
distance method is measured on (tests/unit/test_distance_noise.py, tests/e2e/test_gps_noise.py
and `stride bench gps`, stack/bench_gps.py).

Noise is Gaussian per axis (σ 5 m unless said) plus, at 1 % of fixes, an outlier 15–30 m
away: white noise, as the issue's cases ask. Real GPS error is correlated over tens of
seconds; the real track in tests/e2e/test_tracks_and_gateways.py covers that side."""

from __future__ import annotations

import math

import numpy as np

from actors.metrics.distance import M_PER_DEG
from streams.events import Sample

LAT0, LON0 = 46.05, 14.5
T0 = 1_767_225_600_000


def samples(xy: np.ndarray, t_ms: np.ndarray, speed: np.ndarray | None = None,
             accuracy: np.ndarray | None = None) -> list[Sample]:
    kx = M_PER_DEG * math.cos(math.radians(LAT0))
    out: list[Sample] = []
    for i, ((x, y), t) in enumerate(zip(xy, t_ms, strict=True)):
        row: Sample = (int(t), float(LAT0 + y / M_PER_DEG), float(LON0 + x / kx), None, 140.0, None)
        if speed is not None or accuracy is not None:
            row = (*row, None if speed is None else float(speed[i]),
                   None if accuracy is None else float(accuracy[i]))
        out.append(row)
    return out


def noise(rng: np.random.Generator, n: int, sigma: float = 5.0, outliers: float = 0.01) -> np.ndarray:
    e = rng.normal(0.0, sigma, (n, 2))
    far = rng.random(n) < outliers
    r, a = rng.uniform(15.0, 30.0, n), rng.uniform(0.0, 2 * np.pi, n)
    e[far] += np.stack([r * np.cos(a), r * np.sin(a)], axis=1)[far]
    return e


def still(n: int) -> np.ndarray:
    return np.zeros((n, 2))


def line(n: int, v: float) -> np.ndarray:
    return np.stack([np.arange(n) * v, np.zeros(n)], axis=1)


def winding(rng: np.random.Generator, n: int, v: float, turn_deg: float = 2.0) -> np.ndarray:
    heading = np.cumsum(rng.normal(0.0, math.radians(turn_deg), n))
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * v
    return np.concatenate([[[0.0, 0.0]], np.cumsum(steps[:-1], axis=0)])


def stop_and_go(cycles: int, v: float) -> tuple[np.ndarray, float]:
    """2 min standing, 2 min moving, `cycles` times; returns (path, seconds moving)."""
    points, at = [], np.zeros(2)
    for _ in range(cycles):
        points += [at.copy()] * 120
        for _ in range(120):
            at = at + np.array([v, 0.0])
            points.append(at.copy())
    return np.array(points), 120.0 * cycles


def length(xy: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
