"""The smaller doors: every read bounded and paged, headers that pin the page to its own
origin (and HSTS over TLS), text fields that refuse scripts and invisible characters, and a
live feed that checks the browser's origin and never takes a token from the URL."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import httpx
import msgspec
import psycopg
import pytest
import websockets
from helper_processes import Processes, http_url

from gateway.client import DeviceClient
from stack.settings import Settings
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e


async def _workout(stack: Settings, token: str, n: int) -> uuid.UUID:
    wid, t0 = uuid.uuid4(), (int(time.time()) - 7200) // 60 * 60 * 1000
    async with DeviceClient(stack.gateway_ws_url, token) as device:
        await device.start(wid, "run", t0)
        for seq in range(0, n, 500):
            await device.send_samples(wid, seq, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, 300.0, 140.0, 97.0)
                                                 for i in range(seq, min(n, seq + 500))])
        await device.finish(wid, t0 + 1000 * n)
    return wid


async def _pages(http: httpx.AsyncClient, url: str, **params: object) -> list[list[dict]]:  # type: ignore[type-arg]
    pages, cursor = [], None
    while True:
        answer = await http.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages


async def test_every_read_is_capped_and_paged(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    athlete = account()
    wid = await _workout(stack, athlete.token, 1000)
    base = f"/v1/workouts/{wid}"
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=athlete.headers,
                                 timeout=30) as http:
        async def stored() -> bool:
            answer = await http.get(f"{base}/samples", params={"limit": 10_000})
            return answer.status_code == 200 and len(answer.json()) == 1000

        assert await wait_until_async(stored, 30, interval_s=0.2)
        raw = await _pages(http, f"{base}/samples", limit=400, raw="true")
        assert [len(p) for p in raw] == [400, 400, 200]
        assert [s["seq"] for p in raw for s in p] == list(range(1000))
        buckets = await _pages(http, f"{base}/samples", bucket_s=60, limit=6)
        assert [len(p) for p in buckets] == [6, 6, 5]  # 1,000 s in 17 minutes
        assert sum(b["samples"] for p in buckets for b in p) == 1000
        # Three minutes of rollup, one a page, before the workout's own (it began 2 h ago; its
        # live metrics are stamped with the samples' times).
        start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=3)
        with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
            for k in range(3):
                conn.execute(
                    "INSERT INTO workout_metrics_1m (workout_id, bucket, n, last_seq, distance_m,"
                    " moving_time_s, speed_sum, speed_n, hr_sum, hr_n, hr_max, spo2_min,"
                    " calories_kcal, trimp) VALUES (%s, %s, 1, %s, %s, 60, 3, 1, 140, 1, 150, 97,"
                    " 10, 1)", (wid, start + dt.timedelta(minutes=k), 60 * k, 100.0 * k))
        minutes = await _pages(http, f"{base}/minutes", limit=1)
        assert [m["distance_m"] for p in minutes for m in p][:3] == [0.0, 100.0, 200.0]
        for url in (f"{base}/samples?limit=10001", f"{base}/minutes?limit=10001",
                    "/v1/groups?limit=201", "/v1/consents?limit=201", "/v1/sessions?limit=0",
                    "/v1/devices?limit=201", "/v1/leaderboards/run?offset=10001",
                    f"{base}/samples?cursor=bogus"):
            refused = await http.get(url)
            assert refused.status_code == 400 and refused.json()["code"] in ("invalid", "bad_cursor"), url
        for k in range(3):
            await http.post("/v1/groups", json={"name": f"group {k}", "sport": "run"})
        groups = await _pages(http, "/v1/groups", limit=2)
        assert [len(p) for p in groups] == [2, 1]


def test_the_page_talks_to_its_own_origin_only_and_hsts_comes_with_tls(stack: Settings,
                                                                       processes: Processes) -> None:
    page = httpx.get(f"{stack.gateway_url}/", timeout=30)
    csp = page.headers["content-security-policy"]
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src")).split()[1:]
    assert connect == ["'self'", stack.gateway_ws_url]
    # HSTS exactly when the gateway is reached over HTTPS (STRIDE_TLS=on serves it so).
    assert ("strict-transport-security" in page.headers) == stack.tls
    api = httpx.get(f"{stack.gateway_url}/v1/users/me", timeout=30)
    assert api.headers["x-content-type-options"] == "nosniff"
    behind_tls = processes.gateway(STRIDE_PUBLIC_URL="https://stride.example.org")
    tls_page = httpx.get(f"{http_url(behind_tls)}/", timeout=30)
    assert tls_page.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "connect-src 'self' wss://stride.example.org;" in tls_page.headers["content-security-policy"]


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/users/me", {"avatar_url": "javascript:alert(document.cookie)"}),
    ("/v1/users/me", {"avatar_url": "data:text/html,<script>alert(1)</script>"}),
    ("/v1/users/me", {"first_name": "Ann\u202eevil"}),   # right-to-left override
    ("/v1/users/me", {"last_name": "Smith\u200b"}),      # zero-width space
    ("/v1/users/me", {"city": "Lyon\x07"}),               # a control character
    ("/v1/groups", {"name": "Club\u2066x\u2069", "sport": "run"}),
    ("/v1/devices", {"name": "watch\n"}),
])
def test_text_fields_refuse_scripts_and_invisible_characters(stack: Settings, account, path: str,
                                                             body: dict) -> None:  # type: ignore[type-arg,no-untyped-def]
    user = account()
    method = "PATCH" if path == "/v1/users/me" else "POST"
    answer = httpx.request(method, f"{stack.gateway_url}{path}", headers=user.headers, json=body,
                           timeout=30)
    assert answer.status_code == 400 and answer.json()["code"] == "invalid", answer.text
    fine = httpx.patch(f"{stack.gateway_url}/v1/users/me", headers=user.headers, timeout=30,
                       json={"first_name": "Zoë", "avatar_url": "https://img.example.org/z.png"})
    assert fine.status_code == 200


async def test_the_live_feed_checks_the_origin_and_takes_its_token_in_the_first_frame(
        stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    url = f"{stack.gateway_ws_url}/v1/live?athlete={user.id}"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url, additional_headers={**user.headers,
                                                               "Origin": "https://evil.example"}):
            pass
    # A browser: no header, the token as the first frame.
    async with websockets.connect(url, origin=stack.gateway_url) as feed:  # type: ignore[arg-type]
        await feed.send(msgspec.json.encode({"type": "auth", "token": user.token}).decode())
        assert '"snapshot"' in await asyncio.wait_for(feed.recv(), 10)
    # A token in the URL is not a token: the feed waits for the first frame, and refuses.
    async with websockets.connect(f"{url}&token={user.token}") as feed:
        await feed.send('{"type": "hello"}')
        refused = msgspec.json.decode(await asyncio.wait_for(feed.recv(), 10))
        assert (refused["type"], refused["code"]) == ("error", "unauthorized")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(feed.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    # Someone else's feed: refused after the token, with a code.
    other = account()
    async with websockets.connect(url) as feed:
        await feed.send(msgspec.json.encode({"type": "auth", "token": other.token}).decode())
        refused = msgspec.json.decode(await asyncio.wait_for(feed.recv(), 10))
        assert refused["code"] == "not_found"
