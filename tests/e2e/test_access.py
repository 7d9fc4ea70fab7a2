"""Who sees what: groups, consents, the coach's live feed, partners and admins."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import msgspec
import psycopg
import pytest
import websockets

from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


async def _stream_workout(stack: Settings, token: str, n: int = 10) -> uuid.UUID:
    wid = uuid.uuid4()
    t0 = int(time.time() * 1000) - 60_000
    async with DeviceClient(stack.gateway_ws_url, token) as device:
        await device.start(wid, "run", t0)
        await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, None, 150.0, 97.0)
                                           for i in range(n)])
    return wid


async def _coached(stack: Settings, account, http: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    """An athlete in a group of a coach; returns (athlete, coach, group_id)."""
    athlete, coach = account(), account()
    group = (await http.post("/v1/groups", headers=coach.headers,
                             json={"name": "Tuesday intervals", "sport": "run"})).json()["id"]
    added = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                            json={"user_id": str(athlete.id), "role": "athlete"})
    assert added.status_code == 200 and added.json()["status"] == "added"
    return athlete, coach, group


async def _eventually_status(http: httpx.AsyncClient, url: str, headers: dict, status: int,
                             count: int | None = None) -> None:
    """Wait until `url` answers `status` (and, with `count`, holds that many samples)."""

    async def answered() -> bool:
        response = await http.get(url, headers=headers)
        return response.status_code == status and (
            count is None or response.json().get("samples_count") == count)

    assert await wait_until_async(answered, 15, interval_s=0.1), \
        f"{url} never answered {status} with {count} samples"


async def test_consent_opens_and_withdrawal_closes_the_coach_view(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(stack, account, http)
        wid = await _stream_workout(stack, athlete.token)
        url = f"/v1/workouts/{wid}"
        await _eventually_status(http, url, athlete.headers, 200)
        # Membership alone shows nothing: no consent yet.
        assert (await http.get(url, headers=coach.headers)).status_code == 404
        live_url = f"{stack.gateway_ws_url}/v1/live?athlete={athlete.id}"
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(live_url, additional_headers=coach.headers):
                pass

        consent = (await http.post("/v1/consents", headers=athlete.headers,
                                   json={"group_id": group, "purpose": "interval coaching"})).json()
        assert (await http.get(url, headers=coach.headers)).status_code == 200

        async with websockets.connect(live_url, additional_headers=coach.headers) as feed:
            snapshot = msgspec.json.decode(await asyncio.wait_for(feed.recv(), 10))
            assert snapshot["type"] == "snapshot"
            assert [w["workout_id"] for w in snapshot["workouts"]] == [str(wid)]
            # The athlete goes on; the coach sees it happen.
            async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
                t0 = int(time.time() * 1000)
                await device.start(wid, "run", t0)
                await device.send_samples(wid, 10, [(t0 + 1000 * i, 45.001, 7.0, None, 160.0, 96.0)
                                                    for i in range(5)])
            # Updates of the first batch may still be on their way; they come in order, and
            # the new samples follow.
            seen: list[int] = []
            deadline = time.monotonic() + 15
            while not seen or seen[-1] < 14:
                update = msgspec.json.decode(await asyncio.wait_for(
                    feed.recv(), max(0.1, deadline - time.monotonic())))
                if update["type"] == "heartbeat":
                    continue
                assert update["type"] == "update" and update["workout_id"] == str(wid)
                seen.append(update["summary"]["last_seq"])
            assert seen == sorted(seen), f"updates out of order: {seen}"

            withdrawn = await http.delete(f"/v1/consents/{consent['id']}", headers=athlete.headers)
            assert withdrawn.status_code == 204
            started = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(feed.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert time.monotonic() - started < 3
        assert (await http.get(url, headers=coach.headers)).status_code == 404

    with psycopg.connect(stack.pg_dsn) as conn:
        journal = conn.execute(
            "SELECT action, actor_id, purpose, policy_version FROM consent_journal"
            " WHERE athlete_id = %s AND group_id IS NOT NULL ORDER BY at", (athlete.id,)).fetchall()
    assert [j[0] for j in journal] == ["granted", "withdrawn"]
    assert journal[0][1] == athlete.id and journal[0][2] == "interval coaching" and journal[0][3]


async def test_partners_never_see_health_fields(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(stack, account, http)
        await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        wid = await _stream_workout(stack, athlete.token)
        await _eventually_status(http, f"/v1/workouts/{wid}", athlete.headers, 200, count=10)
        async def stored_samples() -> list:  # they arrive through their own sink
            return (await http.get(f"/v1/workouts/{wid}/samples", headers=athlete.headers)).json()

        async def all_stored() -> bool:
            return len(await stored_samples()) == 10

        assert await wait_until_async(all_stored, 15, interval_s=0.1)
        assert (await stored_samples())[0]["hr_bpm"] == 150
        admin = account(roles=("admin",))
        granted = await http.post(f"/v1/admin/users/{coach.id}/roles", headers=admin.headers,
                                  json={"role": "partner"})
        assert granted.status_code == 204
        seen = (await http.get(f"/v1/workouts/{wid}", headers=coach.headers)).json()
        samples = (await http.get(f"/v1/workouts/{wid}/samples", headers=coach.headers)).json()
        own = (await http.get(f"/v1/workouts/{wid}", headers=athlete.headers)).json()
    assert own["max_hr"] == 150 and own["min_spo2"] == 97
    assert seen["max_hr"] is None and seen["avg_hr"] is None and seen["min_spo2"] is None
    assert len(samples) == 10
    assert all(s["hr_bpm"] is None and s["spo2_pct"] is None for s in samples)


async def test_roles_are_managed_by_admins_only(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    user, admin = account(), account(roles=("admin",))
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        url = f"/v1/admin/users/{user.id}/roles"
        refused = await http.post(url, headers=user.headers, json={"role": "admin"})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert (await http.post(url, headers=admin.headers, json={"role": "coach"})).status_code == 204
        assert "coach" in (await http.get("/v1/users/me", headers=user.headers)).json()["roles"]
        revoked = await http.delete(f"{url}/coach", headers=admin.headers)
        assert revoked.status_code == 204
        assert "coach" not in (await http.get("/v1/users/me", headers=user.headers)).json()["roles"]
        missing = await http.post(f"/v1/admin/users/{uuid.uuid4()}/roles", headers=admin.headers,
                                  json={"role": "coach"})
        assert missing.status_code == 404


async def test_only_a_groups_coaches_manage_it(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(stack, account, http)
        stranger = account()
        body = {"user_id": str(stranger.id), "role": "coach"}
        as_athlete = await http.post(f"/v1/groups/{group}/members", headers=athlete.headers, json=body)
        as_stranger = await http.post(f"/v1/groups/{group}/members", headers=stranger.headers, json=body)
        assert as_athlete.status_code == 403
        assert as_stranger.status_code == 404  # a stranger does not learn the group exists
        members = (await http.get(f"/v1/groups/{group}/members", headers=coach.headers)).json()
        assert {m["role"] for m in members} == {"coach", "athlete"}
        mine = (await http.get("/v1/groups", headers=athlete.headers)).json()
        assert [(g["id"], g["role"]) for g in mine] == [(group, "athlete")]
