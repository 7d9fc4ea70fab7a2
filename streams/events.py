"""The one contract between Stride's producers and consumers: the events on Kafka.

Every value on a Stride topic is one of these Structs encoded as MessagePack, and on the
wire sealed with the athlete's data key and keyed by that key's id (streams/sealing.py);
unsealed (benches, tests) it is keyed by `key_of`. Events are past tense. Units are in the
field names; times are Unix ms.
"""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec

Sport = Literal["run", "ride", "walk", "swim", "row", "hike", "ski", "other"]
WorkoutStatus = Literal["created", "active", "paused", "finished"]

Sample = tuple[int | float | None, ...]
"""One reading: (t_ms, lat_deg, lon_deg, alt_m, hr_bpm, spo2_pct[, speed_mps, accuracy_m,
power_w]); None where no sensor reading. Six elements, or up to nine when the device sends
its Doppler speed, its horizontal accuracy (68 % radius) or power; SAMPLE_FIELDS names them."""
SAMPLE_FIELDS = ("t_ms", "lat", "lon", "alt_m", "hr_bpm", "spo2_pct", "speed_mps", "accuracy_m",
                 "power_w")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    workout_id: uuid.UUID
    user_id: uuid.UUID


class SamplesAccepted(Event, frozen=True, kw_only=True, tag="samples_accepted"):
    """Samples numbered seq, seq+1, … that the workout actor applied (each exactly once)."""

    sport: Sport
    seq: int
    samples: list[Sample]


class RiskSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Injury-risk flags with their reasons — flags, never a diagnosis (Impellizzeri 2020)."""

    level: Literal["low", "moderate", "high"] = "low"
    acwr: float | None = None
    """Acute:chronic workload ratio (EWMA, Williams et al. 2017); None without 28 days of history."""
    reasons: list[str] = []


class SplitSummary(msgspec.Struct, frozen=True, kw_only=True):
    km: int
    time_s: float
    avg_hr: float | None = None


class WorkoutSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What an athlete sees of a workout; updated live and final once finished.

    `version` grows with every change the actor makes, so a projection fed from several
    topics keeps the newest summary whatever order the events arrive in.
    """

    version: int
    status: WorkoutStatus
    sport: Sport
    started_at_ms: int
    ended_at_ms: int | None = None
    last_seq: int = -1
    samples_count: int = 0
    distance_m: float = 0.0
    duration_s: float = 0.0
    moving_time_s: float = 0.0
    avg_speed_mps: float = 0.0
    avg_pace_s_per_km: float | None = None
    elevation_gain_m: float = 0.0
    elevation_loss_m: float = 0.0
    avg_hr: float | None = None
    max_hr: float | None = None
    hr_zone_s: list[float] = msgspec.field(default_factory=lambda: [0.0] * 5)
    """Seconds in heart-rate zones 1..5."""
    calories_kcal: float = 0.0
    calories_method: str = "met"
    """keytel | keytel_vo2max | met | mixed (Keytel et al. 2005; Compendium 2011)."""
    trimp: float = 0.0
    """Banister TRIMP."""
    trimp_edwards: float = 0.0
    min_spo2: float | None = None
    spo2_low_alert: bool = False
    cardiac_drift_pct: float | None = None
    """Rise of heart rate per unit speed at a steady pace, first 5-minute window after the
    warm-up vs the latest, % (actors.metrics.risk); None until assessed."""
    sport_mismatch: str | None = None
    """The sport the speeds suggest when they stayed beyond this sport's top speed for two
    minutes (a ride saved as a walk: "ride"); None when they fit."""
    splits: list[SplitSummary] = []
    risk: RiskSummary = RiskSummary()
    assumptions: list[str] = []
    """Profile defaults the metrics assumed (e.g. "weight 70 kg (default)")."""


class WorkoutMetricsUpdated(Event, frozen=True, kw_only=True, tag="workout_metrics_updated"):
    """A live snapshot of a workout's metrics after `summary.last_seq` was applied."""

    t_ms: int
    summary: WorkoutSummary
    speed_mps: float | None = None
    hr_bpm: float | None = None
    hr_zone: int | None = None
    """The heart-rate zone (1..5) of `hr_bpm`; None below zone 1."""
    spo2_pct: float | None = None
    pace_s_per_km: float | None = None
    lat: float | None = None
    lon: float | None = None
    """The last accepted position (a rejected GPS spike never shows)."""


class RiskAlert(Event, frozen=True, kw_only=True, tag="risk_alert"):
    """The workout's injury-risk level rose."""

    at_ms: int
    level: Literal["low", "moderate", "high"]
    reasons: list[str]
    acwr: float | None = None


class WorkoutStarted(Event, frozen=True, kw_only=True, tag="workout_started"):
    summary: WorkoutSummary


class WorkoutPaused(Event, frozen=True, kw_only=True, tag="workout_paused"):
    at_ms: int
    summary: WorkoutSummary


class WorkoutResumed(Event, frozen=True, kw_only=True, tag="workout_resumed"):
    at_ms: int
    summary: WorkoutSummary


class WorkoutCompleted(Event, frozen=True, kw_only=True, tag="workout_completed"):
    at_ms: int
    summary: WorkoutSummary


class RecommendedWorkout(msgspec.Struct, frozen=True, kw_only=True):
    template_id: str
    sport: str
    duration_min: int
    target_zone: int
    intensity: str
    score: float


class PromoOffer(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    title: str
    expires_on: str
    """ISO date (YYYY-MM-DD), the last day the code is valid."""


class UserEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """An event about an athlete rather than one workout; keyed by `user_id`."""

    user_id: uuid.UUID


Trigger = Literal["workout_completed", "user_metrics_updated"]


class UserMetricsUpdated(UserEvent, frozen=True, kw_only=True, tag="user_metrics_updated"):
    """The athlete changed profile data the models use (the seed's UserMetricsUpdated):
    body data, goal or equipment. Published by the gateway after the change is stored."""

    update_id: uuid.UUID
    """Names this change, so a recommendation set derived from it is stored once."""
    at_ms: int
    changed: list[str]
    """The profile fields that changed, e.g. ["goal", "weight_kg"]."""


class RecommendationsReady(UserEvent, frozen=True, kw_only=True, tag="recommendations_ready"):
    """What the recommender produced for an athlete (the seed's NewRecommendationsReady),
    after a completed workout (`workout_id`) or a profile change. `recommendation_id` is
    derived from the trigger, so a replayed event stores nothing twice."""

    trigger: Trigger = "workout_completed"
    workout_id: uuid.UUID | None = None
    """The completed workout behind this set; None when a profile change triggered it."""
    recommendation_id: uuid.UUID
    model_type: str
    model_version: str
    """The `recommend` model's version that ranked the workouts, or `rules`."""
    generated_at_ms: int
    expires_at_ms: int
    workouts: list[RecommendedWorkout]
    promos: list[PromoOffer] = []
    risk_model_version: str | None = None
    """The `risk` model's version that judged the risk the ranking used, or `rules`
    (None in sets from before it was recorded)."""


class NotificationRequested(UserEvent, frozen=True, kw_only=True, tag="notification_requested"):
    """Something to tell an athlete (keyed by the recipient). Every part of Stride raises
    these; the notifications agent alone delivers them (in-app for now)."""

    notification_id: uuid.UUID
    """Names the notification, so a redelivered event is delivered once."""
    kind: str
    """What it is about, e.g. `group.coach_added`."""
    message: str
    health: bool = False
    """Whether the message carries health data: privacy/health.py decides who may get it."""


LifecycleEvent = WorkoutStarted | WorkoutPaused | WorkoutResumed | WorkoutCompleted
AnyEvent = (SamplesAccepted | WorkoutMetricsUpdated | RiskAlert | LifecycleEvent
            | UserMetricsUpdated | RecommendationsReady | NotificationRequested)

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[AnyEvent] = msgspec.msgpack.Decoder(AnyEvent)


def encode(event: AnyEvent) -> bytes:
    return _encoder.encode(event)


def decode(data: bytes) -> AnyEvent:
    """Decode any Stride event; raises msgspec.DecodeError / ValidationError on bad bytes."""
    return _decoder.decode(data)


def key_of(event: AnyEvent) -> bytes:
    """Partition key: all events of one workout (or, for a UserEvent, of one athlete) stay
    in order on one partition."""
    if isinstance(event, UserEvent):
        return event.user_id.bytes
    return event.workout_id.bytes
