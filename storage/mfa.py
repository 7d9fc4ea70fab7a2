"""TOTP enrolment and recovery codes (RFC 6238), plain SQL; the maths is in gateway/mfa.py."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection


class Totp(msgspec.Struct, frozen=True, kw_only=True):
    secret: str
    confirmed_at: dt.datetime | None
    last_step: int


async def totp_of(conn: AsyncConnection, user_id: uuid.UUID) -> Totp | None:
    cur = await conn.execute(
        "SELECT secret, confirmed_at, last_step FROM mfa_totp WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return None if row is None else Totp(secret=row[0], confirmed_at=row[1], last_step=row[2])


async def begin_enrolment(conn: AsyncConnection, user_id: uuid.UUID, secret: str) -> bool:
    """Store a new, unconfirmed secret; False if TOTP is already confirmed (remove it first)."""
    cur = await conn.execute(
        "INSERT INTO mfa_totp (user_id, secret) VALUES (%s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now(),"
        "   last_step = 0 WHERE mfa_totp.confirmed_at IS NULL RETURNING user_id",
        (user_id, secret))
    return await cur.fetchone() is not None


async def use_step(conn: AsyncConnection, user_id: uuid.UUID, step: int, *, confirm: bool) -> bool:
    """Record that the code of time step `step` was used; False if it (or a later one) was
    used already — a code works once. With `confirm`, the enrolment is completed too."""
    cur = await conn.execute(
        "UPDATE mfa_totp SET last_step = %(step)s,"
        "  confirmed_at = CASE WHEN %(confirm)s THEN coalesce(confirmed_at, now()) ELSE confirmed_at END"
        " WHERE user_id = %(user)s AND last_step < %(step)s"
        "   AND (%(confirm)s OR confirmed_at IS NOT NULL) RETURNING user_id",
        {"user": user_id, "step": step, "confirm": confirm})
    return await cur.fetchone() is not None


async def replace_recovery_codes(conn: AsyncConnection, user_id: uuid.UUID,
                                 code_hashes: list[bytes]) -> None:
    async with conn.transaction():
        await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = %s", (user_id,))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (%s, %s)",
                [(user_id, h) for h in code_hashes])


async def use_recovery_code(conn: AsyncConnection, user_id: uuid.UUID, code_hash: bytes) -> bool:
    cur = await conn.execute(
        "UPDATE mfa_recovery_codes SET used_at = now() WHERE user_id = %s AND code_hash = %s"
        " AND used_at IS NULL", (user_id, code_hash))
    return cur.rowcount == 1


async def recovery_codes_left(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = %s AND used_at IS NULL", (user_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def remove(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    async with conn.transaction():
        cur = await conn.execute("DELETE FROM mfa_totp WHERE user_id = %s", (user_id,))
        await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = %s", (user_id,))
    return cur.rowcount == 1
