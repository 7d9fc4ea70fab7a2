"""The models see in serving what they saw in training: one finished workout's feature rows,
built by the recommender from PostgreSQL (the serving path, through the request the Serve
deployment decodes) and by the training path from the same raw data, are equal."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest

from actors.profile import AthleteProfile
from actors.workout import Workout
from models.features import (
    HISTORY_DAYS,
    RECOMMEND_FEATURES,
    RISK_FEATURES,
    RecommendInput,
    RiskFeatures,
    load_features,
    recommend_matrix,
    risk_matrix,
)
from models.synthetic import recommend_rows, risk_rows
from storage.athletes import profile_of
from storage.workouts import project_summary
from streams import events
from streams.agents import recommender

pytestmark = pytest.mark.integration

TODAY = dt.datetime.now(dt.UTC).date()
EARTH_M_PER_DEG = 111_195.08
EARLIER = {1: [80.0], 3: [120.0, 30.0], 30: [60.0], 55: [40.0], 56: [999.0], 0: [20.0]}
"""Days ago → loads of finished workouts before this one. Day 56 is outside the window;
day 0 is an earlier workout today."""


def _midday(days_ago: int) -> dt.datetime:
    day = TODAY - dt.timedelta(days=days_ago)
    return dt.datetime(day.year, day.month, day.day, 6, tzinfo=dt.UTC)


def _drifting_run(workout_id: uuid.UUID, user_id: uuid.UUID, profile: AthleteProfile,
                  with_oximeter: bool) -> events.WorkoutSummary:
    """A real 40-minute run at 3 m/s whose heart rate creeps up (cardiac drift), folded by the
    workout actor's own code, so the summary carries a measured drift."""
    start_ms = int(_midday(0).timestamp() * 1000) + 3_600_000
    workout = Workout.create(workout_id, user_id, "run", start_ms, profile)
    workout.start()
    hr = np.concatenate((np.full(600, 150.0), np.linspace(150.0, 165.0, 1801)))
    samples = [(start_ms + i * 1000, 45.0 + i * 3.0 / EARTH_M_PER_DEG, 7.0, None, float(h),
                (97.0 if i < 1200 else 93.0) if with_oximeter else None)
               for i, h in enumerate(hr)]
    for seq in range(0, len(samples), 100):  # a sample's seq is its number in the workout
        workout.apply_samples(seq, samples[seq:seq + 100])
    workout.finish(samples[-1][0])
    return workout.summary()


async def _athlete(conn: Any, birth: dt.date | None, sex: str | None, weight: float | None,
                   goal: str | None, inventory: str | None) -> uuid.UUID:
    cur = await conn.execute(
        "INSERT INTO users (email, birth_date, sex, weight_kg, goal, inventory, country)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'DE') RETURNING id",
        (f"parity-{uuid.uuid4().hex[:8]}@example.com", birth, sex, weight, goal, inventory))
    return (await cur.fetchone())[0]  # type: ignore[index]


async def _finished_before(conn: Any, user_id: uuid.UUID) -> None:
    for days_ago, loads in EARLIER.items():
        for n, load in enumerate(loads):
            started = _midday(days_ago) + dt.timedelta(minutes=n)
            at_ms = int(started.timestamp() * 1000)
            await project_summary(conn, uuid.uuid4(), user_id, events.WorkoutSummary(
                version=2, status="finished", sport="run", started_at_ms=at_ms,
                ended_at_ms=at_ms + 1_800_000, trimp=load))


def _days_by_hand(this_workout: float) -> np.ndarray:
    """The raw history as the training path takes it: HISTORY_DAYS days, oldest first."""
    days = np.zeros(HISTORY_DAYS)
    for days_ago, loads in EARLIER.items():
        if days_ago < HISTORY_DAYS:
            days[HISTORY_DAYS - 1 - days_ago] += sum(loads)
    days[-1] += this_workout
    return days.reshape(1, -1)


def _as_serve_decodes(request: msgspec.Struct, type_: type[msgspec.Struct]) -> Any:
    """What the deployment gets: the request as builtins over Ray, decoded to its struct."""
    return msgspec.convert(msgspec.to_builtins(request), type_)


PROFILES = {
    "complete": {"birth": dt.date(1990, 4, 2), "sex": "female", "weight": 61.5, "goal": "speed",
                 "inventory": "bike"},
    "silent": {"birth": None, "sex": None, "weight": None, "goal": None, "inventory": None},
}


@pytest.mark.parametrize("oximeter", [True, False], ids=["oximeter", "no-oximeter"])
@pytest.mark.parametrize("given", PROFILES.values(), ids=PROFILES.keys())
async def test_one_workout_makes_the_same_rows_in_training_and_serving(
        migrated_db: str, given: dict[str, Any], oximeter: bool) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        user = await _athlete(conn, **given)
        await _finished_before(conn, user)
        profile = await profile_of(conn, user, TODAY)
        workout_id = uuid.uuid4()
        summary = _drifting_run(workout_id, user, profile, oximeter)
        # the projection may already hold the finished workout: it must still count once
        await project_summary(conn, workout_id, user, summary)
        trigger = recommender.Trigger(user_id=user, kind="workout_completed",
                                      trigger_id=workout_id, workout=summary)
        inputs = await recommender.model_inputs(conn, trigger, TODAY)
    assert inputs is not None
    assert summary.cardiac_drift_pct is not None and summary.cardiac_drift_pct > 5.0
    assert (summary.min_spo2 is not None) == oximeter

    risk = recommender.risk_request(inputs)
    serving_risk = risk_matrix([_as_serve_decodes(risk, RiskFeatures)])
    serving_rec = recommend_matrix([_as_serve_decodes(
        recommender.recommend_request(inputs, risk, 0.3), RecommendInput)])

    days = _days_by_hand(summary.trimp)
    age = None if given["birth"] is None else (TODAY - given["birth"]).days / 365.25
    training_risk = risk_rows(days, age=[age], cardiac_drift_pct=[summary.cardiac_drift_pct],
                              min_spo2=[summary.min_spo2])
    loads = load_features(days)
    training_rec = recommend_rows(
        age=[age], sex=[given["sex"]], weight_kg=[given["weight"]], goal=[given["goal"]],
        inventory=[given["inventory"]], acute_load=loads["acute_load"].tolist(),
        chronic_load=loads["chronic_load"].tolist(), acwr=loads["acwr"].tolist(),
        risk_probability=[0.3])

    np.testing.assert_array_equal(serving_risk, training_risk)
    np.testing.assert_array_equal(serving_rec, training_rec)
    risk_row = dict(zip(RISK_FEATURES, serving_risk[0].tolist(), strict=True))
    rec_row = dict(zip(RECOMMEND_FEATURES, serving_rec[0].tolist(), strict=True))
    assert risk_row["cardiac_drift_pct"] == pytest.approx(summary.cardiac_drift_pct, rel=1e-6)
    assert risk_row["cardiac_drift_pct_missing"] == 0.0
    assert risk_row["min_spo2_missing"] == (0.0 if oximeter else 1.0)
    silent = given["birth"] is None
    assert risk_row["age_missing"] == rec_row["age_missing"] == rec_row["weight_kg_missing"] \
        == rec_row["sex_missing"] == rec_row["goal_missing"] == float(silent)
    assert risk_row["trimp_7d"] == pytest.approx(80 + 120 + 30 + 20 + summary.trimp, rel=1e-6)


async def test_a_profile_change_has_no_workout_signals_and_says_so(migrated_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db, autocommit=True) as conn:
        user = await _athlete(conn, **PROFILES["complete"])
        await _finished_before(conn, user)
        trigger = recommender.Trigger(user_id=user, kind="user_metrics_updated",
                                      trigger_id=uuid.uuid4())
        inputs = await recommender.model_inputs(conn, trigger, TODAY)
    assert inputs is not None
    row = dict(zip(RISK_FEATURES, risk_matrix([recommender.risk_request(inputs)])[0].tolist(),
                   strict=True))
    assert row["cardiac_drift_pct_missing"] == row["min_spo2_missing"] == 1.0
    assert row["age_missing"] == 0.0
    np.testing.assert_array_equal(
        risk_matrix([recommender.risk_request(inputs)]),
        risk_rows(_days_by_hand(0.0), age=[inputs.profile.age_y], cardiac_drift_pct=[None],
                  min_spo2=[None]))
