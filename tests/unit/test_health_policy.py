"""The one field policy for health data: every field that can leave Stride is classified,
health fields are removed for those who may not receive them, and nothing else is."""

from __future__ import annotations

import datetime as dt
import typing
import uuid

import msgspec
import pytest

from gateway.workout_splits_api import SplitsOut
from gateway.workouts_api import SampleOut, SplitOut, WorkoutOut, to_out
from privacy import health
from storage.timeseries import MinuteMetrics
from storage.workouts import WorkoutRow
from streams.events import RiskSummary, SplitSummary, WorkoutMetricsUpdated, WorkoutSummary

pytestmark = pytest.mark.unit

OUTPUTS = [WorkoutSummary, WorkoutMetricsUpdated, SplitSummary, WorkoutOut, SplitOut, SampleOut,
           MinuteMetrics, SplitsOut]
"""Every Struct whose fields go out to people other than the athlete (REST, live feed)."""


def _fields(struct: type[msgspec.Struct]) -> set[str]:
    names = set(struct.__struct_fields__)
    for name, hint in typing.get_type_hints(struct).items():
        if name in health.HEALTH_FIELDS:
            continue  # dropped whole: what is inside never goes out
        for inner in typing.get_args(hint) or (hint,):
            for leaf in typing.get_args(inner) or (inner,):
                if isinstance(leaf, type) and issubclass(leaf, msgspec.Struct) and leaf is not struct:
                    names |= _fields(leaf)
    return names


@pytest.mark.parametrize("struct", OUTPUTS, ids=lambda s: s.__name__)
def test_every_outgoing_field_is_classified(struct: type[msgspec.Struct]) -> None:
    unclassified = _fields(struct) - health.HEALTH_FIELDS - health.NOT_HEALTH_FIELDS
    assert not unclassified, f"classify in privacy/health.py: {sorted(unclassified)}"


def test_no_field_is_both() -> None:
    assert not health.HEALTH_FIELDS & health.NOT_HEALTH_FIELDS


def _row() -> WorkoutRow:
    summary = WorkoutSummary(
        version=3, status="finished", sport="run", started_at_ms=1_790_000_000_000,
        ended_at_ms=1_790_000_600_000, distance_m=2000.0, avg_hr=151.0, max_hr=178.0,
        hr_zone_s=[1.0, 2.0, 3.0, 4.0, 5.0], calories_kcal=210.0, trimp=55.0, min_spo2=93.0,
        cardiac_drift_pct=4.5,
        splits=[SplitSummary(km=1, time_s=300.0, avg_hr=150.0)],
        risk=RiskSummary(level="moderate", acwr=1.4, reasons=["acwr 1.40"]),
        assumptions=["weight 70 kg (default)"])
    return WorkoutRow(id=uuid.uuid4(), user_id=uuid.uuid4(), summary=summary,
                      updated_at=dt.datetime.now(dt.UTC))


def test_a_workout_without_health_keeps_everything_else() -> None:
    full, redacted = to_out(_row(), True), to_out(_row(), False)
    gone = {f for f in WorkoutOut.__struct_fields__ if getattr(redacted, f) is None
            and getattr(full, f) is not None}
    assert gone == {"avg_hr", "max_hr", "hr_zone_s", "calories_kcal", "calories_method", "trimp",
                    "trimp_edwards", "min_spo2", "spo2_low_alert", "cardiac_drift_pct", "risk",
                    "assumptions"}
    assert redacted.splits[0].avg_hr is None and redacted.splits[0].time_s == 300.0
    assert redacted.distance_m == full.distance_m == 2000.0


def test_live_payloads_lose_health_keys_at_any_depth() -> None:
    payload = {"type": "update", "hr_bpm": 150, "lat": 45.0,
               "summary": {"avg_hr": 140, "distance_m": 10.0, "risk": {"level": "high"},
                           "splits": [{"km": 1, "avg_hr": 150}]}}
    assert health.redact_payload(payload) == {
        "type": "update", "lat": 45.0, "summary": {"distance_m": 10.0, "splits": [{"km": 1}]}}


@pytest.mark.parametrize(("roles", "may"), [
    ([], True), (["athlete"], True), (["athlete", "coach"], True), (["partner"], False),
    (["athlete", "partner", "coach"], False), (["partner", "admin"], True),
])
def test_who_may_receive_health_data(roles: list[str], may: bool) -> None:
    assert health.may_receive(roles) is may
