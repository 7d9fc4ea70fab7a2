"""`GET /v1/leaderboards/{sport}` through the running gateway.

Boards are written straight into the stack's PostgreSQL (`leaderboard`) and Redis, or
filled by a device's workout through the stack's stream worker, on a region code no other
test uses; its rows and keys are removed afterwards.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import redis

from gateway.client import DeviceClient
from stack.settings import Settings

pytestmark = pytest.mark.e2e


class Board:
    def __init__(self, region: str, day: dt.date) -> None:
        self.region = region
        self.day = day
        self.monday = day - dt.timedelta(days=day.weekday())
        year, week, _ = day.isocalendar()
        self.week_label = f"{year:04d}-W{week:02d}"


@pytest.fixture
def board(stack: Settings) -> Iterator[Board]:
    rng = random.Random()
    made = Board("Q" + rng.choice("MNOPQRSTUVWXYZ"),
                 dt.date(1971, 1, 4) + dt.timedelta(days=rng.randrange(10_000)))
    yield made
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM leaderboard WHERE region = %s", (made.region,))
    client = redis.Redis.from_url(stack.redis_url)
    try:
        keys = list(client.scan_iter(match=f"{stack.redis_prefix}:lb:*:{made.region}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _insert_rows(stack: Settings, board: Board, rows: list[tuple[uuid.UUID, float, int]]) -> None:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        for user_id, distance_m, workouts in rows:
            conn.execute(
                "INSERT INTO leaderboard (sport, region, period, period_start, user_id, score,"
                " workouts_count) VALUES ('run', %s, 'week', %s, %s, %s, %s)",
                (board.region, dt.datetime.combine(board.monday, dt.time(), dt.UTC), user_id,
                 distance_m, workouts))


@pytest.mark.parametrize("query, code", [
    ("/v1/leaderboards/curling", "invalid_sport"),
    ("/v1/leaderboards/run?window=month", "invalid_window"),
    ("/v1/leaderboards/run?region=Germany", "invalid_region"),
    ("/v1/leaderboards/run?region=D1", "invalid_region"),
    ("/v1/leaderboards/run?date=2024-02-30", "invalid_date"),
    ("/v1/leaderboards/run?date=yesterday", "invalid_date"),
    ("/v1/leaderboards/run?date=1969-12-31", "invalid_date"),
    ("/v1/leaderboards/run?limit=0", "invalid"),
    ("/v1/leaderboards/run?limit=201", "invalid"),
    ("/v1/leaderboards/run?offset=-1", "invalid"),
    ("/v1/leaderboards/run?limit=ten", "invalid"),
])
def test_bad_parameters_get_a_400_saying_what_is_wrong(stack: Settings, account, query: str,  # type: ignore[no-untyped-def]
                                                       code: str) -> None:
    me = account()
    response = httpx.get(stack.gateway_url + query, headers=me.headers, timeout=30)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code and body["message"]


def test_a_board_needs_a_signed_in_user(stack: Settings) -> None:
    response = httpx.get(stack.gateway_url + "/v1/leaderboards/run", timeout=30)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_a_board_page_is_ordered_and_shows_where_i_stand(stack: Settings, account,  # type: ignore[no-untyped-def]
                                                         board: Board) -> None:
    me = account(first_name="Maya", last_name="rossi", country="IT")
    others = [account(first_name=name, last_name=last)
              for name, last in (("Ana", "Lima"), ("Bo", "Berg"), ("Cy", None))]
    _insert_rows(stack, board, [(others[0].id, 42_000.0, 3), (others[1].id, 12_500.5, 2),
                                (me.id, 21_097.5, 2), (others[2].id, 5_000.0, 1)])
    # Private by default: a name shows only for those who allow it (Cy does not).
    for person in (me, others[0], others[1]):
        allowed = httpx.patch(f"{stack.gateway_url}/v1/users/me/privacy", headers=person.headers,
                              json={"leaderboard_name": True}, timeout=30)
        assert allowed.status_code == 200 and allowed.json()["leaderboard_name"] is True
    url = (f"{stack.gateway_url}/v1/leaderboards/run?region={board.region.lower()}&window=week"
           f"&date={board.day + dt.timedelta(days=6 - board.day.weekday())}")
    with httpx.Client(headers=me.headers, timeout=30) as http:
        page = http.get(url).json()
        assert page["source"] == "database"  # no Redis key for a week this old
        assert (page["sport"], page["region"], page["window"]) == ("run", board.region, "week")
        assert page["period_start"] == f"{board.monday.isoformat()}T00:00:00Z"
        assert [(e["rank"], e["name"], e["distance_m"], e["workouts"], e["me"])
                for e in page["entries"]] == [
            (1, "Ana L.", 42_000.0, 3, False),
            (2, "Maya R.", 21_097.5, 2, True),
            (3, "Bo B.", 12_500.5, 2, False),
            (4, "Athlete", 5_000.0, 1, False),
        ]
        assert page["me"] == {"rank": 2, "distance_m": 21_097.5, "workouts": 2}
        # No user id anywhere: each entry has an opaque handle of this board.
        assert all(set(e) == {"rank", "handle", "name", "distance_m", "workouts", "me"}
                   for e in page["entries"])
        handles = [e["handle"] for e in page["entries"]]
        assert len(set(handles)) == 4 and not any(str(p.id) in page.__repr__() for p in others)

        second = http.get(url + "&limit=2&offset=2").json()
        assert [(e["rank"], e["name"]) for e in second["entries"]] == [(3, "Bo B."), (4, "Athlete")]
        assert [e["handle"] for e in second["entries"]] == handles[2:]  # stable on the board
        assert second["me"]["rank"] == 2

        # Once Redis holds the board, Redis answers (here: a newer score for Bo).
        client = redis.Redis.from_url(stack.redis_url)
        try:
            client.zadd(f"{stack.redis_prefix}:lb:run:{board.region}:week:{board.week_label}",
                        {str(others[0].id): 42_000.0, str(me.id): 21_097.5,
                         str(others[1].id): 30_000.0, str(others[2].id): 5_000.0})
        finally:
            client.close()
        cached = http.get(url + "&limit=3").json()
        assert cached["source"] == "redis"
        assert [(e["rank"], e["name"], e["distance_m"]) for e in cached["entries"]] == [
            (1, "Ana L.", 42_000.0), (2, "Bo B.", 30_000.0), (3, "Maya R.", 21_097.5)]
        assert cached["me"] == {"rank": 3, "distance_m": 21_097.5, "workouts": 2}

        elsewhere = http.get(url.replace(f"region={board.region.lower()}", "region=global")).json()
        assert not any(e["me"] for e in elsewhere["entries"])
        assert not set(handles) & {e["handle"] for e in elsewhere["entries"]}  # unlinkable
        assert elsewhere["me"] is None


async def test_a_finished_workout_shows_on_its_boards(stack: Settings, account, board: Board,  # type: ignore[no-untyped-def]
                                                      eventually) -> None:
    me = account(first_name="Finn", last_name="Ek", country=board.region)
    wid = uuid.uuid4()
    t0 = int(time.time() * 1000) - 60_000
    async with DeviceClient(stack.gateway_ws_url, me.token) as device:
        await device.start(wid, "run", t0)
        await device.send_samples(wid, 0, [(t0 + 1000 * i, 45.0 + 2e-5 * i, 7.0, None, 140.0, None)
                                           for i in range(30)])
        await device.finish(wid, t0 + 30_000)

    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=me.headers, timeout=30) as http:
        async def on_board() -> dict | None:  # type: ignore[type-arg]
            # The agent writes the table, then Redis: in between the table answers.
            page = (await http.get(f"/v1/leaderboards/run?region={board.region}&window=day")).json()
            return page if page["me"] and page["source"] == "redis" else None

        async def finished() -> dict | None:  # type: ignore[type-arg]
            # The board and the workouts row are written by two agents, in either order.
            answer = await http.get(f"/v1/workouts/{wid}")
            return answer.json() if answer.status_code == 200 \
                and answer.json()["status"] == "finished" else None

        page = await eventually(on_board, timeout_s=30)
        workout = await eventually(finished, timeout_s=30)
    assert workout["distance_m"] > 50
    assert page["source"] == "redis"
    [entry] = page["entries"]
    assert entry == {"rank": 1, "handle": entry["handle"], "name": "Athlete",  # private by default
                     "distance_m": workout["distance_m"], "workouts": 1, "me": True}
    assert page["me"] == {"rank": 1, "distance_m": workout["distance_m"], "workouts": 1}
