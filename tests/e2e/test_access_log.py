"""Who looked at my health data (issue 18, point 6), through the running stack: a coach's REST
reads and live feed appear in the athlete's `GET /v1/me/access-log` — who, what, when, under
which consent — the athlete's own reads do not, a partner's health-free reads do not, an
admin finds them through the internal GraphQL API (and that query is audited), and the
table refuses UPDATE, DELETE and TRUNCATE except through the erasure path."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import psycopg
import pyotp
import pytest
import websockets
from helper_processes import tls_client_options
from user_accounts import remember

from gateway.client import DeviceClient
from gateway.internal import persisted
from stack.settings import Settings
from storage import access_log
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


async def _people(conn: psycopg.AsyncConnection[Any], n: int) -> list[uuid.UUID]:
    """Accounts straight in the database: the log records reads of people who exist."""
    ids = []
    for _ in range(n):
        cur = await conn.execute("INSERT INTO users (email) VALUES (%s) RETURNING id",
                                 (f"log-{uuid.uuid4().hex[:12]}@example.org",))
        row = await cur.fetchone()
        assert row is not None
        ids.append(row[0])
    return ids


async def _coached(http: httpx.AsyncClient, account: Any) -> tuple[Any, Any, str, str]:
    """An athlete streaming HR, in a group whose coach they let watch live; (athlete, coach,
    group id, consent id)."""
    athlete = account(first_name="Ada")
    coach = account(first_name="Cleo", last_name="Coach")
    group = (await http.post("/v1/groups", headers=coach.headers,
                             json={"name": "Track Tuesdays", "sport": "run"})).json()["id"]
    added = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                            json={"user_id": str(athlete.id), "role": "athlete"})
    assert added.status_code == 200 and added.json()["status"] == "added"
    consent = await http.post("/v1/consents", headers=athlete.headers,
                              json={"group_id": group, "scope": "live"})
    assert consent.status_code == 201, consent.text
    return athlete, coach, group, consent.json()["id"]


async def _live_workout(stack: Settings, http: httpx.AsyncClient, athlete: Any) -> uuid.UUID:
    wid = uuid.uuid4()
    t0 = int(time.time() * 1000) - 20_000
    async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
        await device.start(wid, "run", t0)
        await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, None, 150.0, 97.0)
                                           for i in range(10)])

    async def stored() -> bool:
        answer = await http.get(f"/v1/workouts/{wid}/samples", headers=athlete.headers)
        return answer.status_code == 200 and len(answer.json()) == 10

    assert await wait_until_async(stored, 20, interval_s=0.1), f"{wid} never stored"
    return wid


async def _log_until(http: httpx.AsyncClient, athlete: Any, wanted: int) -> list[dict[str, Any]]:
    """The athlete's access log once it holds at least `wanted` entries (rows are written
    within a fraction of a second of the read)."""
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        answer = await http.get("/v1/me/access-log", headers=athlete.headers)
        assert answer.status_code == 200, answer.text
        found[:] = answer.json()
        return len(found) >= wanted

    assert await wait_until_async(enough, 15, interval_s=0.1), f"log holds {found}"
    return found


async def test_a_coachs_reads_are_logged_for_the_athlete_and_the_athletes_own_are_not(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, _, consent = await _coached(http, account)
        wid = await _live_workout(stack, http, athlete)
        for path in ("", "/samples", "/splits", "/minutes"):  # the athlete's own reads first
            assert (await http.get(f"/v1/workouts/{wid}{path}", headers=athlete.headers)).is_success
        for path in ("", "/samples", "/splits"):
            read = await http.get(f"/v1/workouts/{wid}{path}", headers=coach.headers)
            assert read.status_code == 200, read.text
        listed = await http.get(f"/v1/workouts?athlete={athlete.id}", headers=coach.headers)
        assert [w["id"] for w in listed.json()] == [str(wid)]

        log = await _log_until(http, athlete, 4)
        assert sorted(e["what"] for e in log) == ["samples", "splits", "workout", "workouts"]
        for entry in log:
            assert entry["viewer_name"] == "Cleo Coach" and entry["viewer_role"] == "coach"
            assert entry["via"] == "rest" and entry["basis"] == "consent"
            assert entry["consent_id"] == consent and entry["group_name"] == "Track Tuesdays"
            assert entry["workout_id"] == (None if entry["what"] == "workouts" else str(wid))
        newest_first = [e["at"] for e in log]
        assert newest_first == sorted(newest_first, reverse=True)
        # The coach's own log is empty: reading is logged for the one read about.
        assert (await http.get("/v1/me/access-log", headers=coach.headers)).json() == []

        page = await http.get("/v1/me/access-log?limit=3", headers=athlete.headers)
        rest = await http.get(f"/v1/me/access-log?cursor={page.headers['X-Next-Cursor']}",
                              headers=athlete.headers)
        assert [e["id"] for e in page.json() + rest.json()] == [e["id"] for e in log]
        bad = await http.get("/v1/me/access-log?cursor=nonsense", headers=athlete.headers)
        assert bad.status_code == 400 and bad.json()["code"]


async def test_a_partner_without_health_fields_is_not_logged_an_admin_is(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, _, _ = await _coached(http, account)
        partner = account(roles=("partner",), first_name="Pat")
        with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:  # the partner coaches too
            conn.execute("INSERT INTO user_groups (user_id, group_id, role) SELECT %s, group_id,"
                         " 'coach' FROM user_groups WHERE user_id = %s AND role = 'coach'",
                         (partner.id, coach.id))
        admin = account(roles=("admin",), first_name="Ari", last_name="Admin")
        wid = await _live_workout(stack, http, athlete)
        redacted = await http.get(f"/v1/workouts/{wid}", headers=partner.headers)
        assert redacted.status_code == 200 and redacted.json()["avg_hr"] is None
        assert (await http.get(f"/v1/workouts/{wid}", headers=admin.headers)).status_code == 200

        log = await _log_until(http, athlete, 1)
        assert [(e["viewer_name"], e["viewer_role"], e["basis"], e["consent_id"]) for e in log] \
            == [("Ari Admin", "admin", "role", None)]


async def test_a_live_feed_is_logged_once_per_session_and_athlete(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group, consent = await _coached(http, account)
        for _ in range(2):
            async with websockets.connect(f"{stack.gateway_ws_url}/v1/live?group={group}",
                                          additional_headers=coach.headers) as feed:
                assert '"snapshot"' in str(await feed.recv())
                wid = await _live_workout(stack, http, athlete)  # updates flow meanwhile
        async with websockets.connect(f"{stack.gateway_ws_url}/v1/live?athlete={athlete.id}",
                                      additional_headers=athlete.headers) as feed:
            assert '"snapshot"' in str(await feed.recv())  # the athlete's own: not logged
        # A last read by the coach: rows are written in the order of the reads, so once it
        # is there, an entry for the athlete's own feed would be too.
        assert (await http.get(f"/v1/workouts/{wid}", headers=coach.headers)).status_code == 200

        log = await _log_until(http, athlete, 3)
        assert [(e["what"], e["via"], e["viewer_role"], e["consent_id"]) for e in log] == [
            ("workout", "rest", "coach", consent),
            *[("live", "live", "coach", consent)] * 2], "one entry per feed, not per update"
        assert {e["consent_scope"] for e in log} == {"live"}


async def test_admins_query_everyones_log_through_the_internal_api_and_are_audited(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, _, consent = await _coached(http, account)
        wid = await _live_workout(stack, http, athlete)
        assert (await http.get(f"/v1/workouts/{wid}", headers=coach.headers)).status_code == 200
        await _log_until(http, athlete, 1)
    admin = account(roles=("admin",))
    assert admin.totp_secret
    operation = persisted.load()["AccessLog"]
    async with httpx.AsyncClient(base_url=stack.internal_gateway_url, timeout=30,
                                 **tls_client_options()) as internal:
        login = await internal.post("/internal/v1/auth/login", json={
            "email": admin.email, "password": admin.password,
            "otp": pyotp.TOTP(admin.totp_secret).at(time.time() + 30)})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        remember(token)
        answer = await internal.post("/graphql", headers={"Authorization": f"Bearer {token}"}, json={
            "extensions": {"persistedQuery": {"version": 1,
                                              "sha256Hash": persisted.query_id(operation)}},
            "variables": {"subjectId": str(athlete.id), "what": "WORKOUT"}})
    assert answer.status_code == 200, answer.text
    items = answer.json()["data"]["accessLog"]["items"]
    assert [(i["viewerId"], i["subjectId"], i["workoutId"], i["consentId"]) for i in items] == [
        (str(coach.id), str(athlete.id), str(wid), consent)]
    with psycopg.connect(stack.pg_dsn) as conn:
        audited = conn.execute("SELECT action, outcome FROM admin_audit WHERE actor_id = %s"
                               " AND target = %s", (admin.id, f"user:{athlete.id}")).fetchall()
    assert audited == [("accessLog", "ok")]


async def test_the_log_is_append_only_but_for_the_erasure_of_one_person(stack: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
        viewer, athlete, other = await _people(conn, 3)
        await access_log.record(conn, viewer, athlete, "workout", "rest")
        await access_log.record(conn, viewer, other, "live", "live")
        await access_log.record(conn, None, athlete, "export", "export",
                                staff_reason="ticket 4711: the athlete asked for a copy")
        for statement in ("UPDATE health_access_log SET what = 'samples' WHERE subject_id = %s",
                          "UPDATE health_access_log SET viewer_id = NULL, viewer_erased = true"
                          " WHERE subject_id = %s",
                          "DELETE FROM health_access_log WHERE subject_id = %s"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await conn.execute(statement, (athlete,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            await conn.execute("TRUNCATE health_access_log")

        async with conn.transaction():  # erasing the viewer: their reads stay, pseudonymised
            assert await access_log.erase_person(conn, viewer) == 2
        rows = await access_log.entries(conn, subject_id=other)
        assert [(r.viewer_id, r.viewer_erased, r.viewer_name) for r in rows] == [
            (None, True, "Erased account")]
        async with conn.transaction():  # erasing the athlete: the record of reads goes
            assert await access_log.erase_person(conn, athlete) == 2
        assert await access_log.entries(conn, subject_id=athlete) == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # and the door is shut again
            await conn.execute("DELETE FROM health_access_log WHERE subject_id = %s", (other,))


async def test_the_writer_batches_reads_and_makes_identical_ones_within_a_batch_one(
        stack: Settings) -> None:
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(stack.pg_dsn, min_size=1, max_size=1, open=False) as pool:
        async with pool.connection() as conn:
            viewer, athlete, erased = await _people(conn, 3)
            await conn.execute("UPDATE users SET erasure_requested_at = now() WHERE id = %s",
                               (erased,))
        read = access_log.Read(viewer_id=viewer, viewer_role="admin", subject_id=athlete,
                               what="samples", via="rest", workout_id=uuid.uuid4())
        writer = access_log.AccessLogWriter(pool, flush_s=3600)  # flushed by hand below
        for _ in range(3):  # the pages of one chart
            writer.add(read)
        writer.add(access_log.Read(viewer_id=viewer, viewer_role="admin", subject_id=athlete,
                                   what="splits", via="rest", workout_id=read.workout_id))
        writer.add(access_log.Read(viewer_id=athlete, viewer_role="coach", subject_id=athlete,
                                   what="workout", via="rest"))  # refused: one's own read
        # Reads queued just before an erasure began are not written back in after it.
        writer.add(access_log.Read(viewer_id=viewer, viewer_role="admin", subject_id=erased,
                                   what="workout", via="rest"))
        writer.add(access_log.Read(viewer_id=erased, viewer_role="coach", subject_id=athlete,
                                   what="live", via="live"))
        await writer.flush()
        async with pool.connection() as conn:
            rows = await access_log.entries(conn, subject_id=athlete)
            gone = await access_log.entries(conn, subject_id=erased)
    assert sorted((r.what, r.basis) for r in rows) == [("samples", "role"), ("splits", "role")]
    assert gone == []
