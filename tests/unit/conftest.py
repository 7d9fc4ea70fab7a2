"""Factories for the unit tests: GPS tracks as device samples, and new workouts.

Tracks are laid out on the same sphere (R1) the distance metric uses, so the true length of
a track is known exactly; tests against the WGS84 ellipsoid use `geographiclib` instead.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from actors.metrics.distance import EARTH_RADIUS_M
from actors.workout import Workout
from streams.events import Sample, Sport


def destination(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """The point `dist_m` from (lat, lon) along `bearing_deg` on the R1 sphere (degrees)."""
    p1, l1, th = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    dl = dist_m / EARTH_RADIUS_M
    p2 = math.asin(math.sin(p1) * math.cos(dl) + math.cos(p1) * math.sin(dl) * math.cos(th))
    l2 = l1 + math.atan2(math.sin(th) * math.sin(dl) * math.cos(p1),
                         math.cos(dl) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


class Tracks:
    """Builders of sample lists; every sample is (t_ms, lat, lon, alt_m, hr_bpm, spo2_pct)."""

    destination = staticmethod(destination)

    def moved(self, sample: Sample, bearing_deg: float, dist_m: float) -> Sample:
        """The same sample with its position moved `dist_m` along `bearing_deg`."""
        t, lat, lon, alt, hr, spo2 = sample
        assert lat is not None and lon is not None
        lat, lon = destination(lat, lon, bearing_deg, dist_m)
        return (t, lat, lon, alt, hr, spo2)

    def straight(self, n: int, speed_mps: float, *, start: tuple[float, float] = (45.0, 7.0),
                 bearing_deg: float = 0.0, t0_ms: int = 0, dt_ms: int = 1000,
                 hr_bpm: float | None = None, spo2_pct: float | None = None) -> list[Sample]:
        """`n` fixes along one great circle, `speed_mps · dt` apart (n − 1 steps)."""
        step_m = speed_mps * dt_ms / 1000.0
        out: list[Sample] = []
        for i in range(n):
            lat, lon = destination(start[0], start[1], bearing_deg, step_m * i)
            out.append((t0_ms + i * dt_ms, lat, lon, None, hr_bpm, spo2_pct))
        return out

    def wander(self, rng: np.random.Generator, n: int, *, start: tuple[float, float] | None = None,
               t0_ms: int = 0, stops: bool = True) -> tuple[list[Sample], float]:
        """A 1 Hz random walk at running speeds, with standing stops; returns (samples, length_m).

        Headings turn gradually; speeds are 2–5 m/s, and with `stops` about one second in
        ten is spent standing still.
        """
        lat, lon = start if start is not None else (rng.uniform(-60, 60), rng.uniform(-180, 180))
        heading = rng.uniform(0, 360)
        out: list[Sample] = [(t0_ms, lat, lon, None, None, None)]
        length = 0.0
        for i in range(1, n):
            heading += rng.normal(0, 15)
            speed = 0.0 if stops and rng.random() < 0.1 else rng.uniform(2.0, 5.0)
            lat, lon = destination(lat, lon, heading, speed)
            length += speed
            out.append((t0_ms + i * 1000, lat, lon, None, None, None))
        return out, length


@pytest.fixture
def tracks() -> Tracks:
    return Tracks()


def split_randomly(samples: Sequence[Sample], rng: np.random.Generator,
                   max_size: int = 40) -> list[list[Sample]]:
    """Cut `samples` into consecutive batches of random sizes 1..max_size."""
    batches, i = [], 0
    while i < len(samples):
        size = int(rng.integers(1, max_size + 1))
        batches.append(list(samples[i : i + size]))
        i += size
    return batches


@pytest.fixture
def split() -> Callable[[Sequence[Sample], np.random.Generator], list[list[Sample]]]:
    return split_randomly


WORKOUT_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")
USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def new_workout() -> Callable[..., Workout]:
    """Factory: a created (not yet started) workout with fixed ids, started at T0_MS."""

    def make(sport: Sport = "run", started_at_ms: int = T0_MS) -> Workout:
        return Workout.create(WORKOUT_ID, USER_ID, sport, started_at_ms)

    return make
