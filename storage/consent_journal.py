"""An athlete's own consent journal (`consent_journal`, 0003): every grant and withdrawal of
their consents, who acted, for which purpose and under which policy version — newest first,
a page at a time (storage/paging.py). The journal has no foreign keys, so an entry outlives
the group it names; `group_name` is then None."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from storage import paging


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    action: str
    """`granted` or `withdrawn`."""
    scope: str
    consent_id: uuid.UUID | None
    group_id: uuid.UUID | None
    group_name: str | None
    """The group's name now; None once the group is gone."""
    actor_id: uuid.UUID | None
    """Who acted: you, a coach who removed you from the group, an admin; None: the system."""
    purpose: str
    policy_version: str


async def journal_of(conn: AsyncConnection, athlete_id: uuid.UUID, *, limit: int = 50,
                     before: paging.Keyset | None = None) -> list[JournalEntry]:
    """The athlete's entries, newest first, those before `before` (a page's last) only."""
    cur = await conn.execute(
        "SELECT j.id, j.at, j.action, j.scope, j.consent_id, j.group_id, g.name, j.actor_id,"
        "  j.purpose, j.policy_version"
        " FROM consent_journal j LEFT JOIN groups g ON g.id = j.group_id"
        " WHERE j.athlete_id = %(athlete)s"
        "   AND (%(at)s::timestamptz IS NULL OR (j.at, j.id) < (%(at)s, %(id)s))"
        " ORDER BY j.at DESC, j.id DESC LIMIT %(limit)s",
        {"athlete": athlete_id, "limit": limit, **paging.after(before)})
    return [JournalEntry(id=r[0], at=r[1], action=r[2], scope=r[3], consent_id=r[4],
                         group_id=r[5], group_name=r[6], actor_id=r[7], purpose=r[8],
                         policy_version=r[9])
            for r in await cur.fetchall()]
