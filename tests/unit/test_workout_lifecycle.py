"""The workout state machine: created → active ⇄ paused → finished, and its events."""

from __future__ import annotations

import pytest

from actors.workout import Workout, WorkoutError
from streams import events

pytestmark = pytest.mark.unit

T0 = 1_767_225_600_000
SAMPLE = (T0 + 1000, 45.0, 7.0, None, 140.0, 97.0)

# Commands that bring a new workout into each state.
REACH = {
    "created": [],
    "active": ["start"],
    "paused": ["start", "pause"],
    "finished": ["start", "finish"],
}


def run(workout: Workout, command: str, at_ms: int = T0 + 5000) -> list[events.AnyEvent]:
    if command == "start":
        return workout.start()
    return getattr(workout, command)(at_ms)


def in_state(new_workout, status: str) -> Workout:
    workout = new_workout()
    for command in REACH[status]:
        run(workout, command)
    assert workout.state.status == status
    return workout


@pytest.mark.parametrize(("status", "command", "after", "event"), [
    ("created", "start", "active", events.WorkoutStarted),
    ("active", "pause", "paused", events.WorkoutPaused),
    ("active", "finish", "finished", events.WorkoutCompleted),
    ("paused", "resume", "active", events.WorkoutResumed),
    ("paused", "finish", "finished", events.WorkoutCompleted),
])
def test_valid_transitions_emit_one_event(new_workout, status: str, command: str, after: str,
                                          event: type) -> None:
    workout = in_state(new_workout, status)
    version = workout.state.version
    out = run(workout, command)
    assert workout.state.status == after
    assert workout.state.version == version + 1
    assert len(out) == 1 and isinstance(out[0], event)
    assert out[0].summary.status == after
    assert out[0].summary.version == workout.state.version
    assert (out[0].workout_id, out[0].user_id) == (workout.state.workout_id, workout.state.user_id)


@pytest.mark.parametrize(("status", "command"), [
    ("created", "pause"),
    ("created", "resume"),
    ("created", "finish"),
    ("active", "resume"),
    ("paused", "pause"),
    ("finished", "pause"),
    ("finished", "resume"),
])
def test_invalid_transitions_are_refused_and_change_nothing(new_workout, status: str,
                                                            command: str) -> None:
    workout = in_state(new_workout, status)
    before = workout.snapshot()
    with pytest.raises(WorkoutError) as err:
        run(workout, command)
    assert err.value.code == "invalid_state"
    assert status in err.value.message and command in err.value.message
    assert workout.snapshot() == before


@pytest.mark.parametrize(("status", "command"), [
    ("active", "start"),
    ("paused", "start"),
    ("finished", "start"),
    ("finished", "finish"),
])
def test_resent_commands_are_silent_no_ops(new_workout, status: str, command: str) -> None:
    workout = in_state(new_workout, status)
    before = workout.snapshot()
    assert run(workout, command, at_ms=T0 + 99_000) == []
    assert workout.snapshot() == before


def test_start_twice_emits_one_workout_started(new_workout) -> None:
    workout = new_workout()
    emitted = workout.start() + workout.start()
    assert [type(e) for e in emitted] == [events.WorkoutStarted]
    assert workout.state.version == 1


def test_finish_twice_keeps_the_first_end(new_workout) -> None:
    workout = in_state(new_workout, "active")
    first = workout.finish(T0 + 60_000)
    assert workout.finish(T0 + 90_000) == []
    assert first[0].summary.ended_at_ms == workout.summary().ended_at_ms == T0 + 60_000
    assert workout.summary().duration_s == 60.0


@pytest.mark.parametrize(("finish_at", "ended_at"), [
    (T0 + 30_000, T0 + 30_000),  # after the last sample: when the athlete pressed stop
    (T0 + 500, T0 + 1000),       # before the last sample: the sample's time
    (T0 - 9_000, T0 + 1000),     # a device clock behind: still not before any sample
])
def test_end_time_is_never_before_the_last_sample(new_workout, finish_at: int, ended_at: int) -> None:
    workout = in_state(new_workout, "active")
    workout.apply_samples(0, [SAMPLE])
    completed = next(e for e in workout.finish(finish_at) if isinstance(e, events.WorkoutCompleted))
    assert isinstance(completed, events.WorkoutCompleted)
    assert completed.at_ms == finish_at
    assert completed.summary.ended_at_ms == ended_at
    assert completed.summary.duration_s == (ended_at - T0) / 1000


def test_finish_before_start_time_without_samples_ends_at_the_start(new_workout) -> None:
    workout = in_state(new_workout, "active")
    (completed,) = [e for e in workout.finish(T0 - 5000) if isinstance(e, events.WorkoutCompleted)]
    assert completed.summary.ended_at_ms == T0
    assert workout.summary().duration_s == 0.0


@pytest.mark.parametrize(("status", "code"), [
    ("created", "not_started"),
    ("finished", "workout_finished"),
])
def test_samples_are_refused_before_start_and_after_finish(new_workout, status: str, code: str) -> None:
    workout = in_state(new_workout, status)
    before = workout.snapshot()
    with pytest.raises(WorkoutError) as err:
        workout.apply_samples(0, [SAMPLE])
    assert err.value.code == code
    assert workout.snapshot() == before


def test_paused_and_resumed_events_carry_their_time(new_workout) -> None:
    workout = in_state(new_workout, "active")
    paused = workout.pause(T0 + 10_000)[0]
    resumed = workout.resume(T0 + 25_000)[0]
    assert isinstance(paused, events.WorkoutPaused) and paused.at_ms == T0 + 10_000
    assert isinstance(resumed, events.WorkoutResumed) and resumed.at_ms == T0 + 25_000


def test_new_workout_summary_is_empty(new_workout) -> None:
    summary = new_workout(sport="ride").summary()
    assert (summary.status, summary.sport, summary.version) == ("created", "ride", 0)
    assert (summary.last_seq, summary.samples_count, summary.distance_m) == (-1, 0, 0.0)
    assert (summary.duration_s, summary.moving_time_s, summary.avg_speed_mps) == (0.0, 0.0, 0.0)
    assert (summary.avg_hr, summary.max_hr, summary.min_spo2, summary.ended_at_ms) == (None,) * 4
