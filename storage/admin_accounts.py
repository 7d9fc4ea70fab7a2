"""Accounts as the admin area sees them: search, sessions of anyone, locking.

No health field leaves here: an account is its identity, roles and state, never the
profile values the metrics use (resting or maximum heart rate, weight, VO2max, birth date).
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from storage import paging


class AccountRow(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    country: str | None
    city: str | None
    roles: list[str]
    created_at: dt.datetime
    locked_at: dt.datetime | None
    mfa: bool
    """TOTP is enrolled and confirmed."""


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    audience: str
    """public or internal: the gateway that minted it."""
    mfa_verified: bool
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


_ACCOUNT = (
    "SELECT u.id, u.email, u.first_name, u.last_name, u.country, u.city,"
    " ARRAY(SELECT role FROM roles r WHERE r.user_id = u.id ORDER BY role), u.created_at,"
    " u.locked_at, EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id"
    "   AND t.confirmed_at IS NOT NULL) FROM users u")


def _account(r: tuple[object, ...]) -> AccountRow:
    return msgspec.convert(dict(zip(AccountRow.__struct_fields__, r, strict=True)), AccountRow,
                           strict=False)


def like_pattern(text: str) -> str:
    """`%text%` for ILIKE, with the user's own `%`, `_` and `\\` matched literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(conn: AsyncConnection, text: str | None = None, *, limit: int = 50,
                 before: paging.Keyset | None = None) -> list[AccountRow]:
    """Accounts whose e-mail or name contains `text` (all without it), newest first."""
    cur = await conn.execute(
        _ACCOUNT + " WHERE (%(text)s::text IS NULL OR u.email ILIKE %(pattern)s"
        "   OR concat_ws(' ', u.first_name, u.second_name, u.last_name) ILIKE %(pattern)s)"
        "   AND (%(at)s::timestamptz IS NULL OR (u.created_at, u.id) < (%(at)s, %(id)s))"
        " ORDER BY u.created_at DESC, u.id DESC LIMIT %(limit)s",
        {"text": text, "pattern": like_pattern(text or ""), "limit": limit,
         **paging.after(before)})
    return [_account(r) for r in await cur.fetchall()]


async def account(conn: AsyncConnection, user_id: uuid.UUID) -> AccountRow | None:
    cur = await conn.execute(_ACCOUNT + " WHERE u.id = %s", (user_id,))
    row = await cur.fetchone()
    return None if row is None else _account(row)


async def sessions_of(conn: AsyncConnection, user_id: uuid.UUID, *, limit: int = 50,
                      before: paging.Keyset | None = None) -> list[SessionInfo]:
    """The user's open sessions on either gateway, newest first."""
    cur = await conn.execute(
        "SELECT id, user_id, audience, mfa_verified, created_at, last_seen_at, expires_at"
        " FROM sessions WHERE user_id = %(user)s AND revoked_at IS NULL AND expires_at > now()"
        "   AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s))"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {"user": user_id, "limit": limit, **paging.after(before)})
    return [SessionInfo(id=r[0], user_id=r[1], audience=r[2], mfa_verified=r[3], created_at=r[4],
                        last_seen_at=r[5], expires_at=r[6]) for r in await cur.fetchall()]


async def lock(conn: AsyncConnection, user_id: uuid.UUID) -> list[uuid.UUID] | None:
    """Lock the account (kept as it is if locked already) and end its open sessions; the
    sessions ended, or None when there is no such user. Run inside a transaction."""
    cur = await conn.execute(
        "UPDATE users SET locked_at = coalesce(locked_at, now()) WHERE id = %s RETURNING id",
        (user_id,))
    if await cur.fetchone() is None:
        return None
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL"
        " RETURNING id", (user_id,))
    return [r[0] for r in await cur.fetchall()]


async def unlock(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """False when there is no such user."""
    cur = await conn.execute("UPDATE users SET locked_at = NULL WHERE id = %s", (user_id,))
    return cur.rowcount == 1
