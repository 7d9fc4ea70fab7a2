"""Groups, their members, coach invitations and the append-only group journal.

Athletes are added to a group by its coaches; a coach joins only by accepting an
invitation (a coach sees what the group's athletes consent to show, so nobody becomes
one without saying yes, and the athletes are told). Every change of membership is
written to `group_journal`. Consents live in storage/consents.py.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection, errors

from storage import paging
from storage.consents import withdraw_for_group


class Group(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    sport: str
    role: str
    """The caller's role in the group: athlete or coach."""
    joined_at: dt.datetime


class Member(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    role: str
    joined_at: dt.datetime


class Invitation(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    group_id: uuid.UUID
    group_name: str
    role: str
    invited_by: uuid.UUID | None
    created_at: dt.datetime
    status: str


class NotFound(Exception):
    pass


class LastCoach(Exception):
    """The group's only coach cannot leave or be removed while it has other members."""


Keyset = paging.Keyset


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
        await journal(conn, row[0], creator, creator, "added", "coach")
    return row[0]  # type: ignore[no-any-return]


async def role_in_group(conn: AsyncConnection, user_id: uuid.UUID, group_id: uuid.UUID) -> str | None:
    cur = await conn.execute(
        "SELECT role FROM user_groups WHERE user_id = %s AND group_id = %s", (user_id, group_id))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def add_member(conn: AsyncConnection, group_id: uuid.UUID, user_id: uuid.UUID, role: str,
                     actor_id: uuid.UUID | None = None) -> None:
    """Add a member, or change a member's role; raises NotFound if the user does not exist.
    The API adds coaches only through accepted invitations."""
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO user_groups (user_id, group_id, role) VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id, group_id) DO UPDATE SET role = EXCLUDED.role",
                (user_id, group_id, role))
            await journal(conn, group_id, actor_id, user_id, "added", role)
    except errors.ForeignKeyViolation:
        raise NotFound(str(user_id)) from None


async def my_groups(conn: AsyncConnection, user_id: uuid.UUID, *, limit: int = 200,
                    before: Keyset | None = None) -> list[Group]:
    """The user's groups, newest membership first."""
    cur = await conn.execute(
        "SELECT g.id, g.name, g.sport, ug.role, ug.joined_at FROM groups g"
        " JOIN user_groups ug ON ug.group_id = g.id WHERE ug.user_id = %(user)s"
        "   AND (%(at)s::timestamptz IS NULL OR (ug.joined_at, g.id) < (%(at)s, %(id)s))"
        " ORDER BY ug.joined_at DESC, g.id DESC LIMIT %(limit)s",
        {"user": user_id, "limit": limit, **paging.after(before)})
    return [Group(id=r[0], name=r[1], sport=r[2], role=r[3], joined_at=r[4])
            for r in await cur.fetchall()]


async def members(conn: AsyncConnection, group_id: uuid.UUID, *, limit: int = 200,
                  before: Keyset | None = None) -> list[Member]:
    """A group's members, newest first."""
    cur = await conn.execute(
        "SELECT user_id, role, joined_at FROM user_groups WHERE group_id = %(group)s"
        "   AND (%(at)s::timestamptz IS NULL OR (joined_at, user_id) < (%(at)s, %(id)s))"
        " ORDER BY joined_at DESC, user_id DESC LIMIT %(limit)s",
        {"group": group_id, "limit": limit, **paging.after(before)})
    return [Member(user_id=r[0], role=r[1], joined_at=r[2]) for r in await cur.fetchall()]


async def invite(conn: AsyncConnection, group_id: uuid.UUID, invitee: uuid.UUID, role: str,
                 by: uuid.UUID) -> uuid.UUID:
    """A pending invitation (the existing one if there is one); NotFound for no such user."""
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO group_invitations (group_id, invitee_id, role, invited_by)"
                " VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (group_id, invitee_id) WHERE status = 'pending' DO NOTHING RETURNING id",
                (group_id, invitee, role, by))
            row = await cur.fetchone()
            if row is not None:
                await journal(conn, group_id, by, invitee, "invited", role)
                return row[0]  # type: ignore[no-any-return]
    except errors.ForeignKeyViolation:
        raise NotFound(str(invitee)) from None
    cur = await conn.execute(
        "SELECT id FROM group_invitations WHERE group_id = %s AND invitee_id = %s"
        " AND status = 'pending'", (group_id, invitee))
    row = await cur.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def my_invitations(conn: AsyncConnection, user_id: uuid.UUID, *, limit: int = 200,
                         before: Keyset | None = None) -> list[Invitation]:
    cur = await conn.execute(
        "SELECT i.id, i.group_id, g.name, i.role, i.invited_by, i.created_at, i.status"
        " FROM group_invitations i JOIN groups g ON g.id = i.group_id"
        " WHERE i.invitee_id = %(user)s AND i.status = 'pending'"
        "   AND (%(at)s::timestamptz IS NULL OR (i.created_at, i.id) < (%(at)s, %(id)s))"
        " ORDER BY i.created_at DESC, i.id DESC LIMIT %(limit)s",
        {"user": user_id, "limit": limit, **paging.after(before)})
    return [Invitation(id=r[0], group_id=r[1], group_name=r[2], role=r[3], invited_by=r[4],
                       created_at=r[5], status=r[6]) for r in await cur.fetchall()]


async def answer_invitation(conn: AsyncConnection, invitation_id: uuid.UUID, invitee: uuid.UUID,
                            accept: bool) -> Invitation:
    """Accept (the invitee becomes a member with the invited role) or decline a pending
    invitation of `invitee`; NotFound otherwise."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE group_invitations i SET status = %s, responded_at = now()"
            " FROM groups g WHERE i.id = %s AND i.invitee_id = %s AND i.status = 'pending'"
            "   AND g.id = i.group_id"
            " RETURNING i.id, i.group_id, g.name, i.role, i.invited_by, i.created_at, i.status",
            ("accepted" if accept else "declined", invitation_id, invitee))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(str(invitation_id))
        invitation = Invitation(id=row[0], group_id=row[1], group_name=row[2], role=row[3],
                                invited_by=row[4], created_at=row[5], status=row[6])
        await journal(conn, invitation.group_id, invitee, invitee,
                      "accepted" if accept else "declined", invitation.role)
        if accept:
            await conn.execute(
                "INSERT INTO user_groups (user_id, group_id, role) VALUES (%s, %s, %s)"
                " ON CONFLICT (user_id, group_id) DO UPDATE SET role = EXCLUDED.role",
                (invitee, invitation.group_id, invitation.role))
    return invitation


async def revoke_invitation(conn: AsyncConnection, group_id: uuid.UUID, invitation_id: uuid.UUID,
                            by: uuid.UUID) -> None:
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE group_invitations SET status = 'revoked', responded_at = now()"
            " WHERE id = %s AND group_id = %s AND status = 'pending' RETURNING invitee_id, role",
            (invitation_id, group_id))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(str(invitation_id))
        await journal(conn, group_id, by, row[0], "revoked", row[1])


async def remove_member(conn: AsyncConnection, group_id: uuid.UUID, user_id: uuid.UUID,
                        actor_id: uuid.UUID) -> str:
    """Remove a member (or let one leave: actor == user). Their consents to the group are
    withdrawn. Returns the role they had; NotFound if not a member; LastCoach if they are
    the only coach of a group with other members."""
    leaving = actor_id == user_id
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT role, (SELECT count(*) FROM user_groups WHERE group_id = %(g)s AND role = 'coach'),"
            "  (SELECT count(*) FROM user_groups WHERE group_id = %(g)s)"
            " FROM user_groups WHERE group_id = %(g)s AND user_id = %(u)s FOR UPDATE",
            {"g": group_id, "u": user_id})
        row = await cur.fetchone()
        if row is None:
            raise NotFound(str(user_id))
        role, coaches, everyone = str(row[0]), int(row[1]), int(row[2])
        if role == "coach" and coaches == 1 and everyone > 1:
            raise LastCoach(str(group_id))
        await conn.execute("DELETE FROM user_groups WHERE group_id = %s AND user_id = %s",
                           (group_id, user_id))
        await withdraw_for_group(conn, user_id, group_id, actor_id,
                                 "left the group" if leaving else "removed from the group")
        await journal(conn, group_id, actor_id, user_id, "left" if leaving else "removed", role)
    return role


async def athlete_names(conn: AsyncConnection, athletes: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """How a coach's live view names its athletes: first and last name as given, or
    "Athlete" when neither is set (the e-mail address is never shown)."""
    if not athletes:
        return {}
    cur = await conn.execute(
        "SELECT id, nullif(btrim(concat_ws(' ', first_name, last_name)), '') FROM users"
        " WHERE id = ANY(%s)", (list(athletes),))
    return {r[0]: r[1] or "Athlete" for r in await cur.fetchall()}


async def journal(conn: AsyncConnection, group_id: uuid.UUID, actor_id: uuid.UUID | None,
                  subject_id: uuid.UUID, action: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO group_journal (group_id, actor_id, subject_id, action, role)"
        " VALUES (%s, %s, %s, %s, %s)", (group_id, actor_id, subject_id, action, role))
