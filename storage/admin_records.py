"""Records the admin and ML areas read across every athlete: all groups, the consent
journal, the inference log. Each list is newest first and paged by (time, id).

The inference log's inputs and outputs are health-derived (heart rate features, injury
risk), so they are not read here: an entry is which model answered, when, for whom and how
fast.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from storage import paging
from storage.admin_accounts import like_pattern
from storage.groups import Member


class GroupRow(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    sport: str
    created_at: dt.datetime
    created_by: uuid.UUID | None
    athletes: int
    coaches: int


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None
    athlete_id: uuid.UUID
    consent_id: uuid.UUID | None
    group_id: uuid.UUID | None
    action: str
    scope: str
    purpose: str
    policy_version: str


class Inference(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    model_type: str
    model_version: str
    user_id: uuid.UUID | None
    workout_id: uuid.UUID | None
    trigger_id: uuid.UUID | None
    latency_ms: float


_GROUP = (
    "SELECT g.id, g.name, g.sport, g.created_at, g.created_by,"
    " (SELECT count(*) FROM user_groups m WHERE m.group_id = g.id AND m.role = 'athlete'),"
    " (SELECT count(*) FROM user_groups m WHERE m.group_id = g.id AND m.role = 'coach')"
    " FROM groups g")


def _group(r: tuple[object, ...]) -> GroupRow:
    return msgspec.convert(dict(zip(GroupRow.__struct_fields__, r, strict=True)), GroupRow,
                           strict=False)


async def groups(conn: AsyncConnection, text: str | None = None, *, limit: int = 50,
                 before: paging.Keyset | None = None) -> list[GroupRow]:
    """Every group (whose name contains `text`, when given), with its member counts."""
    cur = await conn.execute(
        _GROUP + " WHERE (%(text)s::text IS NULL OR g.name ILIKE %(pattern)s)"
        "   AND (%(at)s::timestamptz IS NULL OR (g.created_at, g.id) < (%(at)s, %(id)s))"
        " ORDER BY g.created_at DESC, g.id DESC LIMIT %(limit)s",
        {"text": text, "pattern": like_pattern(text or ""), "limit": limit,
         **paging.after(before)})
    return [_group(r) for r in await cur.fetchall()]


async def group(conn: AsyncConnection, group_id: uuid.UUID) -> GroupRow | None:
    cur = await conn.execute(_GROUP + " WHERE g.id = %s", (group_id,))
    row = await cur.fetchone()
    return None if row is None else _group(row)


async def emails(conn: AsyncConnection, users: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The e-mail address of each of `users` that exists (for the admin's member lists)."""
    if not users:
        return {}
    cur = await conn.execute("SELECT id, email FROM users WHERE id = ANY(%s)", (users,))
    return {r[0]: r[1] for r in await cur.fetchall()}


async def group_exists(conn: AsyncConnection, group_id: uuid.UUID) -> bool:
    cur = await conn.execute("SELECT 1 FROM groups WHERE id = %s", (group_id,))
    return await cur.fetchone() is not None


async def membership(conn: AsyncConnection, group_id: uuid.UUID,
                     user_id: uuid.UUID) -> Member | None:
    cur = await conn.execute("SELECT user_id, role, joined_at FROM user_groups"
                             " WHERE group_id = %s AND user_id = %s", (group_id, user_id))
    row = await cur.fetchone()
    return None if row is None else Member(user_id=row[0], role=row[1], joined_at=row[2])


async def consent_journal(conn: AsyncConnection, *, athlete_id: uuid.UUID | None = None,
                          group_id: uuid.UUID | None = None, action: str | None = None,
                          scope: str | None = None, since: dt.datetime | None = None,
                          until: dt.datetime | None = None, limit: int = 50,
                          before: paging.Keyset | None = None) -> list[JournalEntry]:
    """Grants and withdrawals of every athlete; each filter narrows it when given."""
    cur = await conn.execute(
        "SELECT id, at, actor_id, athlete_id, consent_id, group_id, action, scope, purpose,"
        " policy_version FROM consent_journal"
        " WHERE (%(athlete)s::uuid IS NULL OR athlete_id = %(athlete)s)"
        "   AND (%(group)s::uuid IS NULL OR group_id = %(group)s)"
        "   AND (%(action)s::text IS NULL OR action = %(action)s)"
        "   AND (%(scope)s::text IS NULL OR scope = %(scope)s)"
        "   AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
        "   AND (%(until)s::timestamptz IS NULL OR at < %(until)s)"
        "   AND (%(at)s::timestamptz IS NULL OR (at, id) < (%(at)s, %(id)s))"
        " ORDER BY at DESC, id DESC LIMIT %(limit)s",
        {"athlete": athlete_id, "group": group_id, "action": action, "scope": scope,
         "since": since, "until": until, "limit": limit, **paging.after(before)})
    return [JournalEntry(id=r[0], at=r[1], actor_id=r[2], athlete_id=r[3], consent_id=r[4],
                         group_id=r[5], action=r[6], scope=r[7], purpose=r[8], policy_version=r[9])
            for r in await cur.fetchall()]


async def inferences(conn: AsyncConnection, *, model_type: str | None = None,
                     model_version: str | None = None, user_id: uuid.UUID | None = None,
                     workout_id: uuid.UUID | None = None, min_latency_ms: float | None = None,
                     since: dt.datetime | None = None, until: dt.datetime | None = None,
                     limit: int = 50, before: paging.Keyset | None = None) -> list[Inference]:
    """The inference log (tables of 0008 and 0011), without inputs and outputs."""
    cur = await conn.execute(
        "SELECT id, at, model_type, model_version, user_id, workout_id, trigger_id, latency_ms"
        " FROM inference_log"
        " WHERE (%(type)s::text IS NULL OR model_type = %(type)s)"
        "   AND (%(version)s::text IS NULL OR model_version = %(version)s)"
        "   AND (%(user)s::uuid IS NULL OR user_id = %(user)s)"
        "   AND (%(workout)s::uuid IS NULL OR workout_id = %(workout)s)"
        "   AND (%(latency)s::float8 IS NULL OR latency_ms >= %(latency)s)"
        "   AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
        "   AND (%(until)s::timestamptz IS NULL OR at < %(until)s)"
        "   AND (%(at)s::timestamptz IS NULL OR (at, id) < (%(at)s, %(id)s))"
        " ORDER BY at DESC, id DESC LIMIT %(limit)s",
        {"type": model_type, "version": model_version, "user": user_id, "workout": workout_id,
         "latency": min_latency_ms, "since": since, "until": until, "limit": limit,
         **paging.after(before)})
    return [Inference(id=r[0], at=r[1], model_type=r[2], model_version=r[3], user_id=r[4],
                      workout_id=r[5], trigger_id=r[6], latency_ms=r[7])
            for r in await cur.fetchall()]
