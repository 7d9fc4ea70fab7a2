"""Device tokens: long-lived, ingest-only credentials of an athlete's watches and phones."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from storage import paging


class DeviceToken(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


async def create(conn: AsyncConnection, user_id: uuid.UUID, name: str,
                 token_hash: bytes) -> DeviceToken:
    cur = await conn.execute(
        "INSERT INTO device_tokens (user_id, name, token_hash) VALUES (%s, %s, %s)"
        " RETURNING id, name, created_at, last_used_at", (user_id, name, token_hash))
    row = await cur.fetchone()
    assert row is not None
    return DeviceToken(id=row[0], name=row[1], created_at=row[2], last_used_at=row[3])


_NOT_LOCKED = ("NOT EXISTS (SELECT 1 FROM users u WHERE u.id = device_tokens.user_id"
               " AND u.locked_at IS NOT NULL)")
"""A locked account's devices stream nothing until it is unlocked (users.locked_at)."""


async def owner_of(conn: AsyncConnection, token_hash: bytes) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(token id, user id) of a token still valid (of an account not locked), marking it
    used; None otherwise."""
    cur = await conn.execute(
        "UPDATE device_tokens SET last_used_at = now() WHERE token_hash = %s AND revoked_at IS NULL"
        f" AND {_NOT_LOCKED} RETURNING id, user_id", (token_hash,))
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1])


async def still_valid(conn: AsyncConnection, token_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not token_ids:
        return set()
    cur = await conn.execute(
        "UPDATE device_tokens SET last_used_at = now() WHERE id = ANY(%s) AND revoked_at IS NULL"
        f" AND {_NOT_LOCKED} RETURNING id", (token_ids,))
    return {r[0] for r in await cur.fetchall()}


async def list_tokens(conn: AsyncConnection, user_id: uuid.UUID, *, limit: int = 200,
                      before: tuple[dt.datetime, uuid.UUID] | None = None) -> list[DeviceToken]:
    cur = await conn.execute(
        "SELECT id, name, created_at, last_used_at FROM device_tokens"
        " WHERE user_id = %(user)s AND revoked_at IS NULL"
        "   AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s))"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {"user": user_id, "limit": limit, **paging.after(before)})
    return [DeviceToken(id=r[0], name=r[1], created_at=r[2], last_used_at=r[3])
            for r in await cur.fetchall()]


async def revoke(conn: AsyncConnection, user_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    cur = await conn.execute(
        "UPDATE device_tokens SET revoked_at = now() WHERE id = %s AND user_id = %s"
        " AND revoked_at IS NULL", (token_id, user_id))
    return cur.rowcount == 1
