"""What the workout computes from the athlete it belongs to: zones, calories, risk alerts."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from actors.profile import AthleteProfile
from actors.workout import Workout
from streams import events

pytestmark = pytest.mark.unit

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = dt.date(2026, 1, 1)


def _workout(profile: AthleteProfile, history: list[tuple[dt.date, float]] = ()) -> Workout:  # type: ignore[assignment]
    workout = Workout.create(uuid.uuid4(), uuid.uuid4(), "run", T0, profile, history)
    workout.start()
    return workout


def _steady(tracks, hr_bpm: float, minutes: int):  # type: ignore[no-untyped-def]
    return tracks.straight(minutes * 60 + 1, 3.0, t0_ms=T0, hr_bpm=hr_bpm)


def _feed(workout: Workout, samples) -> list[events.AnyEvent]:  # type: ignore[no-untyped-def]
    produced: list[events.AnyEvent] = []
    for seq in range(0, len(samples), 60):
        produced += workout.apply_samples(seq, samples[seq:seq + 60]).events
    return produced


def test_the_profile_decides_zones_calories_and_what_was_assumed(tracks) -> None:  # type: ignore[no-untyped-def]
    known = AthleteProfile(age_y=30, sex="male", weight_kg=75, hr_rest_bpm=60, hr_max_bpm=180)
    full, bare = _workout(known), _workout(AthleteProfile())
    samples = _steady(tracks, 150, 10)
    _feed(full, samples)
    _feed(bare, samples)
    a, b = full.summary(), bare.summary()
    # Karvonen: 150 bpm is 75 % of the reserve (60 + 0.75·120) → zone 3 (70–80 %).
    assert a.hr_zone_s[2] == pytest.approx(600, abs=1) and sum(a.hr_zone_s) == pytest.approx(600, abs=1)
    # Without a profile: HRmax by Tanaka at the default age 35 → 183.5; 150 is 81.7 % → zone 4.
    assert b.hr_zone_s[3] == pytest.approx(600, abs=1)
    assert a.calories_method == "keytel" and b.calories_method == "met"
    assert a.assumptions == [] and any("weight 70 kg" in x for x in b.assumptions)
    # Edwards counts %HRmax zones (Edwards 1993): 150/180 = 83 % → zone 4, 10 min × 4.
    assert a.trimp > 0 and a.trimp_edwards == pytest.approx(10 * 4)


def test_a_rising_load_raises_a_risk_alert_once(tracks) -> None:  # type: ignore[no-untyped-def]
    history = [(DAY - dt.timedelta(days=d), 40.0) for d in range(1, 36)]
    workout = _workout(AthleteProfile(sex="male", hr_rest_bpm=55, hr_max_bpm=190), history)
    produced = _feed(workout, _steady(tracks, 175, 90))  # a long, hard session: big TRIMP today
    alerts = [e for e in produced if isinstance(e, events.RiskAlert)]
    summary = workout.summary()
    assert summary.risk.acwr is not None and summary.risk.acwr >= 1.5
    assert summary.risk.level == "high" and summary.risk.reasons
    assert [a.level for a in alerts] == sorted({a.level for a in alerts}, key=["moderate", "high"].index)
    assert alerts[-1].level == "high"
    assert len(_feed_more(workout, tracks)) == 0  # no second alert at the same level


def test_a_risk_rise_found_by_a_read_is_announced_by_the_next_fold(tracks) -> None:  # type: ignore[no-untyped-def]
    history = [(DAY - dt.timedelta(days=d), 40.0) for d in range(1, 36)]
    workout = _workout(AthleteProfile(sex="male", hr_rest_bpm=55, hr_max_bpm=190), history)
    samples = _steady(tracks, 175, 90)
    applied = workout.apply_samples(0, samples, fold=False)
    assert not any(isinstance(e, events.RiskAlert) for e in applied.events)
    assert workout.summary().risk.level == "high"  # the read folds, silently
    alerts = [e for e in workout.fold() if isinstance(e, events.RiskAlert)]
    assert [a.level for a in alerts] == ["high"]
    assert workout.fold() == []


def _feed_more(workout: Workout, tracks) -> list[events.RiskAlert]:  # type: ignore[no-untyped-def]
    more = tracks.straight(121, 3.0, t0_ms=T0 + 90 * 60_000 + 1000, hr_bpm=175)
    applied = workout.apply_samples(workout.acked_seq + 1, more)
    return [e for e in applied.events if isinstance(e, events.RiskAlert)]


def test_the_summary_round_trips_and_survives_a_snapshot(tracks) -> None:  # type: ignore[no-untyped-def]
    workout = _workout(AthleteProfile(age_y=40))
    produced = _feed(workout, _steady(tracks, 140, 3))
    restored = Workout.restore(workout.snapshot())
    assert restored.summary() == workout.summary()
    live = [e for e in produced if isinstance(e, events.WorkoutMetricsUpdated)]
    assert len(live) == 181 and all(events.decode(events.encode(e)) == e for e in live)
