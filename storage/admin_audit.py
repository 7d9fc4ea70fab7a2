"""The admin audit (`admin_audit`): one append-only row per change made through the internal
gateway's admin API — who, what, on what, when, from where, and how it ended."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from storage import paging


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID
    action: str
    """The API operation, e.g. `lockUser`."""
    target: str
    """What it acted on: a user, session, group or model, as `kind:id`."""
    detail: dict[str, Any]
    address: str
    """The client address it came from (gateway/client_address.py)."""
    outcome: str
    """`ok`, or the code it was refused with after authorization."""


async def record(conn: AsyncConnection, *, actor_id: uuid.UUID, action: str, target: str,
                 address: str, detail: dict[str, Any] | None = None, outcome: str = "ok") -> None:
    await conn.execute(
        "INSERT INTO admin_audit (actor_id, action, target, detail, address, outcome)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (actor_id, action, target, Jsonb(detail or {}), address, outcome))


async def entries(conn: AsyncConnection, *, actor_id: uuid.UUID | None = None,
                  action: str | None = None, target: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  limit: int = 50, before: paging.Keyset | None = None) -> list[AuditEntry]:
    """Newest first; each filter narrows it when given."""
    cur = await conn.execute(
        "SELECT id, at, actor_id, action, target, detail, address, outcome FROM admin_audit"
        " WHERE (%(actor)s::uuid IS NULL OR actor_id = %(actor)s)"
        "   AND (%(action)s::text IS NULL OR action = %(action)s)"
        "   AND (%(target)s::text IS NULL OR target = %(target)s)"
        "   AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
        "   AND (%(until)s::timestamptz IS NULL OR at < %(until)s)"
        "   AND (%(at)s::timestamptz IS NULL OR (at, id) < (%(at)s, %(id)s))"
        " ORDER BY at DESC, id DESC LIMIT %(limit)s",
        {"actor": actor_id, "action": action, "target": target, "since": since, "until": until,
         "limit": limit, **paging.after(before)})
    return [AuditEntry(id=r[0], at=r[1], actor_id=r[2], action=r[3], target=r[4], detail=r[5],
                       address=r[6], outcome=r[7]) for r in await cur.fetchall()]
