"""Accounts, profiles and sessions: plain SQL over psycopg."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import msgspec
from psycopg import AsyncConnection, errors

from storage import paging

PROFILE_FIELDS = ("first_name", "second_name", "last_name", "phone", "birth_date", "sex",
                  "weight_kg", "hr_rest", "hr_max", "vo2max", "country", "city", "avatar_url",
                  "goal", "inventory")


class Profile(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    id: uuid.UUID
    email: str
    first_name: str | None = None
    second_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None
    weight_kg: float | None = None
    hr_rest: int | None = None
    hr_max: int | None = None
    vo2max: float | None = None
    country: str | None = None
    city: str | None = None
    avatar_url: str | None = None
    goal: str | None = None
    """Training goal (endurance, weight_loss, speed); the recommender assumes endurance."""
    inventory: str | None = None
    """Equipment at hand (bike, treadmill, none); the recommender assumes none."""
    roles: list[str] = []
    created_at: dt.datetime


class EmailTaken(Exception):
    pass


class ProfileRejected(Exception):
    """The database refused a profile change (e.g. resting HR not below max HR)."""


Audience = Literal["public", "internal"]
"""Which gateway a session belongs to (`sessions.audience`)."""


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


class ActiveSession(msgspec.Struct, frozen=True, kw_only=True):
    session_id: uuid.UUID
    user_id: uuid.UUID
    roles: list[str]
    expires_at: dt.datetime
    mfa_verified: bool = False
    """Opened with a second factor (roles that require MFA act only through such sessions)."""
    reauth_at: dt.datetime | None = None
    """When the password was last given on this session (at login, or `POST /v1/auth/reauth`)."""
    audience: Audience = "public"
    """The listener that minted it and alone accepts it (the public or the internal gateway)."""
    locked: bool = False
    """The account is locked (`users.locked_at`): the session must not be honoured."""


async def create_user(conn: AsyncConnection, email: str, password_hash: str | None,
                      profile: dict[str, object]) -> uuid.UUID:
    columns = ["email", "password_hash", *profile]
    placeholders = ", ".join(["%s"] * len(columns))
    try:
        async with conn.transaction():
            cur = await conn.execute(
                f"INSERT INTO users ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
                [email, password_hash, *profile.values()],
            )
            row = await cur.fetchone()
            assert row is not None
            await conn.execute("INSERT INTO roles (user_id, role) VALUES (%s, 'athlete')", (row[0],))
    except errors.UniqueViolation:
        raise EmailTaken(email) from None
    except errors.CheckViolation as exc:
        raise ProfileRejected(exc.diag.message_primary or "a value is out of range") from None
    return row[0]  # type: ignore[no-any-return]


async def password_hash_of(conn: AsyncConnection, email: str) -> tuple[uuid.UUID, str | None] | None:
    cur = await conn.execute("SELECT id, password_hash FROM users WHERE email = %s", (email,))
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1])


async def is_locked(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Whether an admin locked the account (no login, no token works meanwhile)."""
    cur = await conn.execute("SELECT locked_at IS NOT NULL FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def set_password_hash(conn: AsyncConnection, user_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))


async def get_profile(conn: AsyncConnection, user_id: uuid.UUID) -> Profile | None:
    cur = await conn.execute(
        f"SELECT id, email, {', '.join(PROFILE_FIELDS)}, created_at,"
        " ARRAY(SELECT role FROM roles r WHERE r.user_id = u.id ORDER BY role)"
        " FROM users u WHERE id = %s",
        (user_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    fields = dict(zip(("id", "email", *PROFILE_FIELDS, "created_at", "roles"), row, strict=True))
    return msgspec.convert(fields, Profile, from_attributes=False, strict=False)


async def update_profile(conn: AsyncConnection, user_id: uuid.UUID, changes: dict[str, object]) -> None:
    if not changes:
        return
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ProfileRejected(f"not profile fields: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = %s" for name in changes)
    try:
        async with conn.transaction():
            await conn.execute(f"UPDATE users SET {assignments}, updated_at = now() WHERE id = %s",
                               [*changes.values(), user_id])
    except errors.CheckViolation as exc:
        raise ProfileRejected(exc.diag.message_primary or "a value is out of range") from None


async def create_session(conn: AsyncConnection, user_id: uuid.UUID, token_hash: bytes,
                         lifetime: dt.timedelta, *, mfa_verified: bool = False,
                         audience: Audience = "public") -> tuple[uuid.UUID, dt.datetime]:
    cur = await conn.execute(
        "INSERT INTO sessions (user_id, token_hash, expires_at, mfa_verified, audience)"
        " VALUES (%s, %s, now() + %s, %s, %s) RETURNING id, expires_at",
        (user_id, token_hash, lifetime, mfa_verified, audience),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def active_session(conn: AsyncConnection, token_hash: bytes,
                         idle: dt.timedelta) -> ActiveSession | None:
    """The live session for a token, touching its last use; None if unknown, revoked,
    past its absolute expiry or idle for longer than `idle`."""
    cur = await conn.execute(
        """
        UPDATE sessions s SET last_seen_at = now()
        WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > now()
          AND last_seen_at > now() - %s
        RETURNING id, user_id,
            ARRAY(SELECT role FROM roles r WHERE r.user_id = s.user_id ORDER BY role), expires_at,
            mfa_verified, reauth_at, audience,
            EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.locked_at IS NOT NULL)
        """,
        (token_hash, idle),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return ActiveSession(session_id=row[0], user_id=row[1], roles=row[2], expires_at=row[3],
                         mfa_verified=row[4], reauth_at=row[5], audience=row[6], locked=row[7])


async def touch_sessions(conn: AsyncConnection, session_ids: list[uuid.UUID],
                         idle: dt.timedelta) -> set[uuid.UUID]:
    """Of these sessions, those still open (and of accounts not locked) — each touched, as
    an open socket is use."""
    if not session_ids:
        return set()
    cur = await conn.execute(
        "UPDATE sessions SET last_seen_at = now()"
        " WHERE id = ANY(%s) AND revoked_at IS NULL AND expires_at > now()"
        "   AND last_seen_at > now() - %s AND NOT EXISTS (SELECT 1 FROM users u"
        "     WHERE u.id = sessions.user_id AND u.locked_at IS NOT NULL) RETURNING id",
        (session_ids, idle))
    return {r[0] for r in await cur.fetchall()}


async def reauthenticated(conn: AsyncConnection, session_id: uuid.UUID, *,
                          mfa_verified: bool = False) -> None:
    """The password (and the code, with MFA) was just given again on this session."""
    await conn.execute(
        "UPDATE sessions SET reauth_at = now(), mfa_verified = mfa_verified OR %s WHERE id = %s",
        (mfa_verified, session_id))


async def revoke_other_sessions(conn: AsyncConnection, user_id: uuid.UUID,
                                keep: uuid.UUID | None) -> list[uuid.UUID]:
    """End every open session of the user but `keep`; returns those ended."""
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL"
        " AND id IS DISTINCT FROM %s RETURNING id", (user_id, keep))
    return [r[0] for r in await cur.fetchall()]


async def list_sessions(conn: AsyncConnection, user_id: uuid.UUID, *, limit: int = 200,
                        before: tuple[dt.datetime, uuid.UUID] | None = None) -> list[SessionRow]:
    """Open sessions, newest first, `limit` at most, those after the `before` cursor only."""
    cur = await conn.execute(
        "SELECT id, created_at, last_seen_at, expires_at FROM sessions"
        " WHERE user_id = %(user)s AND revoked_at IS NULL AND expires_at > now()"
        "   AND (%(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s))"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {"user": user_id, "limit": limit, **paging.after(before)},
    )
    return [SessionRow(id=r[0], created_at=r[1], last_seen_at=r[2], expires_at=r[3])
            for r in await cur.fetchall()]


async def revoke_session(conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
        (session_id, user_id),
    )
    return cur.rowcount == 1


Role = Literal["athlete", "coach", "admin", "partner", "ml_engineer"]
"""The roles (the `roles` table's CHECK lists the same)."""


async def grant_role(conn: AsyncConnection, user_id: uuid.UUID, role: Role,
                     granted_by: uuid.UUID | None) -> bool:
    """Returns False if the user does not exist."""
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO roles (user_id, role, granted_by) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING", (user_id, role, granted_by))
    except errors.ForeignKeyViolation:
        return False
    return True


async def revoke_role(conn: AsyncConnection, user_id: uuid.UUID, role: str) -> bool:
    cur = await conn.execute("DELETE FROM roles WHERE user_id = %s AND role = %s", (user_id, role))
    return cur.rowcount == 1


async def user_id_by_email(conn: AsyncConnection, email: str) -> uuid.UUID | None:
    cur = await conn.execute("SELECT id FROM users WHERE email = %s", (email.lower(),))
    row = await cur.fetchone()
    return None if row is None else row[0]  # type: ignore[no-any-return]


class SocialLoginTaken(Exception):
    """This provider account is already linked to another Stride account."""


async def user_by_social_login(conn: AsyncConnection, provider: str, subject: str) -> uuid.UUID | None:
    cur = await conn.execute(
        "SELECT user_id FROM social_logins WHERE provider = %s AND external_id = %s",
        (provider, subject))
    row = await cur.fetchone()
    return None if row is None else row[0]  # type: ignore[no-any-return]


async def link_social_login(conn: AsyncConnection, user_id: uuid.UUID, provider: str,
                            subject: str) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO social_logins (user_id, provider, external_id) VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id, provider) DO UPDATE SET external_id = EXCLUDED.external_id",
                (user_id, provider, subject))
    except errors.UniqueViolation:
        raise SocialLoginTaken(provider) from None


async def create_social_user(conn: AsyncConnection, email: str, provider: str, subject: str,
                             first_name: str | None) -> uuid.UUID:
    """A new account that signs in through `provider` only (no password)."""
    profile: dict[str, object] = {"first_name": first_name[:100]} if first_name else {}
    async with conn.transaction():
        user_id = await create_user(conn, email, None, profile)
        await link_social_login(conn, user_id, provider, subject)
    return user_id
