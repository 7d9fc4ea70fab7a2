"""Consents (with their append-only journal) and what they let a group's coaches see.

A consent names a group and a scope:
- `live`: the group's coaches may watch the athlete's live sessions (the live feed, and a
  workout while it is live or within the half hour after it ended, as the live view shows);
- `history`: they may read the athlete's workouts that started at or after `history_from`
  (the moment of the grant, unless the athlete chose an earlier one).
A consent counts only while the athlete is still a member of the group, and only for
coaches of that group.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

import msgspec
from psycopg import AsyncConnection

from storage import paging

POLICY_VERSION = "2026-12"
"""The privacy policy version recorded with every consent change."""
LIVE_AFTERGLOW = dt.timedelta(minutes=30)
"""How long after its end a workout still shows under a `live` consent (the live view's
"recently finished")."""

Scope = Literal["live", "history"]


class CoachOut(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    name: str


class Consent(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    athlete_id: uuid.UUID
    group_id: uuid.UUID
    scope: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None = None
    history_from: dt.datetime | None = None
    """For `history`: the earliest workout start the coaches may read."""
    group_name: str | None = None
    coaches: list[CoachOut] = []
    """Who coaches the group now: who this consent lets see you."""


class NotFound(Exception):
    pass


class Access(msgspec.Struct, frozen=True, kw_only=True):
    """What a viewer may see of one athlete's data."""

    full: bool = False
    """The athlete themself, or an admin."""
    live: bool = False
    history_from: dt.datetime | None = None
    """With a history consent: the earliest start covered."""
    history: bool = False

    @property
    def any(self) -> bool:
        return self.full or self.live or self.history

    def covers(self, started_at: dt.datetime, status: str, ended_at: dt.datetime | None,
               now: dt.datetime) -> bool:
        if self.full:
            return True
        if self.history and (self.history_from is None or started_at >= self.history_from):
            return True
        return self.live and (status in ("created", "active", "paused")
                              or (ended_at is not None and now - ended_at <= LIVE_AFTERGLOW))


_COLUMNS = "id, athlete_id, group_id, scope, granted_at, withdrawn_at, history_from"


def _consent(row: tuple[object, ...]) -> Consent:
    return Consent(id=row[0], athlete_id=row[1], group_id=row[2], scope=str(row[3]),  # type: ignore[arg-type]
                   granted_at=row[4], withdrawn_at=row[5], history_from=row[6])  # type: ignore[arg-type]


async def grant(conn: AsyncConnection, athlete_id: uuid.UUID, group_id: uuid.UUID, scope: Scope,
                purpose: str, history_from: dt.datetime | None = None) -> Consent:
    """Grant (or return the already active) consent, journaling a new grant. A history
    consent covers workouts from `history_from`, by default from now."""
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO consents (athlete_id, group_id, scope, history_from)"
            " VALUES (%s, %s, %s, CASE WHEN %s = 'history' THEN coalesce(%s, now()) END)"
            " ON CONFLICT (athlete_id, group_id, scope) WHERE withdrawn_at IS NULL DO NOTHING"
            f" RETURNING {_COLUMNS}", (athlete_id, group_id, scope, scope, history_from))
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM consents WHERE athlete_id = %s AND group_id = %s"
                " AND scope = %s AND withdrawn_at IS NULL", (athlete_id, group_id, scope))
            row = await cur.fetchone()
            assert row is not None
            return _consent(row)
        await _journal(conn, athlete_id, athlete_id, row[0], group_id, "granted", scope, purpose)
    return _consent(row)


async def withdraw(conn: AsyncConnection, athlete_id: uuid.UUID, consent_id: uuid.UUID,
                   purpose: str) -> Consent:
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE consents SET withdrawn_at = now() WHERE id = %s AND athlete_id = %s"
            f" AND withdrawn_at IS NULL RETURNING {_COLUMNS}", (consent_id, athlete_id))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(str(consent_id))
        await _journal(conn, athlete_id, athlete_id, row[0], row[2], "withdrawn", str(row[3]), purpose)
    return _consent(row)


async def withdraw_for_group(conn: AsyncConnection, athlete_id: uuid.UUID, group_id: uuid.UUID,
                             actor_id: uuid.UUID, purpose: str) -> list[Consent]:
    """Withdraw every active consent of the athlete to the group (they left or were
    removed); journaled with `actor_id` as who acted. Call inside a transaction."""
    cur = await conn.execute(
        "UPDATE consents SET withdrawn_at = now() WHERE athlete_id = %s AND group_id = %s"
        f" AND withdrawn_at IS NULL RETURNING {_COLUMNS}", (athlete_id, group_id))
    ended = [_consent(r) for r in await cur.fetchall()]
    for consent in ended:
        await _journal(conn, actor_id, athlete_id, consent.id, group_id, "withdrawn", consent.scope,
                       purpose)
    return ended


async def mine(conn: AsyncConnection, athlete_id: uuid.UUID, *, limit: int = 200,
               before: tuple[dt.datetime, uuid.UUID] | None = None) -> list[Consent]:
    """The athlete's consents, current and withdrawn, newest first, each with its group's
    name and current coaches."""
    cur = await conn.execute(
        "SELECT c.id, c.athlete_id, c.group_id, c.scope, c.granted_at, c.withdrawn_at,"
        "  c.history_from, g.name,"
        "  coalesce((SELECT json_agg(json_build_object('user_id', u.id, 'name',"
        "       coalesce(nullif(btrim(concat_ws(' ', u.first_name, u.last_name)), ''), 'Coach'))"
        "       ORDER BY ug.joined_at)"
        "     FROM user_groups ug JOIN users u ON u.id = ug.user_id"
        "     WHERE ug.group_id = c.group_id AND ug.role = 'coach'), '[]')"
        " FROM consents c JOIN groups g ON g.id = c.group_id"
        " WHERE c.athlete_id = %(athlete)s"
        "   AND (%(at)s::timestamptz IS NULL OR (c.granted_at, c.id) < (%(at)s, %(id)s))"
        " ORDER BY c.granted_at DESC, c.id DESC LIMIT %(limit)s",
        {"athlete": athlete_id, "limit": limit, **paging.after(before)})
    out = []
    for r in await cur.fetchall():
        coaches = msgspec.convert(r[8], list[CoachOut])
        out.append(msgspec.structs.replace(_consent(r[:7]), group_name=r[7], coaches=coaches))
    return out


async def access_of(conn: AsyncConnection, viewer_id: uuid.UUID, athlete_id: uuid.UUID) -> Access:
    """What the viewer, as a coach, may see of the athlete through consents."""
    cur = await conn.execute(
        "SELECT c.scope, c.history_from FROM consents c"
        " JOIN user_groups coach ON coach.group_id = c.group_id AND coach.role = 'coach'"
        " JOIN user_groups member ON member.group_id = c.group_id AND member.user_id = c.athlete_id"
        " WHERE c.athlete_id = %s AND c.withdrawn_at IS NULL AND coach.user_id = %s",
        (athlete_id, viewer_id))
    rows = await cur.fetchall()
    live = any(scope == "live" for scope, _ in rows)
    starts = [start for scope, start in rows if scope == "history"]
    if not starts:
        return Access(live=live)
    earliest = None if any(s is None for s in starts) else min(starts)
    return Access(live=live, history=True, history_from=earliest)


async def consenting(conn: AsyncConnection, group_id: uuid.UUID,
                     scope: Scope | None = "live") -> set[uuid.UUID]:
    """Members who currently consent to the group: with `scope` (by default: who let its
    coaches watch live), or with any consent when `scope` is None."""
    cur = await conn.execute(
        "SELECT DISTINCT c.athlete_id FROM consents c"
        " JOIN user_groups member ON member.group_id = c.group_id AND member.user_id = c.athlete_id"
        " WHERE c.group_id = %s AND c.withdrawn_at IS NULL AND (%s::text IS NULL OR c.scope = %s)",
        (group_id, scope, scope))
    return {r[0] for r in await cur.fetchall()}


async def _journal(conn: AsyncConnection, actor: uuid.UUID, athlete: uuid.UUID, consent: uuid.UUID,
                   group: uuid.UUID, action: str, scope: str, purpose: str) -> None:
    await conn.execute(
        "INSERT INTO consent_journal (actor_id, athlete_id, consent_id, group_id, action, scope,"
        " purpose, policy_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (actor, athlete, consent, group, action, scope, purpose, POLICY_VERSION))
