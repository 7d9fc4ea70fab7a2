"""One account cannot keep a gateway's CPU busy with workout files: the import quotas at
their production defaults (gateway/quotas.py, gateway/import_pool.py), on a gateway of the
tests' own, each refused with its code — and a device told plainly that the workout it
starts again was deleted."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio
from helper_processes import Gateway
from test_workouts_manage import gpx, hours_ago, refused, track, upload
from user_accounts import Account

from gateway import protocol
from gateway.client import DeviceClient
from gateway.ingest_limits import IngestLimits
from gateway.quotas import Quotas
from stack.settings import Settings
from storage import keyspace
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e
QUOTAS, LIMITS = Quotas(), IngestLimits()
BIG_POINTS = 30_000
"""A track of 8 h 20 min at 1 Hz (about 6 MB of GPX): seconds of work for the gateway's
import worker, so the other uploads of a test arrive while it is still under way."""


@pytest.fixture
async def quota_keys(stack: Settings) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(stack.redis_url)
    yield client
    await client.aclose()


def retry_after_s(response: httpx.Response) -> int:
    return int(response.headers["retry-after"])


def test_uploads_an_hour_are_capped_per_account_refused_ones_included(
        production_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    me, other = account(), account()
    good = gpx(track(60, hours_ago(3)))
    with production_gateway.client() as http:
        def send(who: Account, content: bytes) -> httpx.Response:
            return http.post("/v1/workouts/import", headers=who.headers,
                             files={"file": ("track.gpx", content, "application/octet-stream")})

        for _ in range(QUOTAS.imports_per_hour):  # each costs a parse, so each counts
            refused(send(me, b"not a track at all"), 422, "unreadable_file")
        over = send(me, good)
        refused(over, 429, "too_many_imports")
        assert 0 < retry_after_s(over) <= 3600
        assert http.get("/v1/workouts", headers=me.headers).json() == []  # nothing stored
        theirs = send(other, good)  # the quota is the account's, not the gateway's
        assert theirs.status_code == 201, theirs.text


def _form(content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.gpx"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_an_upload_without_a_content_length_is_refused_before_it_is_read(
        production_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    me = account()
    body, content_type = _form(gpx(track(60, hours_ago(3))))

    def chunked() -> Iterator[bytes]:  # a generator: httpx sends it chunked, with no length
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]

    with production_gateway.client() as http:
        answer = http.post("/v1/workouts/import", content=chunked(),
                           headers={**me.headers, "Content-Type": content_type})
        assert "content-length" not in answer.request.headers
        refused(answer, 411, "length_required")
        assert http.get("/v1/workouts", headers=me.headers).json() == []
        sized = http.post("/v1/workouts/import", content=body,  # the same body, with its length
                          headers={**me.headers, "Content-Type": content_type})
        assert sized.status_code == 201, sized.text


async def test_one_import_at_a_time_per_account_and_a_short_line_per_gateway(
        production_gateway: Gateway, account, stack: Settings,  # type: ignore[no-untyped-def]
        quota_keys: redis.asyncio.Redis) -> None:
    me, *others = (account() for _ in range(LIMITS.upload_workers + LIMITS.upload_queue + 1))
    in_line, late = others[:-1], others[-1]
    small = gpx(track(60, hours_ago(3)))

    async def under_way(who: Account) -> None:
        """Until the gateway holds the account's import slot: its upload is being handled."""
        key = keyspace.quota(stack.redis_prefix, "imports", who.id)
        assert await wait_until_async(lambda: quota_keys.zcard(key), 60, interval_s=0.05)

    async with httpx.AsyncClient(base_url=production_gateway.url, timeout=180) as http:
        running = asyncio.create_task(upload(http, me, gpx(track(BIG_POINTS, hours_ago(30)))))
        await under_way(me)
        second = await upload(http, me, small)
        refused(second, 429, "import_in_progress")
        assert retry_after_s(second) >= 1
        waiting = [asyncio.create_task(upload(http, who, small)) for who in in_line]
        for who in in_line:
            await under_way(who)
        turned_away = await upload(http, late, small)  # the worker busy, the line full
        refused(turned_away, 503, "imports_busy")
        assert retry_after_s(turned_away) >= 1

        done = await running
        assert done.status_code == 201, done.text
        assert done.json()["status"] == "finished"
        for answer in await asyncio.gather(*waiting):  # their turn came, or not in time
            if answer.status_code != 201:
                refused(answer, 503, "imports_busy")
        again = await upload(http, me, small)  # the account's slot is free again
        assert again.status_code == 201, again.text


async def test_a_start_for_a_deleted_workout_tells_its_athlete_so(
        production_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    """A second device of the athlete (or one that kept the workout in its buffer) starts
    it again after the athlete deleted it: `workout_deleted`, not "another athlete's"."""
    me, stranger = account(), account()
    points = track(120, hours_ago(5))
    wid = uuid.uuid4()
    async with DeviceClient(production_gateway.ws_url, me.token) as device:
        await device.start(wid, "run", points[0][0])
        await device.send_samples(wid, 0, [(t, lat, lon, alt, float(hr), None)
                                           for t, lat, lon, alt, hr in points])
        await device.finish(wid, points[-1][0])
    async with httpx.AsyncClient(base_url=production_gateway.url, timeout=30) as http:
        async def finished() -> bool:
            got = await http.get(f"/v1/workouts/{wid}", headers=me.headers)
            return got.status_code == 200 and got.json()["status"] == "finished"

        assert await wait_until_async(finished, 60)
        gone = await http.delete(f"/v1/workouts/{wid}", headers=me.headers)
        assert gone.status_code == 204, gone.text

    again = protocol.Start(workout_id=wid, sport="run", started_at=points[0][0])
    async with DeviceClient(production_gateway.ws_url, me.token) as device:
        answer = await device.send_frame(again)
    assert isinstance(answer[0], protocol.Error), answer
    assert (answer[0].code, answer[0].workout_id) == ("workout_deleted", wid)
    async with DeviceClient(production_gateway.ws_url, stranger.token) as device:
        theirs = await device.send_frame(again)
    assert isinstance(theirs[0], protocol.Error) and theirs[0].code == "foreign_workout"
