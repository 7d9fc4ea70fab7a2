"""Accounts and sessions on the running gateway: what a user of the API sees."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import httpx
import psycopg
import pytest
import websockets

from gateway.auth import new_token
from stack.settings import Settings
from storage import accounts

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(stack: Settings):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


def test_register_login_profile_logout(http: httpx.Client) -> None:
    email = f"Ann-{uuid.uuid4().hex[:8]}@Example.org"
    created = http.post("/v1/auth/register", json={
        "email": email, "password": "twelve chars ok", "first_name": "Ann", "sex": "female",
        "birth_date": "1990-04-01", "weight_kg": 61.5, "hr_max": 186, "country": "FR", "city": "Lyon"})
    assert created.status_code == 201
    login = http.post("/v1/auth/login", json={"email": email.upper(), "password": "twelve chars ok"})
    assert login.status_code == 200
    body = login.json()
    assert len(body["token"]) >= 43 and body["expires_at"].endswith("Z")
    headers = {"Authorization": f"Bearer {body['token']}"}
    me = http.get("/v1/users/me", headers=headers).json()
    assert me["email"] == email.lower() and me["roles"] == ["athlete"]
    assert (me["hr_max"], me["country"], me["birth_date"]) == (186, "FR", "1990-04-01")
    changed = http.patch("/v1/users/me", headers=headers, json={"hr_rest": 48, "city": None})
    assert changed.status_code == 200
    assert changed.json()["hr_rest"] == 48 and changed.json()["city"] is None
    assert http.post("/v1/auth/logout", headers=headers).status_code == 204
    gone = http.get("/v1/users/me", headers=headers)
    assert gone.status_code == 401 and gone.json()["code"] == "unauthorized"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"password": "short"}, 400, "invalid"),
    ({"password": "long enough pass", "country": "France"}, 400, "invalid"),
    ({"password": "long enough pass", "role": "admin"}, 400, "invalid"),  # no self-promotion
])
def test_register_refuses_bad_input(http: httpx.Client, body: dict, status: int, code: str) -> None:
    response = http.post("/v1/auth/register", json={"email": f"x{uuid.uuid4().hex}@ex.org", **body})
    assert response.status_code == status and response.json()["code"] == code


def test_register_twice_is_a_conflict(http: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    again = http.post("/v1/auth/register", json={"email": user.email, "password": "another password"})
    assert again.status_code == 409 and again.json()["code"] == "email_taken"


def test_profile_values_the_database_refuses_are_422(http: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    user = account(hr_max=150)
    response = http.patch("/v1/users/me", headers=user.headers, json={"hr_rest": 150})
    assert response.status_code == 422 and response.json()["code"] == "invalid"


def test_sessions_can_be_listed_and_ended(http: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    phone = http.post("/v1/auth/login", json={"email": user.email, "password": user.password}).json()
    phone_headers = {"Authorization": f"Bearer {phone['token']}"}
    listed = http.get("/v1/sessions", headers=user.headers).json()
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    other = next(s for s in listed if not s["current"])
    assert http.delete(f"/v1/sessions/{other['id']}", headers=user.headers).status_code == 204
    assert http.get("/v1/users/me", headers=phone_headers).status_code == 401
    assert http.get("/v1/users/me", headers=user.headers).status_code == 200
    assert http.delete(f"/v1/sessions/{uuid.uuid4()}", headers=user.headers).status_code == 404


def _session_token(stack: Settings, user_id: uuid.UUID, lifetime: dt.timedelta) -> str:
    token, digest = new_token()

    async def create() -> None:
        async with await psycopg.AsyncConnection.connect(stack.pg_dsn, autocommit=True) as conn:
            await accounts.create_session(conn, user_id, digest, lifetime)

    asyncio.run(create())
    return token


def test_an_idle_session_ends(stack: Settings, http: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE sessions SET created_at = now() - interval '9 days',"
                     " last_seen_at = now() - interval '8 days' WHERE user_id = %s", (user.id,))
    assert http.get("/v1/users/me", headers=user.headers).status_code == 401


async def _closed_within(ws: websockets.ClientConnection, seconds: float) -> float:
    started = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), timeout=seconds)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    return time.monotonic() - started


async def test_an_expiring_session_closes_its_socket(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    token = await asyncio.to_thread(_session_token, stack, user.id, dt.timedelta(seconds=3))
    async with websockets.connect(f"{stack.gateway_ws_url}/v1/ingest?token={token}") as ws:
        took = await _closed_within(ws, 10)
    assert took < 6


async def test_logout_closes_open_sockets_of_that_session(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    async with websockets.connect(f"{stack.gateway_ws_url}/v1/ingest",
                                  additional_headers=user.headers) as ws:
        async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
            assert (await http.post("/v1/auth/logout", headers=user.headers)).status_code == 204
        assert await _closed_within(ws, 5) < 3
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"{stack.gateway_ws_url}/v1/ingest",
                                      additional_headers=user.headers):
            pass


async def test_ending_a_session_closes_its_sockets(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    user = account()
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        phone = (await http.post("/v1/auth/login", json={"email": user.email,
                                                         "password": user.password})).json()
        url = f"{stack.gateway_ws_url}/v1/ingest?token={phone['token']}"
        async with websockets.connect(url) as ws:
            listed = (await http.get("/v1/sessions", headers=user.headers)).json()
            other = next(s for s in listed if not s["current"])
            ended = await http.delete(f"/v1/sessions/{other['id']}", headers=user.headers)
            assert ended.status_code == 204
            assert await _closed_within(ws, 5) < 3
