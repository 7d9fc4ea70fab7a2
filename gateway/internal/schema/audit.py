"""The admin audit (admins): every change made through this API, who made it and from where."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.internal.paging import Page, convert, keyset, page
from gateway.internal.permissions import Admin, context_of
from storage import admin_audit


@strawberry.type(description="One change made through the internal API (or its refusal).")
class AuditEntry:
    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID
    action: str = strawberry.field(description="The mutation, e.g. `lockUser`.")
    target: str = strawberry.field(description="What it acted on, as `kind:id`.")
    detail: JSON
    address: str = strawberry.field(description="The client address it came from.")
    outcome: str = strawberry.field(description="`ok`, or the code it was refused with.")


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="The audit log, newest first; each argument narrows it.")
    async def audit_log(self, info: Info, actor_id: uuid.UUID | None = None,
                        action: str | None = None, target: str | None = None,
                        since: dt.datetime | None = None, until: dt.datetime | None = None,
                        limit: int = 50, cursor: str | None = None) -> Page[AuditEntry]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await admin_audit.entries(conn, actor_id=actor_id, action=action, target=target,
                                             since=since, until=until, limit=limit + 1,
                                             before=before)
        return page(rows, limit, lambda r: convert(AuditEntry, r))
