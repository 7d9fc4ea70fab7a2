"""Accounts that the operator's own tools make (`stride demo`, `stride simulate`): written
straight into the database, as `stride users grant` changes roles, rather than through
`POST /v1/auth/register`, whose per-address throttle is there to slow the public down.
They then log in through the API like anyone else."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg

from gateway.hashing import HASHER
from stack.settings import Settings
from storage import accounts, health_consent
from storage.consents import POLICY_VERSION

BUSY_RETRIES = 30


async def create(settings: Settings, email: str, password: str, roles: tuple[str, ...] = (),
                 **profile: Any) -> uuid.UUID:
    password_hash = await asyncio.to_thread(HASHER.hash, password)
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
        user_id = await accounts.create_user(conn, email.lower(), password_hash, profile)
        async with conn.transaction():  # synthetic athletes whose heart rate the demo shows
            await health_consent.give(conn, user_id, POLICY_VERSION, None,
                                      purpose="an account made by the operator's tools (stride "
                                              "demo, simulate) for made-up data")
        for role in roles:
            await accounts.grant_role(conn, user_id, role, None)  # type: ignore[arg-type]
    return user_id


async def log_in(http: httpx.AsyncClient, email: str, password: str, otp: str | None = None) -> str:
    """A session token, waiting out a busy password-hashing pool (503 `busy`)."""
    body = {"email": email, "password": password, **({"otp": otp} if otp else {})}
    for _ in range(BUSY_RETRIES):
        answer = await http.post("/v1/auth/login", json=body)
        if answer.status_code != 503:
            break
        await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))  # as the gateway asks
    if answer.status_code != 200:
        raise RuntimeError(f"login {email}: {answer.status_code} {answer.text}")
    return str(answer.json()["token"])
