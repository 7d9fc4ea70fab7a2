"""All of a workout's running metrics: one state, one fold per batch, one summary.

Each metric is an incremental aggregator in actors/metrics/; this module only runs them
over a batch and gathers their results into the summary's fields. Distance goes first: it
releases samples once the distance up to them is decided (actors/metrics/distance.py), and
the metrics that need each sample's cumulative distance — splits, calories, cardiac drift
and the rest of risk — fold those released samples; heart rate, training load, SpO2 and
elevation fold every sample at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from actors.batch import Batch, batch_from_samples
from actors.metrics import (
    calories,
    distance,
    elevation,
    heart_rate,
    risk,
    splits,
    spo2,
    training_load,
)
from actors.profile import AthleteProfile
from streams import events
from streams.events import Sample, Sport

LEVELS = ("low", "moderate", "high")


class MetricsState(msgspec.Struct, kw_only=True):
    distance: distance.DistanceState = msgspec.field(default_factory=distance.initial)
    splits: splits.SplitsState = msgspec.field(default_factory=splits.initial)
    elevation: elevation.ElevationState = msgspec.field(default_factory=elevation.initial)
    heart_rate: heart_rate.HeartRateState = msgspec.field(default_factory=heart_rate.initial)
    calories: calories.CaloriesState = msgspec.field(default_factory=calories.initial)
    training_load: training_load.TrainingLoadState = msgspec.field(
        default_factory=training_load.initial)
    spo2: spo2.SpO2State = msgspec.field(default_factory=spo2.initial)
    risk: risk.RiskState = msgspec.field(default_factory=risk.initial)


def fold(m: MetricsState, samples: Sequence[Sample], sport: Sport, profile: AthleteProfile,
         counting: bool) -> MetricsState:
    """The state after `samples` (`counting=False` while paused: nothing accrues)."""
    batch = batch_from_samples(samples)
    dist_state, released = distance.update(m.distance, batch, samples,
                                           distance.SPORT_LIMITS[sport], counting)
    return _fold_others(m, dist_state, batch, released, sport, profile, counting)


def flush(m: MetricsState, sport: Sport, profile: AthleteProfile, counting: bool) -> MetricsState:
    """Decide the distance of every sample still pending (before a pause or the finish)."""
    dist_state, released = distance.flush(m.distance, distance.SPORT_LIMITS[sport])
    return _fold_others(m, dist_state, batch_from_samples([]), released, sport, profile, counting)


def _fold_others(m: MetricsState, dist_state: distance.DistanceState, batch: Batch,
                 released: distance.Released, sport: Sport, profile: AthleteProfile,
                 counting: bool) -> MetricsState:
    timing = heart_rate.intervals(m.heart_rate.carry, batch)  # once for the HR-weighted metrics
    late, cumulative_m = released.batch, released.cumulative_m
    late_timing = heart_rate.intervals(m.splits.carry, late)  # the released samples' own
    return MetricsState(
        distance=dist_state,
        splits=splits.update(m.splits, late, cumulative_m, counting, timing=late_timing),
        elevation=elevation.update(m.elevation, batch, counting),
        heart_rate=heart_rate.update(m.heart_rate, batch, profile, counting, timing=timing),
        calories=calories.update(m.calories, late, profile, sport, cumulative_m, counting,
                                 timing=late_timing),
        training_load=training_load.update(m.training_load, batch, profile, counting,
                                           timing=timing),
        spo2=spo2.update(m.spo2, batch),
        risk=risk.update(m.risk, late, profile, cumulative_m, timing=late_timing),
    )


def risk_now(m: MetricsState, history: list[tuple[dt.date, float]], day: dt.date) -> risk.Risk:
    """Level and reasons, from the load ratio including this workout so far and the live signals."""
    today_load = training_load.result(m.training_load).trimp_banister
    acwr = risk.acwr_for_today(history, day, today_load)
    return risk.result(m.risk, acwr=acwr, spo2=spo2.result(m.spo2))


def summary_fields(m: MetricsState, profile: AthleteProfile, current_risk: risk.Risk,
                   sport: Sport) -> dict[str, object]:
    """The metric fields of events.WorkoutSummary."""
    hr, kcal, load = heart_rate.result(m.heart_rate), calories.result(m.calories), \
        training_load.result(m.training_load)
    ox, ele, sp = spo2.result(m.spo2), elevation.result(m.elevation), splits.result(m.splits)
    moving_s = m.distance.moving_ms / 1000.0
    return {
        "distance_m": distance.result(m.distance),
        "moving_time_s": moving_s,
        "avg_speed_mps": m.distance.distance_m / moving_s if moving_s > 0 else 0.0,
        "elevation_gain_m": ele.gain_m,
        "elevation_loss_m": ele.loss_m,
        "avg_hr": hr.avg_hr_bpm,
        "max_hr": hr.max_hr_bpm,
        "hr_zone_s": hr.hr_zone_s,
        "calories_kcal": kcal.calories_kcal,
        "calories_method": kcal.method,
        "trimp": load.trimp_banister,
        "trimp_edwards": load.trimp_edwards,
        "min_spo2": ox.min_spo2_pct,
        "spo2_low_alert": ox.low_alert,
        "cardiac_drift_pct": current_risk.hr_drift_pct,
        "sport_mismatch": distance.sport_mismatch(m.distance, sport),
        "avg_pace_s_per_km": sp.avg_pace_s_per_km,
        "splits": [events.SplitSummary(km=s.km, time_s=s.time_s, avg_hr=s.avg_hr_bpm)
                   for s in sp.splits],
        "risk": events.RiskSummary(level=current_risk.level, acwr=current_risk.acwr,
                                   reasons=current_risk.reasons),
        "assumptions": profile.defaults_used(),
    }


def live_readings(m: MetricsState, profile: AthleteProfile) -> dict[str, float | int | None]:
    """The current readings for a live view: speed, pace, heart rate and its zone (1..5),
    SpO2, and the last accepted position."""
    hr_bpm = heart_rate.result(m.heart_rate).hr_bpm
    return {"speed_mps": m.distance.speed_mps, "hr_bpm": hr_bpm,
            "hr_zone": heart_rate.current_zone(hr_bpm, profile),
            "spo2_pct": spo2.result(m.spo2).spo2_pct,
            "pace_s_per_km": splits.result(m.splits).pace_s_per_km,
            "lat": m.distance.last_lat, "lon": m.distance.last_lon}
