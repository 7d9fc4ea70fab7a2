"""The lawful basis for health data and the age gate (issue 18, point 7), through the running
stack: consent given at sign-up is journaled with its policy version; without it, or once
withdrawn, the device's heart rate and SpO2 are left out (`health_consent_required`, then the
ack) and the rest is taken; under 16 a guardian — an adult account with the e-mail the athlete
named — must confirm before health data is processed and before groups take the athlete."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest

from gateway.client import DeviceClient
from stack.settings import Settings
from storage.consents import POLICY_VERSION
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


async def _stream(stack: Settings, athlete: Any) -> tuple[uuid.UUID, list[str]]:
    """A workout of 5 samples with HR and SpO2 on a fresh connection: (its id, the notice
    codes the device got)."""
    wid, t0 = uuid.uuid4(), int(time.time() * 1000) - 10_000
    async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
        await device.start(wid, "run", t0)
        ack = await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, 300.0,
                                                  150.0, 97.0) for i in range(5)])
        assert ack.seq == 4  # taken, with or without its health fields
        return wid, [n.code for n in device.notices]


async def _stored(http: httpx.AsyncClient, athlete: Any, wid: uuid.UUID) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def all_there() -> bool:
        answer = await http.get(f"/v1/workouts/{wid}/samples?raw=true", headers=athlete.headers)
        found[:] = answer.json() if answer.status_code == 200 else []
        return len(found) == 5

    assert await wait_until_async(all_there, 20, interval_s=0.1), f"{wid}: {found}"
    return found


async def _standing(http: httpx.AsyncClient, who: Any) -> dict[str, Any]:
    answer = await http.get("/v1/me/health-consent", headers=who.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _journal(http: httpx.AsyncClient, who: Any, scope: str) -> list[tuple[str, str, str]]:
    entries = (await http.get("/v1/consents/journal", headers=who.headers)).json()
    return [(e["action"], e["actor_id"], e["policy_version"]) for e in entries
            if e["scope"] == scope]


async def test_consent_at_sign_up_is_journaled_and_health_data_waits_for_it(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        consented = account()
        standing = await _standing(http, consented)
        assert standing["health_consent"] and standing["health_processing"]
        assert standing["policy_version"] == standing["current_policy_version"] == POLICY_VERSION
        assert await _journal(http, consented, "health_processing") == [
            ("granted", str(consented.id), POLICY_VERSION)]
        wid, notices = await _stream(stack, consented)
        assert notices == []
        assert {s["hr_bpm"] for s in await _stored(http, consented, wid)} == {150.0}

        # Registered the old way, without the consent: the account works, its HR is not taken.
        silent = account(health_consent=None)
        standing = await _standing(http, silent)
        assert not standing["health_consent"] and not standing["health_processing"]
        wid, notices = await _stream(stack, silent)
        assert notices == ["health_consent_required"]
        stored = await _stored(http, silent, wid)
        assert [(s["hr_bpm"], s["spo2_pct"], s["lat"] is not None, s["alt_m"]) for s in stored] \
            == [(None, None, True, 300.0)] * 5
        summary = (await http.get(f"/v1/workouts/{wid}", headers=silent.headers)).json()
        assert summary["avg_hr"] is None and summary["max_hr"] is None

        outdated = await http.post("/v1/me/health-consent", headers=silent.headers,
                                   json={"policy_version": "2001-01"})
        assert outdated.status_code == 422 and outdated.json()["code"] == "policy_outdated"
        given = await http.post("/v1/me/health-consent", headers=silent.headers,
                                json={"policy_version": POLICY_VERSION})
        assert given.status_code == 200 and given.json()["health_processing"]
        wid, notices = await _stream(stack, silent)
        assert notices == [] and {s["hr_bpm"] for s in await _stored(http, silent, wid)} == {150.0}

        refused = await http.post("/v1/auth/register", json={
            "email": f"old-{uuid.uuid4().hex[:8]}@example.org", "password": "a long passphrase 42",
            "health_consent": {"policy_version": "2001-01"}})
        assert refused.status_code == 422 and refused.json()["code"] == "policy_outdated"


async def test_a_withdrawn_consent_stops_the_processing_and_is_journaled(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete = account()
        withdrawn = await http.delete("/v1/me/health-consent", headers=athlete.headers)
        assert withdrawn.status_code == 204
        again = await http.delete("/v1/me/health-consent", headers=athlete.headers)
        assert again.status_code == 204  # nothing left to withdraw: nothing journaled
        assert not (await _standing(http, athlete))["health_processing"]
        assert await _journal(http, athlete, "health_processing") == [
            ("withdrawn", str(athlete.id), POLICY_VERSION),
            ("granted", str(athlete.id), POLICY_VERSION)]
        wid, notices = await _stream(stack, athlete)
        assert notices == ["health_consent_required"]
        assert {(s["hr_bpm"], s["spo2_pct"]) for s in await _stored(http, athlete, wid)} \
            == {(None, None)}


def _born(years_ago: int) -> str:
    today = dt.datetime.now(dt.UTC).date()
    return today.replace(year=today.year - years_ago, day=min(today.day, 28)).isoformat()


async def test_under_16_a_guardian_of_age_confirms_before_health_data_and_groups(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        child = account(first_name="Kim", birth_date=_born(12))
        parent = account(birth_date=_born(40))
        teenager = account(birth_date=_born(15))
        coach = account()
        group = (await http.post("/v1/groups", headers=coach.headers,
                                 json={"name": "Juniors", "sport": "run"})).json()["id"]
        standing = await _standing(http, child)
        assert standing["under_16"] and standing["health_consent"]
        assert not standing["health_processing"] and not standing["social"]
        _, notices = await _stream(stack, child)
        assert notices == ["health_consent_required"]
        join = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                               json={"user_id": str(child.id), "role": "athlete"})
        assert join.status_code == 409 and join.json()["code"] == "guardian_consent_required"
        adult = await http.put("/v1/me/guardian", headers=parent.headers,
                               json={"email": child.email})
        assert adult.status_code == 409 and adult.json()["code"] == "guardian_not_needed"

        named = await http.put("/v1/me/guardian", headers=child.headers,
                               json={"email": parent.email.upper()})
        assert named.status_code == 200, named.text
        assert named.json()["guardian"]["confirmed_at"] is None
        asked = (await http.get("/v1/guardian/requests", headers=parent.headers)).json()
        assert [(r["athlete_name"], r["athlete_id"]) for r in asked] == [("Kim", str(child.id))]
        request = asked[0]["id"]
        for stranger, status, code in ((teenager, 403, "guardian_not_of_age"),
                                       (coach, 403, "guardian_not_of_age")):
            wrong = await http.post(f"/v1/guardian/requests/{request}/confirm",
                                    headers=stranger.headers)
            assert (wrong.status_code, wrong.json()["code"]) == (status, code)
        confirmed = await http.post(f"/v1/guardian/requests/{request}/confirm",
                                    headers=parent.headers)
        assert confirmed.status_code == 200 and confirmed.json()["confirmed_at"]

        standing = await _standing(http, child)
        assert standing["health_processing"] and standing["social"]
        assert await _journal(http, child, "guardian") == [
            ("granted", str(parent.id), POLICY_VERSION)]
        wid, notices = await _stream(stack, child)
        assert notices == [] and {s["hr_bpm"] for s in await _stored(http, child, wid)} == {150.0}
        join = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                               json={"user_id": str(child.id), "role": "athlete"})
        assert join.status_code == 200, join.text

        ended = await http.delete(f"/v1/guardian/requests/{request}", headers=parent.headers)
        assert ended.status_code == 204
        assert not (await _standing(http, child))["health_processing"]
        assert (await _journal(http, child, "guardian"))[0] == (
            "withdrawn", str(parent.id), POLICY_VERSION)
        gone = await http.post(f"/v1/guardian/requests/{request}/confirm", headers=parent.headers)
        assert gone.status_code == 404


def _gpx_with_hr(points: int = 30) -> bytes:
    t0 = dt.datetime(2024, 5, 1, 7, 0, tzinfo=dt.UTC)
    rows = "".join(
        f'<trkpt lat="{45.0 + 3e-5 * i:.5f}" lon="7.0"><time>'
        f'{(t0 + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")}</time><extensions>'
        f"<gpxtpx:TrackPointExtension><gpxtpx:hr>150</gpxtpx:hr></gpxtpx:TrackPointExtension>"
        f"</extensions></trkpt>" for i in range(points))
    return ('<?xml version="1.0"?><gpx version="1.1" creator="consent test" '
            'xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
            f"<trk><trkseg>{rows}</trkseg></trk></gpx>").encode()


async def test_an_upload_without_the_consent_leaves_its_heart_rate_out(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        for who, notice, avg_hr in ((account(health_consent=None), "health_consent_required", None),
                                    (account(), None, 150.0)):
            upload = await http.post("/v1/workouts/import", headers=who.headers, files={
                "file": ("run.gpx", _gpx_with_hr(), "application/gpx+xml")})
            assert upload.status_code == 201, upload.text
            assert upload.headers.get("Stride-Notice") == notice
            assert upload.json()["avg_hr"] == avg_hr


async def test_leaderboards_name_a_child_only_once_a_guardian_consented(stack: Settings) -> None:
    import psycopg

    from storage import leaderboards

    board = leaderboards.Board(sport="run", region="all", window="all", period_start=None)
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        people = {}
        for name, years in (("Kim", 12), ("Ada", 30)):
            cur = await conn.execute(
                "INSERT INTO users (email, first_name, last_name, birth_date) VALUES (%s, %s,"
                " 'Lee', now() - make_interval(years => %s)) RETURNING id",
                (f"board-{uuid.uuid4().hex[:10]}@example.org", name, years))
            row = await cur.fetchone()
            assert row is not None
            people[name] = row[0]
            await conn.execute("INSERT INTO privacy_settings (user_id, leaderboard_name)"
                               " VALUES (%s, true)", (row[0],))
        ids = list(people.values())
        names = await leaderboards.athletes(conn, board, ids)
        assert {n: names[i].name for n, i in people.items()} == {"Kim": "Athlete", "Ada": "Ada L."}
        await conn.execute("INSERT INTO guardian_consents (athlete_id, guardian_email, guardian_id,"
                           " confirmed_at) VALUES (%s, 'parent@example.org', %s, now())",
                           (people["Kim"], people["Ada"]))
        names = await leaderboards.athletes(conn, board, ids)
        assert names[people["Kim"]].name == "Kim L."
