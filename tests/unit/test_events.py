"""The event contract: every kind survives the codec, and each is keyed so that what must
stay in order stays on one partition."""

from __future__ import annotations

import uuid

import pytest

from streams import events

pytestmark = pytest.mark.unit

USER, WORKOUT = uuid.uuid4(), uuid.uuid4()


def test_athlete_events_round_trip_and_are_keyed_by_the_athlete() -> None:
    change = events.UserMetricsUpdated(user_id=USER, update_id=uuid.uuid4(), at_ms=1,
                                       changed=["goal", "inventory"])
    ready = events.RecommendationsReady(
        user_id=USER, trigger="user_metrics_updated", recommendation_id=uuid.uuid4(),
        model_type="recommend", model_version="v1", generated_at_ms=1, expires_at_ms=2,
        workouts=[events.RecommendedWorkout(template_id="t", sport="run", duration_min=30,
                                            target_zone=2, intensity="easy", score=0.5)])
    for event in (change, ready):
        assert events.decode(events.encode(event)) == event
        assert events.key_of(event) == USER.bytes
    assert ready.workout_id is None


def test_workout_events_are_keyed_by_the_workout() -> None:
    done = events.WorkoutCompleted(workout_id=WORKOUT, user_id=USER, at_ms=5,
                                   summary=events.WorkoutSummary(version=3, status="finished",
                                                                 sport="run", started_at_ms=1))
    assert events.decode(events.encode(done)) == done
    assert events.key_of(done) == WORKOUT.bytes


def test_a_set_stored_before_triggers_existed_still_decodes_as_after_a_workout() -> None:
    import msgspec

    old = {"type": "recommendations_ready", "workout_id": str(WORKOUT), "user_id": str(USER),
           "recommendation_id": str(uuid.uuid4()), "model_type": "recommend",
           "model_version": "v0", "generated_at_ms": 1, "expires_at_ms": 2, "workouts": []}
    ready = msgspec.json.decode(msgspec.json.encode(old), type=events.RecommendationsReady)
    assert (ready.trigger, ready.workout_id) == ("workout_completed", WORKOUT)
