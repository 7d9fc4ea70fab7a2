"""Groups, membership, consents (with their append-only journal) and who may see whom."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection, errors

POLICY_VERSION = "2026-11"
"""The privacy policy version recorded with every consent change."""


class Group(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    sport: str
    role: str
    """The caller's role in the group: athlete or coach."""


class Member(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    role: str
    joined_at: dt.datetime


class Consent(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    athlete_id: uuid.UUID
    group_id: uuid.UUID
    scope: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None = None


class NotFound(Exception):
    pass


async def create_group(conn: AsyncConnection, creator: uuid.UUID, name: str, sport: str) -> uuid.UUID:
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO groups (name, sport, created_by) VALUES (%s, %s, %s) RETURNING id",
            (name, sport, creator))
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO user_groups (user_id, group_id, role) VALUES (%s, %s, 'coach')",
            (creator, row[0]))
    return row[0]  # type: ignore[no-any-return]


async def role_in_group(conn: AsyncConnection, user_id: uuid.UUID, group_id: uuid.UUID) -> str | None:
    cur = await conn.execute(
        "SELECT role FROM user_groups WHERE user_id = %s AND group_id = %s", (user_id, group_id))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def add_member(conn: AsyncConnection, group_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    """Add or change a member; raises NotFound if the user does not exist."""
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO user_groups (user_id, group_id, role) VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id, group_id) DO UPDATE SET role = EXCLUDED.role",
                (user_id, group_id, role))
    except errors.ForeignKeyViolation:
        raise NotFound(str(user_id)) from None


async def my_groups(conn: AsyncConnection, user_id: uuid.UUID) -> list[Group]:
    cur = await conn.execute(
        "SELECT g.id, g.name, g.sport, ug.role FROM groups g JOIN user_groups ug ON ug.group_id = g.id"
        " WHERE ug.user_id = %s ORDER BY g.name", (user_id,))
    return [Group(id=r[0], name=r[1], sport=r[2], role=r[3]) for r in await cur.fetchall()]


async def members(conn: AsyncConnection, group_id: uuid.UUID) -> list[Member]:
    cur = await conn.execute(
        "SELECT user_id, role, joined_at FROM user_groups WHERE group_id = %s ORDER BY joined_at",
        (group_id,))
    return [Member(user_id=r[0], role=r[1], joined_at=r[2]) for r in await cur.fetchall()]


async def grant_consent(conn: AsyncConnection, athlete_id: uuid.UUID, group_id: uuid.UUID,
                        scope: str, purpose: str) -> Consent:
    """Grant (or return the already active) consent, journaling a new grant."""
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO consents (athlete_id, group_id, scope) VALUES (%s, %s, %s)"
            " ON CONFLICT (athlete_id, group_id, scope) WHERE withdrawn_at IS NULL DO NOTHING"
            " RETURNING id, athlete_id, group_id, scope, granted_at, withdrawn_at",
            (athlete_id, group_id, scope))
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                "SELECT id, athlete_id, group_id, scope, granted_at, withdrawn_at FROM consents"
                " WHERE athlete_id = %s AND group_id = %s AND scope = %s AND withdrawn_at IS NULL",
                (athlete_id, group_id, scope))
            row = await cur.fetchone()
            assert row is not None
            return _consent(row)
        await _journal(conn, athlete_id, athlete_id, row[0], group_id, "granted", scope, purpose)
    return _consent(row)


async def withdraw_consent(conn: AsyncConnection, athlete_id: uuid.UUID, consent_id: uuid.UUID,
                           purpose: str) -> Consent:
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE consents SET withdrawn_at = now() WHERE id = %s AND athlete_id = %s"
            " AND withdrawn_at IS NULL"
            " RETURNING id, athlete_id, group_id, scope, granted_at, withdrawn_at",
            (consent_id, athlete_id))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(str(consent_id))
        await _journal(conn, athlete_id, athlete_id, row[0], row[2], "withdrawn", row[3], purpose)
    return _consent(row)


async def my_consents(conn: AsyncConnection, athlete_id: uuid.UUID) -> list[Consent]:
    cur = await conn.execute(
        "SELECT id, athlete_id, group_id, scope, granted_at, withdrawn_at FROM consents"
        " WHERE athlete_id = %s ORDER BY granted_at DESC", (athlete_id,))
    return [_consent(r) for r in await cur.fetchall()]


async def coach_may_watch(conn: AsyncConnection, coach_id: uuid.UUID, athlete_id: uuid.UUID) -> bool:
    """Whether `coach_id` coaches a group to which `athlete_id` belongs and currently grants
    live access (consent alone is not enough: an athlete who left keeps no watcher)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM consents c"
        " JOIN user_groups coach ON coach.group_id = c.group_id"
        " JOIN user_groups member ON member.group_id = c.group_id AND member.user_id = c.athlete_id"
        " WHERE c.athlete_id = %s AND c.scope = 'live' AND c.withdrawn_at IS NULL"
        " AND coach.user_id = %s AND coach.role = 'coach')", (athlete_id, coach_id))
    row = await cur.fetchone()
    return bool(row and row[0])


async def _journal(conn: AsyncConnection, actor: uuid.UUID, athlete: uuid.UUID, consent: uuid.UUID,
                   group: uuid.UUID, action: str, scope: str, purpose: str) -> None:
    await conn.execute(
        "INSERT INTO consent_journal (actor_id, athlete_id, consent_id, group_id, action, scope,"
        " purpose, policy_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (actor, athlete, consent, group, action, scope, purpose, POLICY_VERSION))


def _consent(row: tuple[object, ...]) -> Consent:
    return Consent(id=row[0], athlete_id=row[1], group_id=row[2], scope=str(row[3]),  # type: ignore[arg-type]
                   granted_at=row[4], withdrawn_at=row[5])  # type: ignore[arg-type]


async def consenting_athletes(conn: AsyncConnection, group_id: uuid.UUID) -> set[uuid.UUID]:
    """Members who currently let this group's coaches watch them live."""
    cur = await conn.execute(
        "SELECT c.athlete_id FROM consents c"
        " JOIN user_groups member ON member.group_id = c.group_id AND member.user_id = c.athlete_id"
        " WHERE c.group_id = %s AND c.scope = 'live' AND c.withdrawn_at IS NULL", (group_id,))
    return {r[0] for r in await cur.fetchall()}


async def athlete_names(conn: AsyncConnection, athletes: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """How a coach's live view names its athletes: first and last name as given, or
    "Athlete" when neither is set (the e-mail address is never shown)."""
    if not athletes:
        return {}
    cur = await conn.execute(
        "SELECT id, nullif(btrim(concat_ws(' ', first_name, last_name)), '') FROM users"
        " WHERE id = ANY(%s)", (list(athletes),))
    return {r[0]: r[1] or "Athlete" for r in await cur.fetchall()}
