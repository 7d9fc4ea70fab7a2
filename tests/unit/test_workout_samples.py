"""Samples into a workout: exactly once, in order, with the summary an athlete sees."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.workout import Workout, WorkoutError
from streams import events

pytestmark = pytest.mark.unit

T0 = 1_767_225_600_000


def same_summary(a: events.WorkoutSummary, b: events.WorkoutSummary) -> None:
    """Equal but for `version` (it counts applied batches) and float rounding of sums."""
    floats = ("distance_m", "avg_speed_mps", "avg_hr", "trimp", "trimp_edwards", "calories_kcal",
              "elevation_gain_m", "elevation_loss_m", "avg_pace_s_per_km")
    assert {k: v for k, v in msgspec.structs.asdict(a).items() if k not in (*floats, "version")} == \
           {k: v for k, v in msgspec.structs.asdict(b).items() if k not in (*floats, "version")}
    for name in floats:
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9), name


@pytest.fixture
def track(tracks):
    """101 fixes at 1 Hz, 3 m/s due north, with heart rate and SpO2 varying."""
    samples = tracks.straight(101, 3.0, t0_ms=T0)
    return [(t, lat, lon, alt, 120.0 + i % 40, 99.0 - i % 7)
            for i, (t, lat, lon, alt, _, _) in enumerate(samples)]


def started(new_workout, started_at_ms: int = T0) -> Workout:
    workout = new_workout(started_at_ms=started_at_ms)
    workout.start()
    return workout


def feed_in_batches(workout: Workout, samples, size: int) -> None:
    for seq in range(0, len(samples), size):
        workout.apply_samples(seq, samples[seq : seq + size])


def test_summary_of_a_steady_100_s_run(new_workout, track) -> None:
    workout = started(new_workout, started_at_ms=T0 - 5000)  # pressed start 5 s before the 1st fix
    feed_in_batches(workout, track, 10)
    summary = workout.summary()
    # Live, the distance is decided up to a block or two ago (the GPS method's lag) …
    assert 300.0 * 0.75 <= summary.distance_m < 300.0
    assert summary.duration_s == (track[-1][0] - (T0 - 5000)) / 1000 == 105.0
    assert (summary.samples_count, summary.last_seq) == (101, 100)
    # Time-weighted: each reading lasts until the next, so the last one has no weight yet.
    assert summary.avg_hr == pytest.approx(np.mean([s[4] for s in track[:-1]]))
    assert (summary.max_hr, summary.min_spo2) == (159.0, 93.0)
    assert summary.status == "active" and summary.ended_at_ms is None
    # … and all of it once the workout ends.
    workout.finish(track[-1][0])
    final = workout.summary()
    assert final.distance_m == pytest.approx(300.0, rel=0.01)
    assert 99.0 <= final.moving_time_s <= 100.0
    assert final.avg_speed_mps == pytest.approx(3.0, rel=0.01)


def test_samples_while_paused_add_no_distance(new_workout, track) -> None:
    workout = started(new_workout)
    workout.apply_samples(0, track[:31])
    workout.pause(track[30][0])  # the way so far is decided at the pause
    assert workout.summary().distance_m == pytest.approx(90.0, rel=0.01)
    workout.apply_samples(31, track[31:61])
    assert workout.summary().distance_m == pytest.approx(90.0, rel=0.01)
    workout.resume(track[60][0])
    workout.apply_samples(61, track[61:])
    workout.finish(track[-1][0])
    summary = workout.summary()
    assert summary.distance_m == pytest.approx(210.0, rel=0.02)  # 30 s + 40 s of running
    assert summary.moving_time_s == pytest.approx(70.0, abs=1.0)
    assert summary.samples_count == 101


def test_apply_emits_samples_accepted_for_new_samples_only(new_workout, track) -> None:
    workout = started(new_workout)
    workout.apply_samples(0, track[:10])
    applied = workout.apply_samples(5, track[5:15])  # 5..9 were applied
    assert (applied.acked_seq, applied.new_samples) == (14, 5)
    accepted = applied.events[0]
    assert isinstance(accepted, events.SamplesAccepted)
    assert sum(isinstance(e, events.SamplesAccepted) for e in applied.events) == 1
    assert (accepted.seq, accepted.samples, accepted.sport) == (10, track[10:15], "run")
    # one live metrics snapshot per second of sample time, after the sample opening it
    snapshots = [e for e in applied.events if isinstance(e, events.WorkoutMetricsUpdated)]
    assert [(m.t_ms, m.summary.last_seq) for m in snapshots] == [(track[i][0], i) for i in range(10, 15)]
    metrics = snapshots[-1]
    assert metrics.summary == workout.summary()
    assert (metrics.hr_bpm, metrics.spo2_pct) == (track[14][4], track[14][5])
    assert metrics.speed_mps is None  # no distance decided yet, 15 s into the run
    for event in applied.events:
        assert events.decode(events.encode(event)) == event


@pytest.mark.parametrize(("seq", "size"), [(0, 10), (3, 7), (9, 1), (0, 1)])
def test_a_batch_already_applied_changes_nothing(new_workout, track, seq: int, size: int) -> None:
    workout = started(new_workout)
    workout.apply_samples(0, track[:10])
    before = workout.snapshot()
    applied = workout.apply_samples(seq, track[seq : seq + size])
    assert (applied.acked_seq, applied.new_samples, applied.events) == (9, 0, [])
    assert workout.snapshot() == before


@pytest.mark.parametrize("seq", [11, 12, 50])
def test_a_batch_ahead_of_a_gap_waits_for_it(new_workout, track, seq: int) -> None:
    workout = started(new_workout)
    workout.apply_samples(0, track[:10])
    before = workout.snapshot()
    held = workout.apply_samples(seq, track[seq : seq + 5])
    assert (held.acked_seq, held.new_samples, held.events) == (9, 0, [])
    assert workout.snapshot() == before  # nothing applied, nothing acked yet
    filled = workout.apply_samples(10, track[10:seq])
    assert filled.acked_seq == seq + 4
    accepted = [e.seq for e in filled.events if isinstance(e, events.SamplesAccepted)]
    assert accepted == [10, seq][: 2 if seq > 10 else 1]
    reference = started(new_workout)
    reference.apply_samples(0, track[: seq + 5])
    assert workout.summary().distance_m == pytest.approx(reference.summary().distance_m, rel=1e-12)


def test_a_gap_too_wide_to_wait_for_is_refused(new_workout, track) -> None:
    from actors.workout import MAX_PENDING_SAMPLES

    workout = started(new_workout)
    workout.apply_samples(0, track[:10])
    far = [track[0]] * (MAX_PENDING_SAMPLES + 1)
    with pytest.raises(WorkoutError) as err:
        workout.apply_samples(20, far)
    assert err.value.code == "seq_gap"
    assert "10" in err.value.message  # tells the device where to resend from


@pytest.mark.parametrize("seed", range(5))
def test_resends_overlaps_and_gaps_end_with_the_undisturbed_summary(new_workout, track,
                                                                     seed: int) -> None:
    calm = started(new_workout)
    feed_in_batches(calm, track, 10)
    calm.finish(T0 + 200_000)

    rng = np.random.default_rng(seed)
    noisy = started(new_workout)
    while noisy.acked_seq < len(track) - 1:
        seq = max(0, noisy.acked_seq + 1 + int(rng.integers(-8, 4)))  # resend, overlap or skip
        size = int(rng.integers(1, 15))
        try:
            noisy.apply_samples(seq, track[seq : seq + size])
        except WorkoutError as exc:
            assert exc.code == "seq_gap" and seq > noisy.acked_seq + 1
    noisy.finish(T0 + 200_000)
    same_summary(noisy.summary(), calm.summary())
    assert noisy.summary().distance_m == pytest.approx(300.0, rel=0.01)


def _snapshots(produced: list[events.AnyEvent]) -> list[tuple[int, int, dict[str, object]]]:
    """The live metrics snapshots as the sink stores them: identity and values."""
    out = []
    for e in produced:
        if isinstance(e, events.WorkoutMetricsUpdated):
            fields = msgspec.structs.asdict(msgspec.structs.replace(e.summary, version=0))
            out.append((e.t_ms, e.summary.last_seq, fields | {
                "speed": e.speed_mps, "hr": e.hr_bpm, "spo2": e.spo2_pct, "zone": e.hr_zone}))
    return out


def _same_snapshots(got: list[tuple[int, int, dict[str, object]]],
                    want: list[tuple[int, int, dict[str, object]]]) -> None:
    assert [g[:2] for g in got] == [w[:2] for w in want]
    for (_, seq, g), (_, _, w) in zip(got, want, strict=True):
        for key, value in w.items():
            if isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (seq, key)
            elif key not in ("splits", "hr_zone_s"):
                assert g[key] == value, (seq, key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_live_snapshots_depend_on_the_samples_alone(new_workout, track, seed: int) -> None:
    """However the samples are batched, resent, folded late or restored from a snapshot,
    the workout takes the same live metrics snapshots: one after each sample that opens a
    second of sample time, and one after the last sample at the finish."""
    calm = started(new_workout)
    produced = [e for i in range(len(track)) for e in calm.apply_samples(i, track[i:i + 1]).events]
    produced += calm.finish(T0 + 200_000)
    want = _snapshots(produced)
    # a fix a second: each opens one; and one more at the finish, every distance decided
    assert [seq for _, seq, _ in want] == [*range(101), 100]

    rng = np.random.default_rng(seed)
    noisy, got = started(new_workout), []
    while noisy.acked_seq < len(track) - 1:
        seq = max(0, noisy.acked_seq + 1 + int(rng.integers(-6, 2)))
        try:
            got += noisy.apply_samples(seq, track[seq:seq + int(rng.integers(1, 25))],
                                       fold=bool(rng.random() < 0.5)).events
        except WorkoutError:
            continue
        if rng.random() < 0.2:
            got += noisy.fold()
        if rng.random() < 0.2:  # the host dies: back to the snapshot, and what it sent again
            noisy = Workout.restore(noisy.snapshot())
    got += noisy.finish(T0 + 200_000)
    # a snapshot sent twice (before and after a restore) is the same event: the sink keeps one
    unique = {(t, seq): (t, seq, fields) for t, seq, fields in _snapshots(got)}
    _same_snapshots(sorted(unique.values(), key=lambda x: x[1]), want)


def test_a_snapshot_ticks_by_sample_time_not_by_sample(new_workout, tracks) -> None:
    """Fixes every 0.4 s: the first fix of each second opens a snapshot."""
    fast = [(T0 + 400 * i, 45.0 + i * 1e-5, 7.0, None, 150.0, None) for i in range(12)]
    workout = started(new_workout)
    produced = workout.apply_samples(0, fast).events + workout.finish(T0 + 10_000)
    got = [(e.t_ms - T0, e.summary.last_seq) for e in produced
           if isinstance(e, events.WorkoutMetricsUpdated)]
    # and the closing one at the finish (10 s), after the last sample
    assert got == [(0, 0), (1200, 3), (2000, 5), (3200, 8), (4000, 10), (10_000, 11)]


@pytest.mark.parametrize("at", [0, 1, 3, 6, 7, 8, 12])
def test_snapshot_restore_continue_equals_never_snapshotting(new_workout, track, at: int) -> None:
    def script(workout: Workout, restore_at: int | None) -> Workout:
        steps = [("start",), *[("samples", s) for s in range(0, 60, 12)], ("pause",),
                 ("samples", 60), ("resume",), *[("samples", s) for s in range(72, 101, 12)],
                 ("finish",)]
        for i, step in enumerate(steps):
            if i == restore_at:
                workout = Workout.restore(workout.snapshot())
            if step[0] == "samples":
                workout.apply_samples(step[1], track[step[1] : step[1] + 12])
            elif step[0] == "start":
                workout.start()
            else:
                getattr(workout, step[0])(T0 + 61_000 + i)
        return workout

    plain, restored = script(new_workout(), None), script(new_workout(), at)
    assert restored.summary() == plain.summary()
    assert restored.state == plain.state


def test_version_strictly_increases_with_every_change(new_workout, track) -> None:
    workout = new_workout()
    changes = [
        lambda: workout.start(),
        lambda: workout.apply_samples(0, track[:20]),
        lambda: workout.pause(T0 + 20_000),
        lambda: workout.apply_samples(20, track[20:30]),
        lambda: workout.resume(T0 + 30_000),
        lambda: workout.apply_samples(25, track[25:40]),  # overlap: 30..39 are new
        lambda: workout.finish(T0 + 40_000),
    ]
    no_ops = [
        lambda: workout.start(),
        lambda: workout.apply_samples(0, track[:10]),  # a resend, once 0..9 are in
    ]
    versions = [workout.state.version]
    for change in changes:
        change()
        assert workout.state.version > versions[-1]
        versions.append(workout.state.version)
        if workout.state.status != "finished" and workout.acked_seq >= 9:
            for no_op in no_ops:
                no_op()
                assert workout.state.version == versions[-1]
    assert workout.summary().version == versions[-1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(1, 9), st.booleans(), st.booleans()),
                     min_size=1, max_size=40))
def test_deferred_folding_changes_no_number(new_workout, track, plan) -> None:
    """Samples applied with `fold=False` wait in `unfolded`, through snapshots, pauses and
    risk alerts, and end in the same summary as folding every batch at once."""
    eager = started(new_workout)
    feed_in_batches(eager, track, 7)
    eager.finish(T0 + 200_000)

    lazy, seq, produced = started(new_workout), 0, []
    for size, fold, restore in plan * 20:
        if seq >= len(track):
            break
        produced += lazy.apply_samples(seq, track[seq : seq + size], fold=fold).events
        seq += size
        if restore:
            lazy = Workout.restore(lazy.snapshot())
    produced += lazy.apply_samples(seq, track[seq:], fold=False).events if seq < len(track) else []
    produced += lazy.finish(T0 + 200_000)
    assert not lazy.state.unfolded
    same_summary(lazy.summary(), eager.summary())
    assert lazy.state.last_t_ms == eager.state.last_t_ms
    # A deferred fold may skip a level on the way up, never the level reached.
    assert lazy.state.risk_level_alerted == eager.state.risk_level_alerted
    assert sum(len(e.samples) for e in produced if isinstance(e, events.SamplesAccepted)) == len(track)
