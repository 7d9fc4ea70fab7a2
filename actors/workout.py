"""A workout: state machine, exactly-once sample application and running metrics.

Pure Python + numpy. The Ray actor around it (actors/shell.py) only moves bytes: it
feeds commands in, publishes the events that come out and saves `state` as a snapshot.

States: created → active ⇄ paused → finished. Samples are numbered by the device; the
workout applies each number once, in order (`next_seq` is the first number not yet seen),
so a resent batch changes nothing, and a batch past a gap waits until the gap is sent.

Applying and folding are separate steps: an applied sample is numbered, acked and kept in
the state at once, but may wait in `unfolded` until the next fold (`fold=False`), so a
host holding thousands of workouts that each send a sample a second folds a few larger
batches instead of many one-sample ones (a fold has a fixed cost per call). Every read
(summary, lifecycle change) folds first, and the metrics are batching-invariant, so
deferring changes no number.

Live metrics snapshots (`WorkoutMetricsUpdated`) are taken at points the samples alone
decide, so a snapshot is the same whenever and however its samples arrive: after the first
sample of each `metrics_step_ms` of sample time (a "tick", t_ms // step), and after the last
sample when the workout finishes. Its `t_ms` is that sample's time (the closing one's: the
finish, when every distance is decided) and names it: after a restart, a rollback or a resend
the same snapshot comes out again, equal, and the sink stores it once, keyed by (workout_id,
t) (storage/timeseries.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from operator import itemgetter

import msgspec
import numpy as np

from actors import live_metrics
from actors.metrics import risk
from actors.profile import AthleteProfile
from streams import events
from streams.events import Sample, Sport, WorkoutStatus


class WorkoutError(Exception):
    """A command the workout refuses; `code` goes into the device's error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WorkoutState(msgspec.Struct, kw_only=True):
    """Everything needed to resume exactly: this is what the snapshot stores."""

    workout_id: uuid.UUID
    user_id: uuid.UUID
    sport: Sport
    status: WorkoutStatus = "created"
    started_at_ms: int
    ended_at_ms: int | None = None
    last_t_ms: int | None = None
    next_seq: int = 0
    version: int = 0
    profile: AthleteProfile = AthleteProfile()
    load_history: list[tuple[dt.date, float]] = []
    """Training load per day before this workout (for the acute:chronic ratio)."""
    risk_level_alerted: str = "low"
    metrics: live_metrics.MetricsState = msgspec.field(default_factory=live_metrics.MetricsState)
    unfolded: list[Sample] = []
    """Applied samples (seq up to next_seq - 1) not yet folded into `metrics`, all taken
    in the current status (every status change folds first)."""
    metrics_step_ms: int = 1000
    """Sample time between live metrics snapshots."""
    metrics_tick: int | None = None
    """The tick (t_ms // metrics_step_ms) of the last snapshot taken."""
    metrics_last_t_ms: int = -1
    """The time of the last snapshot."""


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """Result of a samples command: what was new, and the events to publish (the live
    metrics snapshots among them once folded)."""

    acked_seq: int
    """Every sample numbered ≤ this has now been applied."""
    new_samples: int
    events: list[events.AnyEvent]


MAX_PENDING_SAMPLES = 5_000
"""How many samples may wait behind a gap before the device is told to resend."""


class Workout:
    def __init__(self, state: WorkoutState) -> None:
        self.state = state
        # Batches that arrived ahead of a gap. Not in the snapshot: they are not acked yet,
        # so after a restart the device resends them anyway.
        self._pending: dict[int, list[Sample]] = {}
        # Snapshots a read (summary) folded out, for the next fold to return.
        self._owed: list[events.AnyEvent] = []
        # The risk of the current metrics (a summary and the alert check both need it).
        self._risk: tuple[live_metrics.MetricsState, risk.Risk] | None = None
        self._started_day = dt.datetime.fromtimestamp(state.started_at_ms / 1000, tz=dt.UTC).date()

    @classmethod
    def create(cls, workout_id: uuid.UUID, user_id: uuid.UUID, sport: Sport, started_at_ms: int,
               profile: AthleteProfile | None = None,
               load_history: Sequence[tuple[dt.date, float]] = (),
               metrics_step_ms: int = 1000) -> Workout:
        return cls(WorkoutState(workout_id=workout_id, user_id=user_id, sport=sport,
                                started_at_ms=started_at_ms, profile=profile or AthleteProfile(),
                                load_history=list(load_history), metrics_step_ms=metrics_step_ms))

    @property
    def acked_seq(self) -> int:
        return self.state.next_seq - 1

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> list[events.AnyEvent]:
        """Begin recording; a repeated start (after a reconnect) changes nothing."""
        if self.state.status != "created":
            return []
        self._change("active")
        return [events.WorkoutStarted(**self._ids(), summary=self.summary())]

    def pause(self, at_ms: int) -> list[events.AnyEvent]:
        self._require({"active"}, "pause")
        produced = self.fold()
        self._flush()
        self._change("paused")
        return [*produced, events.WorkoutPaused(**self._ids(), at_ms=at_ms, summary=self.summary())]

    def resume(self, at_ms: int) -> list[events.AnyEvent]:
        self._require({"paused"}, "resume")
        produced = self.fold()
        self._change("active")
        return [*produced,
                events.WorkoutResumed(**self._ids(), at_ms=at_ms, summary=self.summary())]

    def finish(self, at_ms: int) -> list[events.AnyEvent]:
        if self.state.status == "finished":
            return []  # finishing twice is a resend, not an error
        self._require({"active", "paused"}, "finish")
        produced = self.fold()
        self._flush()
        self.state.ended_at_ms = max(at_ms, self.state.last_t_ms or at_ms, self.state.started_at_ms)
        produced += [*self._risk_alert(), *self._closing_snapshot()]
        self._change("finished")
        return [*produced,
                events.WorkoutCompleted(**self._ids(), at_ms=at_ms, summary=self.summary())]

    def _change(self, status: WorkoutStatus) -> None:
        self.state.status = status
        self.state.version += 1

    def _ids(self) -> dict[str, uuid.UUID]:
        return {"workout_id": self.state.workout_id, "user_id": self.state.user_id}

    def _require(self, allowed: set[str], action: str) -> None:
        if self.state.status not in allowed:
            raise WorkoutError("invalid_state",
                               f"cannot {action} a workout that is {self.state.status}")

    # -- samples ----------------------------------------------------------------------

    def apply_samples(self, seq: int, samples: Sequence[Sample], *, fold: bool = True) -> Applied:
        """Apply the samples numbered seq, seq+1, … that were not applied before, and fold
        them into the metrics now (`fold=True`) or at the next fold.

        A batch that arrives ahead of a gap waits (up to `MAX_PENDING_SAMPLES`) and is
        applied, in order, as soon as the gap is filled; until then the ack stays below it.
        """
        s = self.state
        if s.status == "finished":
            raise WorkoutError("workout_finished", "the workout is finished; no more samples")
        if s.status == "created":
            raise WorkoutError("not_started", "send `start` before samples")
        if seq > s.next_seq:
            self._hold(seq, samples)
            return Applied(acked_seq=self.acked_seq, new_samples=0, events=[])
        produced = self._apply_in_order(seq, samples)
        while self._pending and min(self._pending) <= s.next_seq:
            first = min(self._pending)
            produced += self._apply_in_order(first, self._pending.pop(first))
        if fold:
            produced += self.fold()
        new = sum(len(e.samples) for e in produced if isinstance(e, events.SamplesAccepted))
        return Applied(acked_seq=self.acked_seq, new_samples=new, events=produced)

    def _hold(self, seq: int, samples: Sequence[Sample]) -> None:
        held = sum(len(b) for b in self._pending.values())
        if held + len(samples) > MAX_PENDING_SAMPLES:
            raise WorkoutError("seq_gap", f"samples from seq {self.state.next_seq} are missing; "
                                          f"resend from there (got seq {seq})")
        if len(samples) > len(self._pending.get(seq, ())):
            self._pending[seq] = list(samples)

    def _apply_in_order(self, seq: int, samples: Sequence[Sample]) -> list[events.AnyEvent]:
        s = self.state
        skip = s.next_seq - seq
        if skip >= len(samples):
            return []
        fresh = list(samples[skip:])
        first_seq = s.next_seq
        s.unfolded += fresh
        s.last_t_ms = max(int(max(map(itemgetter(0), fresh))), s.last_t_ms or 0)
        s.next_seq += len(fresh)
        s.version += 1
        return [events.SamplesAccepted(workout_id=s.workout_id, user_id=s.user_id, sport=s.sport,
                                       seq=first_seq, samples=fresh)]

    def fold(self) -> list[events.AnyEvent]:
        """Fold the unfolded samples into the metrics: the snapshots they open, then a
        RiskAlert if the level rose."""
        snapshots = [*self._owed, *self._fold_unfolded()]
        self._owed = []
        return [*snapshots, *self._risk_alert()]

    def _fold_unfolded(self) -> list[events.AnyEvent]:
        """Fold in pieces that end at each sample opening a tick, a snapshot after each."""
        s = self.state
        if not s.unfolded:
            return []
        first_seq = s.next_seq - len(s.unfolded)
        ticks_ms = np.array([sample[0] for sample in s.unfolded], dtype=np.int64)
        ticks = ticks_ms // s.metrics_step_ms
        before = np.maximum.accumulate(np.concatenate(
            ([s.metrics_tick if s.metrics_tick is not None else np.iinfo(np.int64).min], ticks)))[:-1]
        opening = np.flatnonzero(ticks > before).tolist()
        snapshots: list[events.AnyEvent] = []
        start = 0
        for i in opening:
            self._fold_piece(s.unfolded[start:i + 1])
            start = i + 1
            s.metrics_tick = int(ticks[i])
            snapshots.append(self._snapshot(first_seq + i, int(ticks_ms[i])))
        if start < len(s.unfolded):
            self._fold_piece(s.unfolded[start:])
        s.unfolded = []
        return snapshots

    def _flush(self) -> None:
        """Decide the distance of every sample still pending (the track stops here)."""
        s = self.state
        s.metrics = live_metrics.flush(s.metrics, s.sport, s.profile, counting=s.status == "active")

    def _fold_piece(self, samples: list[Sample]) -> None:
        s = self.state
        s.metrics = live_metrics.fold(s.metrics, samples, s.sport, s.profile,
                                      counting=s.status == "active")

    def _closing_snapshot(self) -> list[events.AnyEvent]:
        """At the finish, every distance decided: a snapshot at the finish time (just after
        the last snapshot, if that was later)."""
        s = self.state
        if s.next_seq == 0 or s.ended_at_ms is None:
            return []
        return [self._snapshot(s.next_seq - 1, max(s.ended_at_ms, s.metrics_last_t_ms + 1))]

    def _snapshot(self, seq: int, t_ms: int) -> events.WorkoutMetricsUpdated:
        """The live metrics after sample `seq` (at `t_ms`), every earlier one folded."""
        s = self.state
        s.version += 1  # each snapshot is newer than the last, for the projection's order
        s.metrics_last_t_ms = t_ms
        readings = live_metrics.live_readings(s.metrics, s.profile)
        return events.WorkoutMetricsUpdated(
            **self._ids(), t_ms=t_ms, summary=self._summary(seq, t_ms), **readings)  # type: ignore[arg-type]

    def _risk_alert(self) -> list[events.AnyEvent]:
        """A RiskAlert when the level rises above the last one announced."""
        s = self.state
        now = self._risk_now()
        rank = live_metrics.LEVELS.index
        if rank(now.level) <= rank(s.risk_level_alerted):
            return []
        s.risk_level_alerted = now.level
        return [events.RiskAlert(**self._ids(), at_ms=s.last_t_ms or s.started_at_ms,
                                 level=now.level, reasons=now.reasons, acwr=now.acwr)]

    def _risk_now(self) -> risk.Risk:
        """The risk of the metrics as they are (computed once per fold: metrics states are
        replaced, never changed, so the same object means the same risk)."""
        s = self.state
        if self._risk is None or self._risk[0] is not s.metrics:
            self._risk = (s.metrics, live_metrics.risk_now(s.metrics, s.load_history, self._started_day))
        return self._risk[1]

    # -- read side --------------------------------------------------------------------

    def summary(self) -> events.WorkoutSummary:
        """The summary so far. Folds what is unfolded; the snapshots and any risk rise that
        reveals come out of the next `fold()`."""
        self._owed += self._fold_unfolded()
        return self._summary(self.acked_seq, self.state.last_t_ms)

    def _summary(self, last_seq: int, last_t_ms: int | None) -> events.WorkoutSummary:
        """The summary with the samples up to `last_seq` (the last at `last_t_ms`) folded."""
        s = self.state
        end = s.ended_at_ms if s.ended_at_ms is not None else last_t_ms
        duration_s = max(0.0, (end - s.started_at_ms) / 1000.0) if end is not None else 0.0
        current_risk = self._risk_now()
        return events.WorkoutSummary(
            version=s.version,
            status=s.status,
            sport=s.sport,
            started_at_ms=s.started_at_ms,
            ended_at_ms=s.ended_at_ms,
            last_seq=last_seq,
            samples_count=last_seq + 1,
            duration_s=duration_s,
            **live_metrics.summary_fields(s.metrics, s.profile, current_risk, s.sport),  # type: ignore[arg-type]
        )

    # -- snapshots --------------------------------------------------------------------

    def snapshot(self) -> bytes:
        return _snapshot_encoder.encode(self.state)

    @classmethod
    def restore(cls, data: bytes) -> Workout:
        return cls(_snapshot_decoder.decode(data))


_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(WorkoutState)
