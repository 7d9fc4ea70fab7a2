"""The one field policy for health data (GDPR art. 9): heart rate, SpO2 and everything
derived from them — zones, calories, training load, injury risk, and the profile
assumptions behind them.

Every output that carries workout data goes through this module: the REST answers
(`redact_struct`), the live feed (`redact_payload`), notifications (`may_receive`) and,
later, exports. Each field name that can leave Stride is classified here, as health data
or not; tests/unit/test_health_policy.py fails when an output gains a field nobody
classified, so a new metric cannot leak by default.

Who may receive health data: everyone who may see the athlete at all — the athlete,
consented coaches, admins — except partners (unless they are also admins). Partners get
the workout without its health fields, and no health notification.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

HEALTH_FIELDS = frozenset({
    # readings
    "hr_bpm", "spo2_pct", "max_hr_bpm",
    # derived, per workout or per minute
    "hr_zone", "avg_hr", "max_hr", "hr_zone_s", "min_spo2", "spo2_low_alert",
    "calories_kcal", "calories_method", "trimp", "trimp_edwards", "cardiac_drift_pct", "risk",
    "assumptions",
})
"""Field names that carry health data, wherever they appear (nested ones included)."""

NOT_HEALTH_FIELDS = frozenset({
    "id", "workout_id", "athlete_id", "user_id", "type", "event", "status", "sport", "version",
    "started_at", "started_at_ms", "ended_at", "ended_at_ms", "t", "t_ms", "at_ms", "updated_at",
    "minute", "seq", "last_seq", "samples", "samples_count", "snapshots",
    "lat", "lon", "alt_m", "distance_m", "duration_s", "moving_time_s", "avg_speed_mps",
    "speed_mps", "avg_pace_s_per_km", "pace_s_per_km", "elevation_gain_m", "elevation_loss_m",
    "splits", "km", "time_s", "summary", "name", "sport_mismatch", "accuracy_m", "power_w",
    "title", "elapsed_s",
})
"""Field names checked and found free of health data."""

NO_HEALTH_ROLES = frozenset({"partner"})
"""Roles that never receive health data …"""
HEALTH_OVERRIDE_ROLES = frozenset({"admin"})
"""… unless the person also holds one of these."""

S = TypeVar("S", bound=msgspec.Struct)


def may_receive(roles: Iterable[str]) -> bool:
    """Whether someone with these roles may receive health data they may otherwise see."""
    held = set(roles)
    return not (held & NO_HEALTH_ROLES) or bool(held & HEALTH_OVERRIDE_ROLES)


def redact_struct(value: S) -> S:
    """The same Struct with every health field set to None, nested Structs included (the
    output types declare those fields optional)."""
    changes: dict[str, Any] = {}
    for name in value.__struct_fields__:
        current = getattr(value, name)
        if name in HEALTH_FIELDS:
            if current is not None:
                changes[name] = None
        elif isinstance(current, msgspec.Struct):
            changes[name] = redact_struct(current)
        elif isinstance(current, list) and current and isinstance(current[0], msgspec.Struct):
            changes[name] = [redact_struct(item) for item in current]
    return msgspec.structs.replace(value, **changes) if changes else value


def redact_payload(payload: Any) -> Any:
    """A JSON-like value (the live feed's messages) without its health keys, at any depth."""
    if isinstance(payload, dict):
        return {k: redact_payload(v) for k, v in payload.items() if k not in HEALTH_FIELDS}
    if isinstance(payload, list):
        return [redact_payload(v) for v in payload]
    return payload
