"""Leaderboard periods: UTC days, ISO weeks from Monday (across year ends), all time."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from storage.leaderboards import Board, boards_of, expires_at, period_label, period_start

pytestmark = pytest.mark.unit

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(("moment", "day", "week", "week_label"), [
    ("2026-11-25T17:00:00+00:00", "2026-11-25", "2026-11-23", "2026-W48"),  # a Wednesday
    ("2026-11-29T23:59:59+00:00", "2026-11-29", "2026-11-23", "2026-W48"),  # Sunday: same week
    ("2026-11-30T00:00:00+00:00", "2026-11-30", "2026-11-30", "2026-W49"),  # Monday: a new one
    ("2026-01-01T08:00:00+00:00", "2026-01-01", "2025-12-29", "2026-W01"),  # week 1 starts in 2025
    ("2027-01-01T08:00:00+00:00", "2027-01-01", "2026-12-28", "2026-W53"),  # 2026 has 53 weeks
    ("2026-11-26T00:30:00+02:00", "2026-11-25", "2026-11-23", "2026-W48"),  # 22:30 UTC the day before
])
def test_a_moment_falls_in_its_utc_day_and_iso_week(moment: str, day: str, week: str,
                                                    week_label: str) -> None:
    when = at(moment)
    assert period_start(when, "day") == at(day + "T00:00:00+00:00")
    assert period_start(when, "week") == at(week + "T00:00:00+00:00")
    assert period_start(when, "all") is None
    assert period_label("day", period_start(when, "day")) == day
    assert period_label("week", period_start(when, "week")) == week_label
    assert period_label("all", None) == "all"


def test_labels_do_not_depend_on_the_zone_a_time_comes_back_in() -> None:
    start = at("2026-11-23T00:00:00+00:00").astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert period_label("week", start) == "2026-W48"
    assert period_label("day", start) == "2026-11-23"


def test_a_workout_counts_on_every_window_of_each_region() -> None:
    boards = boards_of("run", "SI", at("2026-11-25T17:00:00+00:00"))
    assert {(b.region, b.window) for b in boards} == {
        (region, window) for region in ("global", "SI") for window in ("day", "week", "all")}
    assert {(b.region, b.window) for b in boards_of("run", None, at("2026-11-25T17:00:00+00:00"))} \
        == {("global", "day"), ("global", "week"), ("global", "all")}


def test_day_and_week_boards_lapse_from_redis_all_time_never() -> None:
    day = Board(sport="run", region="global", window="day",
                period_start=at("2026-11-25T00:00:00+00:00"))
    week = Board(sport="run", region="global", window="week",
                 period_start=at("2026-11-23T00:00:00+00:00"))
    assert expires_at(day) == at("2026-12-03T00:00:00+00:00")
    assert expires_at(week) == at("2026-12-28T00:00:00+00:00")
    assert expires_at(Board(sport="run", region="global", window="all", period_start=None)) is None
