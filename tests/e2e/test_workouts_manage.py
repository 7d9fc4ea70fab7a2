"""An athlete manages their workouts through the REST API, on the whole stack: uploads a GPX
or FIT file, renames a workout and corrects its sport (the summary is computed again and the
leaderboards follow), deletes one with everything derived from it, reads its kilometre
splits, filters the list; and reads their consent journal and changes their e-mail."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fit_writer import write as write_fit
from user_accounts import Account

from gateway.client import DeviceClient
from stack.settings import Settings
from storage import keyspace, leaderboards, samples, timeseries, workouts
from streams import events, redis_pool

pytestmark = pytest.mark.e2e

Point = tuple[int, float, float, float, int]
"""(t_ms, lat, lon, alt_m, hr_bpm)"""
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180


def track(n: int, start_ms: int, speed_mps: float = 3.0) -> list[Point]:
    """A straight run north at 1 Hz over rolling hills, heart rate rising with the effort.
    Altitudes are whole eighths of a metre: stored as `real`, they come back unchanged."""
    return [(start_ms + 1000 * i, 45.0 + i * speed_mps / M_PER_DEG_LAT, 7.0,
             round((300.0 + 20.0 * math.sin(i / 150)) * 8) / 8, 125 + (40 * i) // n)
            for i in range(n)]


def gpx(points: list[Point], timed: bool = True) -> bytes:
    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    body = "".join(
        f'<trkpt lat="{lat!r}" lon="{lon!r}"><ele>{alt!r}</ele>'
        + (f"<time>{iso(t)}</time>" if timed else "")
        + f"<extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>{hr}</gpxtpx:hr>"
        "</gpxtpx:TrackPointExtension></extensions></trkpt>"
        for t, lat, lon, alt, hr in points)
    return ('<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="stride-test" '
            'xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
            f"<trk><trkseg>{body}</trkseg></trk></gpx>").encode()


def hours_ago(hours: float) -> int:
    return int(time.time() * 1000 - hours * 3_600_000) // 1000 * 1000


async def upload(http: httpx.AsyncClient, who: Account, content: bytes, name: str = "track.gpx",
                 **fields: str) -> httpx.Response:
    return await http.post("/v1/workouts/import", headers=who.headers, data=fields,
                           files={"file": (name, content, "application/octet-stream")})


def refused(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert {"code", "message"} <= set(body)
    if code is not None:
        assert body["code"] == code, body


async def stream(stack: Settings, who: Account, sport: str, points: list[Point],
                 finish: bool = True) -> uuid.UUID:
    """A workout sent through the device protocol, as a watch would."""
    wid = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, who.token) as device:
        await device.start(wid, sport, points[0][0])  # type: ignore[arg-type]
        for seq in range(0, len(points), 100):
            await device.send_samples(wid, seq, [(t, lat, lon, alt, float(hr), None)
                                                 for t, lat, lon, alt, hr in points[seq:seq + 100]])
        if finish:
            await device.finish(wid, points[-1][0])
    return wid


async def stored_and_finished(http: httpx.AsyncClient, who: Account, wid: uuid.UUID,
                              eventually: Any, count: int) -> dict[str, Any]:
    """The workout once finished with all its samples stored (the sinks read other topics)."""
    async def done() -> dict[str, Any] | None:
        got = await http.get(f"/v1/workouts/{wid}", headers=who.headers)
        if got.status_code != 200 or got.json()["status"] != "finished":
            return None
        raw = await http.get(f"/v1/workouts/{wid}/samples", headers=who.headers,
                             params={"raw": "true", "limit": 10_000})
        return got.json() if len(raw.json()) == count else None

    found: dict[str, Any] = await eventually(done, timeout_s=60)
    return found


def coach_with_history_consent(stack: Settings, athlete: Account, coach: Account) -> None:
    """`coach` coaches a group `athlete` belongs to and lets read all their workouts."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as http:
        group = http.post("/v1/groups", headers=coach.headers,
                          json={"name": "Coached", "sport": "run"}).json()["id"]
        added = http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                          json={"user_id": str(athlete.id), "role": "athlete"})
        assert added.status_code < 300, added.text
        granted = http.post("/v1/consents", headers=athlete.headers, json={
            "group_id": group, "scope": "history", "history_from": "2000-01-01T00:00:00Z"})
        assert granted.status_code < 300, granted.text


# --- upload ------------------------------------------------------------------------------

async def test_an_uploaded_gpx_is_a_finished_workout_whose_splits_add_up(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    me, partner, stranger = account(), account(roles=("partner",)), account()
    coach_with_history_consent(stack, me, partner)
    points = track(1500, hours_ago(3))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        created = await upload(http, me, gpx(points), sport="run", title="Morning tempo")
        assert created.status_code == 201, created.text
        workout = created.json()
        wid = workout["id"]
        assert created.headers["location"] == f"/v1/workouts/{wid}"
        assert workout["status"] == "finished" and workout["sport"] == "run"
        assert workout["title"] == "Morning tempo" and workout["athlete_id"] == str(me.id)
        assert workout["samples_count"] == 1500 and workout["duration_s"] == 1499.0
        assert workout["distance_m"] == pytest.approx(1499 * 3.0, rel=0.01)
        assert workout["avg_hr"] is not None and sum(workout["hr_zone_s"]) > 0
        assert (await http.get(f"/v1/workouts/{wid}", headers=me.headers)).json() == workout
        raw = await http.get(f"/v1/workouts/{wid}/samples", headers=me.headers,
                             params={"raw": "true", "limit": 2000})
        assert len(raw.json()) == 1500  # stored before the answer: no sink to wait for
        path = (await http.get(f"/v1/workouts/{wid}/path", headers=me.headers)).json()
        assert path["properties"]["ready"] and path["geometry"]["type"] == "LineString"

        got = await http.get(f"/v1/workouts/{wid}/splits", headers=me.headers)
        assert got.status_code == 200, got.text
        body = got.json()
        splits = body["splits"]
        assert [s["km"] for s in splits] == [1, 2, 3, 4, 5]
        assert sum(s["distance_m"] for s in splits) == pytest.approx(workout["distance_m"], abs=1e-6)
        assert body["distance_m"] == pytest.approx(workout["distance_m"], abs=1e-6)
        assert [s["distance_m"] for s in splits[:-1]] == [1000.0] * 4
        for ours, summary in zip(splits, workout["splits"], strict=False):  # the actor's own
            assert ours["km"] == summary["km"]
            assert ours["time_s"] == pytest.approx(summary["time_s"], rel=1e-9)
            assert ours["avg_hr"] == pytest.approx(summary["avg_hr"], rel=1e-9)
        assert splits[-1]["elapsed_s"] == pytest.approx(sum(s["time_s"] for s in splits))
        assert splits[-1]["elapsed_s"] == pytest.approx(1499.0, abs=1.0)
        assert all(s["pace_s_per_km"] == pytest.approx(1000 / 3.0, rel=0.02) for s in splits)
        assert sum(s["elevation_gain_m"] for s in splits) == pytest.approx(
            workout["elevation_gain_m"], rel=1e-6)
        assert sum(s["elevation_loss_m"] for s in splits) == pytest.approx(
            workout["elevation_loss_m"], rel=1e-6)
        assert body["hr_zone_s"] == workout["hr_zone_s"]

        # A partner coaching the athlete reads the splits without any heart rate.
        theirs = (await http.get(f"/v1/workouts/{wid}/splits", headers=partner.headers)).json()
        assert theirs["hr_zone_s"] is None and all(s["avg_hr"] is None for s in theirs["splits"])
        assert [s["time_s"] for s in theirs["splits"]] == [s["time_s"] for s in splits]
        refused(await http.get(f"/v1/workouts/{wid}/splits", headers=stranger.headers),
                404, "not_found")
        refused(await http.get(f"/v1/workouts/{uuid.uuid4()}/splits", headers=me.headers), 404)


async def test_a_fit_file_uploads_like_the_same_track_in_gpx(
        stack: Settings, account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    me = account()
    points = track(600, hours_ago(5), speed_mps=6.0)
    write_fit(str(tmp_path / "ride.fit"), points)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        fit = await upload(http, me, (tmp_path / "ride.fit").read_bytes(), "ride.fit", sport="ride")
        as_gpx = await upload(http, me, gpx(points), "ride.gpx", sport="ride")
    assert fit.status_code == as_gpx.status_code == 201, fit.text + as_gpx.text
    a, b = fit.json(), as_gpx.json()
    assert a["sport"] == "ride" and a["title"] is None and a["samples_count"] == 600
    assert a["distance_m"] == pytest.approx(b["distance_m"], rel=1e-4)  # FIT: semicircles
    assert a["avg_hr"] == pytest.approx(b["avg_hr"], rel=1e-9)
    assert a["distance_m"] == pytest.approx(599 * 6.0, rel=0.01)


async def test_uploads_that_cannot_be_a_workout_are_refused_with_a_reason(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    me = account()
    good = gpx(track(30, hours_ago(2)))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120) as http:
        anonymous = await http.post("/v1/workouts/import", files={"file": ("a.gpx", good)})
        refused(anonymous, 401, "unauthorized")
        big = b"<" * (20 * 1024 * 1024 + 1)  # the default limit is 20 MiB
        refused(await upload(http, me, big), 413, "too_large")
        refused(await upload(http, me, b"not a track at all"), 422, "unreadable_file")
        refused(await upload(http, me, b"\x0e\x10\x00\x00junk.FIT\x00\x00", "x.fit"), 422,
                "unreadable_file")
        refused(await upload(http, me, gpx(track(30, hours_ago(2)), timed=False)), 422,
                "no_track_points")
        off_the_globe = [(t, lat + 60.0, lon, alt, hr) for t, lat, lon, alt, hr in track(30, hours_ago(2))]
        refused(await upload(http, me, gpx(off_the_globe)), 422, "invalid_track")
        refused(await upload(http, me, gpx(track(30, hours_ago(-2)))), 422, "invalid_track")
        refused(await http.post("/v1/workouts/import", headers=me.headers, data={"sport": "run"},
                                files={"other": ("a.gpx", good)}), 400)
        refused(await upload(http, me, good, sport="skating"), 400)
        refused(await upload(http, me, good, title="x" * 121), 400)
        refused(await upload(http, me, good, title="evil\u202etxt.exe"), 400)
        listed = await http.get("/v1/workouts", headers=me.headers)
        assert listed.json() == []  # nothing refused was stored
        ok = await upload(http, me, good)
        assert ok.status_code == 201 and ok.json()["sport"] == "run"  # the default sport


# --- rename, correct the sport -----------------------------------------------------------

async def test_a_corrected_sport_recomputes_the_summary_and_moves_the_leaderboards(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    me, twin, stranger, coach = account(), account(), account(), account()
    coach_with_history_consent(stack, me, coach)
    points = track(900, hours_ago(4), speed_mps=4.0)  # a run, saved as a walk
    wid = await stream(stack, me, "walk", points)
    redis = redis_pool.connect(stack.redis_url)
    def board(sport: str) -> str:
        return keyspace.leaderboard(stack.redis_prefix, sport, "global", "all", "all")

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        walk = await stored_and_finished(http, me, wid, eventually, 900)
        assert walk["sport"] == "walk" and walk["sport_mismatch"] == "run"

        async def counted() -> bool:
            return await redis.zscore(board("walk"), str(me.id)) is not None
        await eventually(counted, timeout_s=30)

        patched = await http.patch(f"/v1/workouts/{wid}", headers=me.headers,
                                   json={"sport": "run", "title": "Tempo, not a walk"})
        assert patched.status_code == 200, patched.text
        run = patched.json()
        assert run["sport"] == "run" and run["title"] == "Tempo, not a walk"
        assert run["sport_mismatch"] is None and run["status"] == "finished"
        assert run["distance_m"] == pytest.approx(walk["distance_m"], rel=1e-9)
        assert run["calories_kcal"] != pytest.approx(walk["calories_kcal"], rel=0.01)
        assert (await http.get(f"/v1/workouts/{wid}", headers=me.headers)).json() == run
        # The oracle: the same samples uploaded as a run by an athlete with the same (default)
        # profile and no history give the same summary.
        oracle = (await upload(http, twin, gpx(points), sport="run")).json()
        for field in ("distance_m", "moving_time_s", "duration_s", "calories_kcal", "trimp",
                      "avg_hr", "max_hr", "avg_pace_s_per_km"):
            assert run[field] == pytest.approx(oracle[field], rel=1e-6), field
        assert run["calories_method"] == oracle["calories_method"]
        assert run["sport_mismatch"] == oracle["sport_mismatch"] is None
        assert run["elevation_gain_m"] == pytest.approx(oracle["elevation_gain_m"], rel=1e-4)
        assert [s["time_s"] for s in run["splits"]] == pytest.approx(
            [s["time_s"] for s in oracle["splits"]], rel=1e-6)

        # The boards: off the walk's, on the run's (PostgreSQL and Redis alike).
        with psycopg.connect(stack.pg_dsn) as conn:
            entry = conn.execute("SELECT sport, distance_m FROM leaderboard_entries"
                                 " WHERE workout_id = %s", (wid,)).fetchone()
            rows = conn.execute("SELECT sport, count(*) FROM leaderboard WHERE user_id = %s"
                                " GROUP BY sport", (me.id,)).fetchall()
        assert entry is not None and entry[0] == "run"
        assert entry[1] == pytest.approx(run["distance_m"])
        assert dict(rows) == {"run": 3}  # day, week, all-time; global only (no country)
        assert await redis.zscore(board("walk"), str(me.id)) is None
        assert await redis.zscore(board("run"), str(me.id)) == pytest.approx(run["distance_m"])

        # The same sport again changes nothing; the title alone can go.
        same = (await http.patch(f"/v1/workouts/{wid}", headers=me.headers,
                                 json={"sport": "run"})).json()
        assert same["updated_at"] == run["updated_at"]
        untitled = await http.patch(f"/v1/workouts/{wid}", headers=me.headers, json={"title": None})
        assert untitled.json()["title"] is None and untitled.json()["sport"] == "run"

        for body in ({"title": "x" * 121}, {"title": "\u202eevil"}, {"sport": "skating"},
                     {"distance_m": 5}, {"title": ""}):
            refused(await http.patch(f"/v1/workouts/{wid}", headers=me.headers, json=body), 400)
        refused(await http.patch(f"/v1/workouts/{wid}", headers=stranger.headers,
                                 json={"title": "mine"}), 404, "not_found")
        refused(await http.patch(f"/v1/workouts/{wid}", headers=coach.headers,
                                 json={"title": "Coach's"}), 403, "not_owner")
        refused(await http.patch(f"/v1/workouts/{uuid.uuid4()}", headers=me.headers,
                                 json={"title": "x"}), 404)
    await redis.aclose()


async def test_a_workout_still_recording_keeps_its_sport_and_cannot_be_deleted(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    me = account()
    points = track(60, hours_ago(0.1))
    wid = await stream(stack, me, "run", points, finish=False)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        async def live() -> bool:
            got = await http.get(f"/v1/workouts/{wid}", headers=me.headers)
            return got.status_code == 200 and got.json()["status"] == "active"
        await eventually(live, timeout_s=30)
        refused(await http.patch(f"/v1/workouts/{wid}", headers=me.headers,
                                 json={"sport": "ride"}), 409, "workout_active")
        refused(await http.delete(f"/v1/workouts/{wid}", headers=me.headers), 409, "workout_active")
        renamed = await http.patch(f"/v1/workouts/{wid}", headers=me.headers,
                                   json={"title": "Still going"})
        assert renamed.status_code == 200 and renamed.json()["title"] == "Still going"
        assert renamed.json()["sport"] == "run"
    async with DeviceClient(stack.gateway_ws_url, me.token) as device:
        await device.start(wid, "run", points[0][0])
        await device.finish(wid, points[-1][0])


# --- delete ------------------------------------------------------------------------------

COUNTS = {
    "workouts": "SELECT count(*) FROM workouts WHERE id = %(w)s",
    "sensor_data": "SELECT count(*) FROM sensor_data WHERE workout_id = %(w)s",
    "workout_metrics": "SELECT count(*) FROM workout_metrics WHERE workout_id = %(w)s",
    "workout_metrics_1m": "SELECT count(*) FROM workout_metrics_1m WHERE workout_id = %(w)s",
    "leaderboard_entries": "SELECT count(*) FROM leaderboard_entries WHERE workout_id = %(w)s",
    "leaderboard": "SELECT count(*) FROM leaderboard WHERE user_id = %(u)s",
    "notification_logs": "SELECT count(*) FROM notification_logs WHERE dedupe_key LIKE %(alerts)s",
    "recommendations": "SELECT count(*) FROM recommendations WHERE items->>'after_workout' = %(w)s::text",
    "inference_log": "SELECT count(*) FROM inference_log WHERE workout_id = %(w)s OR trigger_id = %(w)s",
    "user_achievements": "SELECT count(*) FROM user_achievements WHERE workout_id = %(w)s",
}


def counts(stack: Settings, wid: uuid.UUID, athlete: uuid.UUID) -> dict[str, int]:
    params = {"w": wid, "u": athlete, "alerts": f"risk.alert:{wid}:%"}
    with psycopg.connect(stack.pg_dsn) as conn:
        return {table: conn.execute(sql, params).fetchone()[0]  # type: ignore[index]
                for table, sql in COUNTS.items()}


def derived_rows_nobody_streams(stack: Settings, wid: uuid.UUID, athlete: Account,
                                coach: Account) -> None:
    """Rows the stack makes only in special cases: risk alerts to the athlete and a coach,
    a model inference about the workout, a badge it earned."""
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        for recipient in (athlete.id, coach.id):
            conn.execute("INSERT INTO notification_logs (user_id, notification_type, channel,"
                         " message, status, dedupe_key) VALUES (%s, 'risk.alert', 'in_app',"
                         " 'High injury-risk flag', 'delivered', %s)",
                         (recipient, f"risk.alert:{wid}:high:{recipient}"))
        conn.execute("INSERT INTO inference_log (model_type, model_version, user_id, workout_id,"
                     " inputs, output, latency_ms) VALUES ('risk', 'test', %s, %s, '{}', '{}', 1)",
                     (athlete.id, wid))
        badge = conn.execute("INSERT INTO achievements (code, title) VALUES (%s, 'First 2 km')"
                             " RETURNING id", (f"t{uuid.uuid4().hex[:12]}",)).fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO user_achievements (user_id, achievement_id, workout_id)"
                     " VALUES (%s, %s, %s)", (athlete.id, badge, wid))


async def test_deleting_a_workout_removes_everything_derived_from_it_for_good(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    me, coach, stranger = account(), account(), account()
    coach_with_history_consent(stack, me, coach)
    points = track(700, hours_ago(1))
    wid = await stream(stack, me, "run", points)
    redis = redis_pool.connect(stack.redis_url)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        await stored_and_finished(http, me, wid, eventually, 700)

        async def everything_written() -> dict[str, int] | None:
            found = counts(stack, wid, me.id)
            wanted = ("workouts", "sensor_data", "workout_metrics", "workout_metrics_1m",
                      "leaderboard_entries", "leaderboard", "recommendations")
            path = (await http.get(f"/v1/workouts/{wid}/path", headers=me.headers)).json()
            return found if all(found[t] for t in wanted) and path["properties"]["ready"] else None
        await eventually(everything_written, timeout_s=90)
        derived_rows_nobody_streams(stack, wid, me, coach)
        before = counts(stack, wid, me.id)
        assert all(before.values()), before
        assert await redis.exists(*(keyspace.live_state(stack.redis_prefix, wid),
                                    keyspace.snapshot(stack.redis_prefix, wid))) >= 1
        board = keyspace.leaderboard(stack.redis_prefix, "run", "global", "all", "all")
        assert await redis.zscore(board, str(me.id)) is not None
        assert await alerted(http, coach, wid)

        refused(await http.delete(f"/v1/workouts/{wid}", headers=stranger.headers), 404, "not_found")
        refused(await http.delete(f"/v1/workouts/{wid}", headers=coach.headers), 403, "not_owner")
        gone = await http.delete(f"/v1/workouts/{wid}", headers=me.headers)
        assert gone.status_code == 204, gone.text
        assert counts(stack, wid, me.id) == dict.fromkeys(COUNTS, 0)
        refused(await http.get(f"/v1/workouts/{wid}", headers=me.headers), 404)
        refused(await http.get(f"/v1/workouts/{wid}/splits", headers=me.headers), 404)
        refused(await http.delete(f"/v1/workouts/{wid}", headers=me.headers), 404)
        assert (await http.get("/v1/workouts", headers=me.headers)).json() == []
        assert not await alerted(http, coach, wid)
        recommended = (await http.get("/v1/recommendations/me", headers=me.headers)).json()
        assert recommended.get("after_workout") != str(wid)
        with psycopg.connect(stack.pg_dsn) as conn:
            claim = conn.execute("SELECT user_id, deleted_at FROM workout_ids WHERE id = %s",
                                 (wid,)).fetchone()
            badges = conn.execute("SELECT count(*) FROM user_achievements WHERE user_id = %s",
                                  (me.id,)).fetchone()
        assert claim is not None and claim[0] == me.id and claim[1] is not None  # id kept, marked
        assert badges == (1,)  # the badge stays, without its workout
        assert await redis.exists(*(k(stack.redis_prefix, wid) for k in (
            keyspace.snapshot, keyspace.journal, keyspace.placement, keyspace.live_state,
            keyspace.live_version))) == 0
        assert await redis.zscore(board, str(me.id)) is None
    await redis.aclose()
    await nothing_in_flight_brings_it_back(stack, wid, me.id, points)


async def alerted(http: httpx.AsyncClient, who: Account, wid: uuid.UUID) -> bool:
    """Whether `who`'s inbox holds an alert about the workout."""
    inbox = (await http.get("/v1/notifications/me", headers=who.headers)).json()
    return any(n["workout_id"] == str(wid) for n in inbox["items"])


async def nothing_in_flight_brings_it_back(stack: Settings, wid: uuid.UUID, athlete: uuid.UUID,
                                           points: list[Point]) -> None:
    """What a redelivered event would make each sink write: nothing, for a deleted workout."""
    samples_event = events.SamplesAccepted(
        workout_id=wid, user_id=athlete, sport="run", seq=0,
        samples=[(t, lat, lon, alt, float(hr), None) for t, lat, lon, alt, hr in points[:50]])
    summary = events.WorkoutSummary(version=10**6, status="active", sport="run",
                                    started_at_ms=points[0][0], distance_m=100.0)
    snapshot = events.WorkoutMetricsUpdated(workout_id=wid, user_id=athlete,
                                            t_ms=points[10][0], summary=summary)
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        assert await samples.write_samples(conn, [samples_event]) == 0
        await timeseries.write_metrics(conn, [snapshot])
        assert not await workouts.project_summary(conn, wid, athlete, summary)
        standings = await leaderboards.count_completed(conn, [leaderboards.CompletedWorkout(
            workout_id=wid, user_id=athlete, sport="run", started_at_ms=points[0][0],
            distance_m=100.0)])
    assert standings == []
    assert counts(stack, wid, athlete) == dict.fromkeys(COUNTS, 0)


async def test_an_admin_may_delete_an_athletes_workout(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    me, admin = account(), account(roles=("admin",))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        wid = (await upload(http, me, gpx(track(120, hours_ago(6))))).json()["id"]
        gone = await http.delete(f"/v1/workouts/{wid}", headers=admin.headers)
        assert gone.status_code == 204, gone.text
        refused(await http.get(f"/v1/workouts/{wid}", headers=me.headers), 404)


# --- the list, filtered ------------------------------------------------------------------

async def test_the_list_filters_by_sport_date_status_and_title_page_by_page(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    me = account()
    day = dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)
    made = [("run", 0, "Easy run"), ("ride", 2, "Hill repeats"), ("run", 4, "Long RUN"),
            ("run", 6, "Recovery")]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        ids = {}
        for sport, days, title in made:
            start = int((day + dt.timedelta(days=days)).timestamp() * 1000)
            created = await upload(http, me, gpx(track(60, start)), sport=sport, title=title)
            assert created.status_code == 201, created.text
            ids[title] = created.json()["id"]

        async def titles(**params: Any) -> list[str]:
            got = await http.get("/v1/workouts", headers=me.headers, params=params)
            assert got.status_code == 200, got.text
            return [w["title"] for w in got.json()]

        assert await titles() == ["Recovery", "Long RUN", "Hill repeats", "Easy run"]
        assert await titles(sport="ride") == ["Hill repeats"]
        assert await titles(**{"from": "2025-03-03", "to": "2025-03-05"}) == [
            "Long RUN", "Hill repeats"]  # both days included
        assert await titles(**{"from": "2025-03-04"}) == ["Recovery", "Long RUN"]
        assert await titles(to="2025-03-01") == ["Easy run"]  # the whole last day counts
        assert await titles(q="run") == ["Long RUN", "Easy run"]  # any case
        assert await titles(status="finished", sport="run", q="r") == [
            "Recovery", "Long RUN", "Easy run"]
        assert await titles(status="active") == []

        first = await http.get("/v1/workouts", headers=me.headers,
                               params={"sport": "run", "limit": 2})
        assert [w["title"] for w in first.json()] == ["Recovery", "Long RUN"]
        link = first.headers["link"]
        assert "sport=run" in link and "limit=2" in link
        rest = await http.get(link.split(">")[0].lstrip("<"), headers=me.headers)
        assert [w["title"] for w in rest.json()] == ["Easy run"] and "x-next-cursor" not in rest.headers

        refused(await http.get("/v1/workouts", headers=me.headers,
                               params={"from": "2025-03-05", "to": "2025-03-01"}), 400, "bad_range")
        refused(await http.get("/v1/workouts", headers=me.headers, params={"sport": "skating"}), 400)
        refused(await http.get("/v1/workouts", headers=me.headers, params={"from": "March"}), 400)
        refused(await http.get("/v1/workouts", headers=me.headers, params={"status": "lost"}), 400)
        refused(await http.get("/v1/workouts", headers=me.headers, params={"q": "x" * 121}), 400)


# --- consent journal, e-mail ---------------------------------------------------------------

async def test_the_consent_journal_shows_a_grant_then_its_withdrawal(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    # Signed up without the health-data consent, whose grant would be journaled too.
    me, coach, other = account(health_consent=None), account(), account(health_consent=None)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        group = (await http.post("/v1/groups", headers=coach.headers,
                                 json={"name": "Track club", "sport": "run"})).json()["id"]
        await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                        json={"user_id": str(me.id), "role": "athlete"})
        consent = (await http.post("/v1/consents", headers=me.headers, json={
            "group_id": group, "scope": "live", "purpose": "race preparation"})).json()["id"]
        withdrawn = await http.delete(f"/v1/consents/{consent}", headers=me.headers)
        assert withdrawn.status_code == 204

        journal = await http.get("/v1/consents/journal", headers=me.headers)
        assert journal.status_code == 200, journal.text
        entries = journal.json()
        assert [e["action"] for e in entries] == ["withdrawn", "granted"]  # newest first
        assert all(e["consent_id"] == consent and e["group_id"] == group for e in entries)
        assert entries[1]["purpose"] == "race preparation" and entries[1]["scope"] == "live"
        assert entries[0]["group_name"] == "Track club" and entries[0]["actor_id"] == str(me.id)
        assert entries[0]["policy_version"] and entries[0]["at"] >= entries[1]["at"]

        page = await http.get("/v1/consents/journal", headers=me.headers, params={"limit": 1})
        assert [e["action"] for e in page.json()] == ["withdrawn"]
        after = await http.get("/v1/consents/journal", headers=me.headers,
                               params={"limit": 1, "cursor": page.headers["x-next-cursor"]})
        assert [e["action"] for e in after.json()] == ["granted"]
        assert "x-next-cursor" not in after.headers
        refused(await http.get("/v1/consents/journal", headers=me.headers,
                               params={"cursor": "not-a-cursor"}), 400, "bad_cursor")
        assert (await http.get("/v1/consents/journal", headers=other.headers)).json() == []
        refused(await http.get("/v1/consents/journal"), 401)


async def test_changing_the_email_needs_a_recent_password_and_a_free_address(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    me, other = account(), account()
    new = f"renamed-{uuid.uuid4().hex[:10]}@Example.org"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        refused(await http.post("/v1/users/me/email", headers=me.headers,
                                json={"email": other.email}), 409, "email_taken")
        for bad in ("no-at-sign", "a@b", "two@@example.org", "spaces in@example.org", ""):
            refused(await http.post("/v1/users/me/email", headers=me.headers,
                                    json={"email": bad}), 422, "invalid_email")
        refused(await http.post("/v1/users/me/email", headers=me.headers, json={}), 400)
        with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:  # the login was long ago
            conn.execute("UPDATE sessions SET reauth_at = now() - interval '1 hour'"
                         " WHERE user_id = %s", (me.id,))
        refused(await http.post("/v1/users/me/email", headers=me.headers,
                                json={"email": new}), 403, "reauth_required")
        again = await http.post("/v1/auth/reauth", headers=me.headers, json={"password": me.password})
        assert again.status_code == 204, again.text
        changed = await http.post("/v1/users/me/email", headers=me.headers, json={"email": new})
        assert changed.status_code == 200, changed.text
        assert changed.json()["email"] == new.lower()
        assert (await http.get("/v1/users/me", headers=me.headers)).json()["email"] == new.lower()
        old = await http.post("/v1/auth/login", json={"email": me.email, "password": me.password})
        refused(old, 401)
        login = await http.post("/v1/auth/login", json={"email": new, "password": me.password})
        assert login.status_code == 200, login.text
        same = await http.post("/v1/users/me/email", headers=me.headers, json={"email": new})
        assert same.status_code == 200  # already yours: nothing to change
        refused(await http.post("/v1/users/me/email", json={"email": new}), 401)


async def test_the_new_routes_are_in_the_openapi_schema(stack: Settings) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        spec = (await http.get("/schema/openapi.json")).json()
    paths = spec["paths"]
    assert {"patch", "delete", "get"} <= set(paths["/v1/workouts/{workout_id}"])
    assert "multipart/form-data" in paths["/v1/workouts/import"]["post"]["requestBody"]["content"]
    assert "get" in paths["/v1/workouts/{workout_id}/splits"]
    assert "get" in paths["/v1/consents/journal"] and "post" in paths["/v1/users/me/email"]
    listed = {p["name"] for p in paths["/v1/workouts"]["get"]["parameters"]}
    assert {"sport", "from", "to", "status", "q", "cursor"} <= listed
    for path, item in paths.items():
        if "workouts" in path or path in ("/v1/consents/journal", "/v1/users/me/email"):
            assert all(op.get("summary") for op in item.values()), path
