"""Simulated athletes: plausible 1 Hz tracks with heart rate, SpO2 and GPS noise.

Each athlete runs laps of a loop around a base point at a speed that wanders around the
sport's typical pace. Heart rate follows effort with a lag (first-order response, time
constant ~30 s) and drifts upward slowly (cardiac drift); GPS fixes carry ~3 m of noise
and, rarely, a spike of a few hundred metres that the platform must reject.
"""

from __future__ import annotations

import math
import uuid

import msgspec
import numpy as np

from streams.events import Sample, Sport

M_PER_DEG_LAT = 111_195.08  # on the IUGG mean sphere

TYPICAL_SPEED_MPS: dict[str, float] = {"run": 3.2, "ride": 7.5, "walk": 1.4, "hike": 1.1}


class Athlete(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    workout_id: uuid.UUID
    sport: Sport
    samples: list[Sample]


class Route(msgspec.Struct, frozen=True):
    """A path to follow (e.g. a GPX track): points and the distance along it to each."""

    lat: list[float]
    lon: list[float]
    alt: list[float]
    along_m: list[float]

    @classmethod
    def of(cls, points: list[tuple[float, float, float | None]]) -> Route:
        lat, lon = np.array([p[0] for p in points]), np.array([p[1] for p in points])
        alt = np.array([np.nan if p[2] is None else p[2] for p in points])
        alt = np.where(np.isnan(alt), np.nanmean(alt) if np.isfinite(alt).any() else 0.0, alt)
        north = np.diff(lat) * M_PER_DEG_LAT
        east = np.diff(lon) * M_PER_DEG_LAT * np.cos(np.radians(lat[:-1]))
        along = np.concatenate(([0.0], np.cumsum(np.hypot(north, east))))
        return cls(lat.tolist(), lon.tolist(), alt.tolist(), along.tolist())


def simulate(name: str, sport: Sport, n: int, t0_ms: int, seed: int,
             base: tuple[float, float] = (48.8566, 2.3522), rate_hz: float = 1.0,
             route: Route | None = None) -> Athlete:
    """`n` samples at `rate_hz` starting at `t0_ms`: laps of a loop around `base`, or
    along `route` (from a random point of it, round again at its end)."""
    dt_s = 1.0 / rate_hz
    rng = np.random.default_rng(seed)
    v0 = TYPICAL_SPEED_MPS.get(sport, 3.0) * rng.uniform(0.85, 1.15)
    # Speed wanders (an AR(1) process) but stays positive.
    wander = np.zeros(n)
    for_noise = rng.normal(0, 0.05, n)
    wander[0] = 0.0
    wander[1:] = np.cumsum(for_noise[1:]) * 0.3
    speed = np.clip(v0 * (1 + 0.1 * np.tanh(wander)), 0.3, None)
    along_m = np.concatenate(([0.0], np.cumsum(speed[1:] * dt_s)))

    radius_m = rng.uniform(250, 600)
    centre_lat = base[0] + rng.uniform(-0.01, 0.01)
    centre_lon = base[1] + rng.uniform(-0.01, 0.01)
    angle = along_m / radius_m + rng.uniform(0, 2 * math.pi)
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(centre_lat))
    noise_north, noise_east = gps_error_m(rng, n), gps_error_m(rng, n)
    if route is not None and route.along_m[-1] > 0:
        at = (along_m + rng.uniform(0, route.along_m[-1])) % route.along_m[-1]
        lat = np.interp(at, route.along_m, route.lat) + noise_north / M_PER_DEG_LAT
        m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(route.lat[0]))
        lon = np.interp(at, route.along_m, route.lon) + noise_east / m_per_deg_lon
        alt = np.interp(at, route.along_m, route.alt) + rng.normal(0, 1.5, n)
    else:
        lat = centre_lat + (radius_m * np.sin(angle) + noise_north) / M_PER_DEG_LAT
        lon = centre_lon + (radius_m * np.cos(angle) + noise_east) / m_per_deg_lon
        alt = 35 + 8 * np.sin(angle * 2) + rng.normal(0, 1.5, n)
    spikes = rng.random(n) < 0.004
    lat = lat + spikes * rng.choice([-1, 1], n) * 400 / M_PER_DEG_LAT

    effort = speed / TYPICAL_SPEED_MPS.get(sport, 3.0)
    target_hr = 70 + 85 * effort + np.arange(n) * dt_s * 0.01  # drift: ~+0.6 bpm per minute
    hr = np.empty(n)
    hr[0] = 75.0
    lag = 1 - math.exp(-dt_s / 30)
    for i in range(1, n):  # a one-off generator, not a hot path
        hr[i] = hr[i - 1] + lag * (target_hr[i] - hr[i - 1])
    hr = np.clip(hr + rng.normal(0, 1.5, n), 40, 210)
    spo2 = np.clip(97.5 + rng.normal(0, 0.6, n), 90, 100)

    t = t0_ms + np.round(1000 * dt_s * np.arange(n))
    samples: list[Sample] = [
        (int(t[i]), round(float(lat[i]), 7), round(float(lon[i]), 7), round(float(alt[i]), 1),
         round(float(hr[i])), round(float(spo2[i]), 1))
        for i in range(n)
    ]
    return Athlete(name=name, workout_id=uuid.uuid4(), sport=sport, samples=samples)


def gps_error_m(rng: np.random.Generator, n: int, sigma_m: float = 3.0, rho: float = 0.95) -> np.ndarray:
    """GPS position error along one axis: an AR(1) process, since consecutive fixes of a
    consumer receiver share most of their error (multipath, atmosphere) rather than
    jittering independently. Stationary standard deviation `sigma_m`."""
    shocks = rng.normal(0, sigma_m * math.sqrt(1 - rho**2), n)
    err = np.empty(n)
    err[0] = rng.normal(0, sigma_m)
    for i in range(1, n):  # a one-off generator, not a hot path
        err[i] = rho * err[i - 1] + shocks[i]
    return err
