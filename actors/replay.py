"""A workout computed from recorded samples by the same `Workout` the live actor runs.

Two uses, both in the gateway:
- an uploaded file (`POST /v1/workouts/import`): its samples become a finished workout, and
  the events the actor would have produced for it (samples, metrics snapshots, the
  completion) are what gets stored, so an upload reads like a streamed workout;
- a sport correction (`PATCH /v1/workouts/{id}`): the finished workout's summary again,
  from its stored samples, under the new sport (speed limits, calories and the rest follow
  the sport).

Every metric is batching-invariant (actors/workout.py), so the replay feeds the samples in
large batches and, when only the summary is wanted, takes no metrics snapshot along the way
(one "tick" for the whole workout) — the numbers are the ones a live stream gives.

Pauses are not replayed: pause and resume times are not stored anywhere (only their
summaries are), so a replay sees one recording from the first sample to the last. For a
workout that was paused, a sport correction therefore counts the paused stretches too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from actors.profile import AthleteProfile
from actors.workout import Workout
from streams import events
from streams.events import Sample, Sport

BATCH = 500
"""Samples per apply: as a device's backlog arrives, and what a SamplesAccepted event holds."""
SUMMARY_ONLY_STEP_MS = 2**62
"""A metrics step no recording spans: a single snapshot, the summary alone."""


def replay(workout_id: uuid.UUID, user_id: uuid.UUID, sport: Sport, samples: Sequence[Sample], *,
           started_at_ms: int | None = None, ended_at_ms: int | None = None,
           profile: AthleteProfile | None = None,
           load_history: Sequence[tuple[dt.date, float]] = (),
           metrics_step_ms: int = SUMMARY_ONLY_STEP_MS) -> list[events.AnyEvent]:
    """The events of the workout recorded by `samples` (time order; numbered 0, 1, … here),
    started at `started_at_ms` and finished at `ended_at_ms` (default: the first and last
    sample's time). The last event is the WorkoutCompleted with the final summary."""
    if started_at_ms is None:
        if not samples:
            raise ValueError("a replay without samples needs its start time")
        started_at_ms = int(samples[0][0])  # type: ignore[arg-type]
    workout = Workout.create(workout_id, user_id, sport, started_at_ms, profile, load_history,
                             metrics_step_ms)
    produced = workout.start()
    for seq in range(0, len(samples), BATCH):
        produced += workout.apply_samples(seq, samples[seq:seq + BATCH]).events
    end = ended_at_ms if ended_at_ms is not None else (
        int(samples[-1][0]) if samples else started_at_ms)  # type: ignore[arg-type]
    produced += workout.finish(end)
    return produced


def final_summary(produced: Sequence[events.AnyEvent]) -> events.WorkoutSummary:
    """The summary a replay ended with."""
    done = produced[-1]
    assert isinstance(done, events.WorkoutCompleted)
    return done.summary
