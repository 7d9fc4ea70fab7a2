"""Consent means exactly what the athlete agreed to: `live` shows live sessions only,
`history` past workouts from its grant; coaches join by invitation and the athletes are
told; members leave or are removed; partners never get health data; and access ends
within seconds even when the note that announces it is lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import websockets
from helper_processes import Gateway

from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


async def _stream(stack: Settings, token: str, t0: int, n: int = 10, finish: bool = False,
                  hr: float = 150.0) -> uuid.UUID:
    wid = uuid.uuid4()
    async with DeviceClient(stack.gateway_ws_url, token) as device:
        await device.start(wid, "run", t0)
        await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, None, hr, 97.0)
                                           for i in range(n)])
        if finish:
            await device.finish(wid, t0 + 1000 * n)
    return wid


async def _coached(http: httpx.AsyncClient, account) -> tuple[Any, Any, str]:  # type: ignore[no-untyped-def]
    athlete, coach = account(first_name="Ada"), account(first_name="Cleo", last_name="Coach")
    group = (await http.post("/v1/groups", headers=coach.headers,
                             json={"name": "Hill repeats", "sport": "run"})).json()["id"]
    added = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                            json={"user_id": str(athlete.id), "role": "athlete"})
    assert added.status_code == 200 and added.json()["status"] == "added"
    return athlete, coach, group


async def _stored(http: httpx.AsyncClient, athlete: Any, wid: uuid.UUID, status: str) -> None:
    async def there() -> bool:
        answer = await http.get(f"/v1/workouts/{wid}", headers=athlete.headers)
        return answer.status_code == 200 and answer.json()["status"] == status

    assert await wait_until_async(there, 20, interval_s=0.1), f"{wid} never reached {status}"


async def test_a_live_consent_shows_live_sessions_and_nothing_past(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(http, account)
        past = await _stream(stack, athlete.token, int(time.time() * 1000) - 3 * 3600_000, finish=True)
        await _stored(http, athlete, past, "finished")
        consent = await http.post("/v1/consents", headers=athlete.headers,
                                  json={"group_id": group, "scope": "live"})
        assert consent.status_code == 201 and consent.json()["scope"] == "live"
        live = await _stream(stack, athlete.token, int(time.time() * 1000) - 10_000)
        await _stored(http, athlete, live, "active")
        assert (await http.get(f"/v1/workouts/{live}", headers=coach.headers)).status_code == 200
        assert (await http.get(f"/v1/workouts/{past}", headers=coach.headers)).status_code == 404
        listed = (await http.get(f"/v1/workouts?athlete={athlete.id}", headers=coach.headers)).json()
        assert [w["id"] for w in listed] == [str(live)]
        assert (await http.get(f"/v1/workouts/{past}/samples", headers=coach.headers)).status_code == 404


async def test_a_history_consent_covers_workouts_from_its_grant_unless_told_otherwise(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(http, account)
        before = await _stream(stack, athlete.token, int(time.time() * 1000) - 3 * 3600_000, finish=True)
        await _stored(http, athlete, before, "finished")
        granted = await http.post("/v1/consents", headers=athlete.headers,
                                  json={"group_id": group, "scope": "history", "purpose": "review"})
        assert granted.status_code == 201 and granted.json()["history_from"]
        after = await _stream(stack, athlete.token, int(time.time() * 1000) + 1000, finish=True)
        await _stored(http, athlete, after, "finished")
        assert (await http.get(f"/v1/workouts/{after}", headers=coach.headers)).status_code == 200
        assert (await http.get(f"/v1/workouts/{before}", headers=coach.headers)).status_code == 404
        # History is not live: no live feed with it alone.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"{stack.gateway_ws_url}/v1/live?athlete={athlete.id}",
                                          additional_headers=coach.headers):
                pass
        # The athlete may open the past too, from a date of their choosing.
        await http.delete(f"/v1/consents/{granted.json()['id']}", headers=athlete.headers)
        wider = await http.post("/v1/consents", headers=athlete.headers, json={
            "group_id": group, "scope": "history",
            "history_from": (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()})
        assert wider.status_code == 201
        assert (await http.get(f"/v1/workouts/{before}", headers=coach.headers)).status_code == 200
        bad = await http.post("/v1/consents", headers=athlete.headers, json={
            "group_id": group, "scope": "live", "history_from": "2020-01-01T00:00:00Z"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid"


async def test_a_coach_joins_only_by_accepting_and_the_athletes_are_told(
        stack: Settings, account, eventually) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(http, account)
        await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        live = await _stream(stack, athlete.token, int(time.time() * 1000) - 10_000)
        newcomer, decliner = account(first_name="Nico", last_name="Novak"), account()
        invited = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                  json={"user_id": str(newcomer.id), "role": "coach"})
        assert invited.status_code == 200 and invited.json()["status"] == "invited"
        members = (await http.get(f"/v1/groups/{group}/members", headers=coach.headers)).json()
        assert str(newcomer.id) not in {m["user_id"] for m in members}
        assert (await http.get(f"/v1/workouts/{live}", headers=newcomer.headers)).status_code == 404
        pending = (await http.get("/v1/invitations", headers=newcomer.headers)).json()
        assert [(i["id"], i["group_name"], i["role"]) for i in pending] == [
            (invited.json()["invitation_id"], "Hill repeats", "coach")]
        # Only the invitee answers.
        stolen = await http.post(f"/v1/invitations/{pending[0]['id']}/accept", headers=decliner.headers)
        assert stolen.status_code == 404
        accepted = await http.post(f"/v1/invitations/{pending[0]['id']}/accept",
                                   headers=newcomer.headers)
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        await _stored(http, athlete, live, "active")
        assert (await http.get(f"/v1/workouts/{live}", headers=newcomer.headers)).status_code == 200
        # The athlete sees who coaches the group they consent to, and was told.
        consents = (await http.get("/v1/consents", headers=athlete.headers)).json()
        assert {c["name"] for c in consents[0]["coaches"]} == {"Cleo Coach", "Nico Novak"}

        async def told() -> list[dict[str, Any]]:
            inbox = (await http.get("/v1/notifications/me", headers=athlete.headers)).json()
            return [n for n in inbox["items"] if n["type"] == "group.coach_added"]

        [note] = await eventually(told, timeout_s=30)
        assert "Nico Novak" in note["message"] and "Hill repeats" in note["message"]
        # Declining leaves no membership.
        second = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                 json={"user_id": str(decliner.id), "role": "coach"})
        declined = await http.post(f"/v1/invitations/{second.json()['invitation_id']}/decline",
                                   headers=decliner.headers)
        assert declined.json()["status"] == "declined"
        assert (await http.get(f"/v1/workouts/{live}", headers=decliner.headers)).status_code == 404
    with psycopg.connect(stack.pg_dsn) as conn:
        journal = conn.execute("SELECT action, role FROM group_journal WHERE group_id = %s"
                               " ORDER BY at", (group,)).fetchall()
    assert journal == [("added", "coach"), ("added", "athlete"), ("invited", "coach"),
                       ("accepted", "coach"), ("invited", "coach"), ("declined", "coach")]


async def test_members_leave_or_are_removed_and_their_consents_end(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(http, account)
        await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        live = await _stream(stack, athlete.token, int(time.time() * 1000) - 10_000)
        await _stored(http, athlete, live, "active")
        assert (await http.get(f"/v1/workouts/{live}", headers=coach.headers)).status_code == 200
        last = await http.post(f"/v1/groups/{group}/leave", headers=coach.headers)
        assert last.status_code == 409 and last.json()["code"] == "last_coach"
        left = await http.post(f"/v1/groups/{group}/leave", headers=athlete.headers)
        assert left.status_code == 204
        assert (await http.get(f"/v1/workouts/{live}", headers=coach.headers)).status_code == 404
        consents = (await http.get("/v1/consents", headers=athlete.headers)).json()
        assert consents[0]["withdrawn_at"] is not None
        # A coach removes a member.
        other = account()
        await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                        json={"user_id": str(other.id), "role": "athlete"})
        removed = await http.delete(f"/v1/groups/{group}/members/{other.id}", headers=coach.headers)
        assert removed.status_code == 204
        members = (await http.get(f"/v1/groups/{group}/members", headers=coach.headers)).json()
        assert [m["user_id"] for m in members] == [str(coach.id)]
    with psycopg.connect(stack.pg_dsn) as conn:
        why = conn.execute("SELECT purpose FROM consent_journal WHERE athlete_id = %s"
                           " AND action = 'withdrawn'", (athlete.id,)).fetchone()
    assert why == ("left the group",)


async def test_partners_never_receive_health_data(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    """A coach who is (also) a partner: the live feed and the notifications carry no heart
    rate, SpO2 or anything derived; the same coach without the role gets them."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(http, account)
        partner = account(roles=("partner",))
        invited = await http.post(f"/v1/groups/{group}/members", headers=coach.headers,
                                  json={"user_id": str(partner.id), "role": "coach"})
        await http.post(f"/v1/invitations/{invited.json()['invitation_id']}/accept",
                        headers=partner.headers)
        await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
        url = f"{stack.gateway_ws_url}/v1/live?group={group}"
        async with websockets.connect(url, additional_headers=partner.headers) as as_partner, \
                websockets.connect(url, additional_headers=coach.headers) as as_coach:
            for feed in (as_partner, as_coach):
                assert '"snapshot"' in await asyncio.wait_for(feed.recv(), 10)
            t0 = int(time.time() * 1000) - 60_000
            # SpO2 at 86 % for a minute: a high risk flag, and an alert, on the way.
            wid = uuid.uuid4()
            async with DeviceClient(stack.gateway_ws_url, athlete.token) as device:
                await device.start(wid, "run", t0)
                await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, None,
                                                    182.0, 86.0) for i in range(60)])

            async def messages(feed: Any, until: float) -> list[dict[str, Any]]:
                got: list[dict[str, Any]] = []
                while time.monotonic() < until:
                    try:
                        got.append(msgspec.json.decode(await asyncio.wait_for(feed.recv(), 1)))
                    except TimeoutError:
                        continue
                return got

            until = time.monotonic() + 8
            seen_partner, seen_coach = await asyncio.gather(messages(as_partner, until),
                                                            messages(as_coach, until))
        coach_updates = [m for m in seen_coach if m["type"] == "update"]
        assert coach_updates and any("hr_bpm" in m for m in coach_updates)
        assert any(m["type"] == "alert" for m in seen_coach)
        partner_updates = [m for m in seen_partner if m["type"] == "update"]
        assert partner_updates and not any(m["type"] == "alert" for m in seen_partner)
        text = msgspec.json.encode(seen_partner).decode()
        for health_key in ('"hr_bpm"', '"spo2_pct"', '"avg_hr"', '"min_spo2"', '"risk"',
                           '"calories_kcal"', '"trimp"', '"hr_zone"'):
            assert health_key not in text
        # The risk flag reached the athlete and the coach, never the partner.

        async def inbox(who: Any) -> list[str]:
            items = (await http.get("/v1/notifications/me", headers=who.headers)).json()["items"]
            return [n["type"] for n in items]

        async def coach_told() -> bool:
            return "risk.alert" in await inbox(coach)

        assert await wait_until_async(coach_told, 30, interval_s=0.2)
        assert "risk.alert" not in await inbox(partner)
        seen = (await http.get(f"/v1/workouts/{wid}", headers=partner.headers)).json()
        assert seen["max_hr"] is None and seen["risk"] is None and seen["distance_m"] > 0


async def test_access_ends_within_seconds_even_if_the_note_is_lost(
        production_gateway: Gateway, stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    """The consent is withdrawn and the session revoked straight in the database — as if
    the Redis note announcing each were lost: the periodic re-check still closes both."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        athlete, coach, group = await _coached(http, account)
        await http.post("/v1/consents", headers=athlete.headers, json={"group_id": group})
    feed = await websockets.connect(f"{production_gateway.ws_url}/v1/live?athlete={athlete.id}",
                                    additional_headers=coach.headers)
    device = await websockets.connect(f"{production_gateway.ws_url}/v1/ingest",
                                      additional_headers=athlete.headers)
    try:
        assert '"snapshot"' in await asyncio.wait_for(feed.recv(), 10)
        with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
            conn.execute("UPDATE consents SET withdrawn_at = now() WHERE athlete_id = %s", (athlete.id,))
            conn.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = %s", (athlete.id,))
        started = time.monotonic()
        for socket in (feed, device):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(socket.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert time.monotonic() - started < 15  # a re-check period is 5 s
    finally:
        await feed.close()
        await device.close()


async def test_one_account_toggling_consents_holds_up_no_one_elses_logout(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        toggler, coach, group = await _coached(http, account)
        bystander = account()
        async with websockets.connect(f"{stack.gateway_ws_url}/v1/live?group={group}",
                                      additional_headers=coach.headers) as group_feed, \
                websockets.connect(f"{stack.gateway_ws_url}/v1/ingest",
                                   additional_headers=bystander.headers) as socket:
            assert '"snapshot"' in await asyncio.wait_for(group_feed.recv(), 10)

            async def toggle() -> None:
                for _ in range(40):
                    made = await http.post("/v1/consents", headers=toggler.headers,
                                           json={"group_id": group})
                    await http.delete(f"/v1/consents/{made.json()['id']}", headers=toggler.headers)

            toggling = asyncio.create_task(toggle())
            await asyncio.sleep(1.0)  # well into the toggling
            assert (await http.post("/v1/auth/logout", headers=bystander.headers)).status_code == 204
            started = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)
            closed_after = time.monotonic() - started
            await toggling
    assert closed_after < 5.0  # well before the toggling ends
