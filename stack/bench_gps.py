"""`stride bench gps`: the distance method's error on seeded noisy tracks, many seeds.

Runs the cases of issue 15 (stack/gps_cases.py) through actors/metrics/distance.py directly
(no stack needed), each with `seeds` noise draws folded in random batches, and reports per
case the mean and the worst error of distance and moving time. The README's table of the
method's known error comes from this report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
from rich.console import Console
from rich.progress import Progress

from actors.batch import batch_from_samples
from actors.metrics import distance
from stack.bench_actors import save_report
from stack.gps_cases import T0, length, line, noise, samples, still, stop_and_go, winding

console = Console()


class Case(msgspec.Struct, frozen=True):
    name: str
    sport: str
    make: Callable[[np.random.Generator], tuple[np.ndarray, float]]
    """The true path (metres) and its moving seconds, from a seeded generator."""
    limit: str
    """What issue 15 asks of the case."""
    dt_ms: int = 1000
    doppler: bool = False


def _moving(path: np.ndarray) -> tuple[np.ndarray, float]:
    return path, float(len(path) - 1)


def _circle(n: int, v: float, r: float = 36.5) -> np.ndarray:
    th = np.arange(n) * v / r
    return np.stack([r * np.sin(th), r * (1 - np.cos(th))], axis=1)


CASES = (
    Case("still 10 min", "run", lambda r: (still(600), 0.0), "< 50 m, < 60 s moving"),
    Case("walk 1.0 m/s, straight", "walk", lambda r: _moving(line(600, 1.0)), "within 3 %"),
    Case("walk 1.0 m/s, winding", "walk", lambda r: _moving(winding(r, 600, 1.0)), "within 3 %"),
    Case("run 3 m/s, straight", "run", lambda r: _moving(line(600, 3.0)), "within 1.5 %"),
    Case("run 3 m/s, winding", "run", lambda r: _moving(winding(r, 600, 3.0)), "within 1.5 %"),
    Case("run 3.5 m/s, 400 m track", "run", lambda r: _moving(_circle(600, 3.5)), "(a run)"),
    Case("stop and go, walk 1.2 m/s", "walk", lambda r: stop_and_go(4, 1.2), "moving within 5 %"),
    Case("stop and go, run 3 m/s", "run", lambda r: stop_and_go(4, 3.0), "moving within 5 %"),
    Case("ride 8 m/s saved as a hike", "hike", lambda r: _moving(winding(r, 900, 8.0)), "nothing lost"),
    Case("ride 7 m/s, a fix every 30 s", "ride", lambda r: _moving(winding(r, 120, 210.0, 10.0)),
         "nothing lost", dt_ms=30_000),
    Case("walk 1.2 m/s with Doppler", "walk", lambda r: stop_and_go(3, 1.2), "(Doppler)", doppler=True),
)


def measure(case: Case, seed: int) -> tuple[float, float]:
    """(distance error: % of the true length, or metres when it stands; moving-time error, s)."""
    rng = np.random.default_rng(seed)
    path, moving_s = case.make(np.random.default_rng(1000 + seed))
    t = T0 + np.arange(len(path)) * case.dt_ms
    speed = None
    if case.doppler:
        step = np.r_[np.linalg.norm(np.diff(path, axis=0), axis=1) / (case.dt_ms / 1000.0), 0.0]
        speed = np.abs(step + rng.normal(0.0, 0.15, len(path)))
    rows = samples(path + noise(rng, len(path)), t, speed=speed)
    limits, state, at = distance.SPORT_LIMITS[case.sport], distance.initial(), 0
    while at < len(rows):
        part = rows[at:at + int(rng.integers(1, 31))]
        at += len(part)
        state, _ = distance.update(state, batch_from_samples(part), part, limits)
    state, _ = distance.flush(state, limits)
    true_m = length(path)
    error = (state.distance_m - true_m) / true_m * 100.0 if true_m > 0 else state.distance_m
    return error, state.moving_ms / 1000.0 - moving_s * case.dt_ms / 1000.0


def run(seeds: int = 50) -> int:
    rows: list[dict[str, Any]] = []
    with Progress(console=console) as progress:
        task = progress.add_task("GPS cases", total=len(CASES) * seeds)
        for case in CASES:
            errors, moving = [], []
            for seed in range(seeds):
                e, m = measure(case, seed)
                errors.append(e)
                moving.append(m)
                progress.advance(task)
            still_case = length(case.make(np.random.default_rng(0))[0]) == 0
            rows.append({"case": case.name, "sport": case.sport, "asked": case.limit,
                         "unit": "m" if still_case else "%",
                         "distance_mean": float(np.mean(errors)),
                         "distance_worst": float(max(errors, key=abs)),
                         "moving_mean_s": float(np.mean(moving)),
                         "moving_worst_s": float(max(moving, key=abs))})
    lines = [f"Distance and moving time on seeded noise: σ 5 m per axis, 1 % outliers of 15–30 m,"
             f" {seeds} seeds a case, random batches (stride bench gps).", "",
             "| case | asked | distance error: mean / worst | moving time error: mean / worst |",
             "|---|---|---|---|"]
    for r in rows:
        unit = r["unit"]
        lines.append(f"| {r['case']} | {r['asked']} | {_fmt(r['distance_mean'], unit)} /"
                     f" {_fmt(r['distance_worst'], unit)} | {r['moving_mean_s']:+.1f} /"
                     f" {r['moving_worst_s']:+.1f} s |")
    save_report("gps", {"seeds": seeds, "cases": rows}, "\n".join(lines) + "\n")
    return 0


def _fmt(value: float, unit: str) -> str:
    return f"{value:.1f} m" if unit == "m" else f"{value:+.2f} %" if math.isfinite(value) else "-"
